//! The `*` groups' own tests: the best permission after a listing of prohibitions, and
//! only the rules that count counted.

use super::*;
use crate::domain::{Action, Change, EntityKind, Id};
use crate::engine::explained::Hits;
use crate::engine::index::action_kind;

/// A request for `odrl:read` (hierarchy on), and its prohibitions' and permissions'
/// action-and-kind words.
fn reading(index: &Index) -> (Wanted, u32, u32) {
    let read = index
        .action_id(&Action::parse("action", "odrl:read").expect("an action"))
        .expect("a vocabulary action");
    (
        Wanted::new(read, true),
        action_kind(read, RuleKind::Prohibition),
        action_kind(read, RuleKind::Permission),
    )
}

#[test]
fn the_groups_best_permission_follows_a_listing_of_prohibitions() {
    let mut index = Index::default();
    for name in ["policy-b", "policy-a"] {
        index.apply(&Change::PolicyCreated {
            policy: Id::from_trusted(name),
            policy_type: None,
            conflict: None,
        });
    }
    let (b, a) = (0, 1);
    let (wanted, prohibition, permission) = reading(&index);
    // A role's rules on `*`, runs of one action and kind, each by policy label.
    let rules = [Pair(prohibition, a), Pair(permission, a), Pair(permission, b)];
    let mut stars = Stars::with_capacity(&index, 0);
    let mut unenforced = Vec::new();
    stars.add(&index, &rules, (7, 70), &wanted, &mut unenforced);
    assert_eq!(stars.total(), 3);
    assert!(unenforced.is_empty());
    let cmp = |x: &Hit, y: &Hit| ranking::prefix(x).cmp(&ranking::prefix(y));
    // Listing one: the prohibition, and behind it only the best permission.
    let (ranked, ordered) = stars.rank_with(&index, Vec::new(), 1, cmp);
    let got: Vec<(RuleKind, u32)> = ranked.iter().map(|h| (h.kind, h.policy)).collect();
    assert_eq!(got, [(RuleKind::Prohibition, a), (RuleKind::Permission, a)]);
    assert_eq!(ordered, 1);
    let hits = Hits {
        ranked,
        ordered,
        total: 3,
        unenforced: Vec::new(),
        conditions: Vec::new(),
    };
    let best: Vec<(RuleKind, u32)> = hits.best(&index).iter().map(|h| (h.kind, h.policy)).collect();
    assert_eq!(best, [(RuleKind::Prohibition, a), (RuleKind::Permission, a)]);
    // Listing all: every rule, in order.
    let (ranked, ordered) = stars.rank_with(&index, Vec::new(), 10, cmp);
    let got: Vec<(RuleKind, u32)> = ranked.iter().map(|h| (h.kind, h.policy)).collect();
    assert_eq!(
        got,
        [
            (RuleKind::Prohibition, a),
            (RuleKind::Permission, a),
            (RuleKind::Permission, b)
        ]
    );
    assert_eq!(ordered, 3);
}

#[test]
fn only_the_rules_that_count_are_counted_and_the_inert_types_set_aside() {
    let mut index = Index::default();
    let types = [
        ("policy-a", None),
        ("policy-d", None),
        ("policy-o", Some("http://www.w3.org/ns/odrl/2/Offer")),
        ("policy-u", Some("http://example.com/NotAType")),
    ];
    for (name, policy_type) in types {
        index.apply(&Change::PolicyCreated {
            policy: Id::from_trusted(name),
            policy_type: policy_type.map(str::to_string),
            conflict: None,
        });
    }
    index.apply(&Change::Status {
        kind: EntityKind::Policy,
        id: Id::from_trusted("policy-d"),
        active: false,
    });
    assert!(!index.every_rule_counts());
    let (a, d, o, u) = (0, 1, 2, 3);
    let (wanted, prohibition, permission) = reading(&index);
    // Labels in name order: a, d, o, u.
    let rules = [
        Pair(prohibition, u),
        Pair(permission, a),
        Pair(permission, d),
        Pair(permission, o),
        Pair(permission, u),
    ];
    let mut stars = Stars::with_capacity(&index, 0);
    let mut unenforced = Vec::new();
    stars.add(&index, &rules, (7, 70), &wanted, &mut unenforced);
    // The unknown type's prohibition and the Set's permission count; the deactivated
    // policy's rule is left out; the Offer's and the unknown type's permissions are
    // listed as not enforced.
    assert_eq!(stars.total(), 2);
    let left_out: Vec<(RuleKind, u32)> = unenforced.iter().map(|h| (h.kind, h.policy)).collect();
    assert_eq!(left_out, [(RuleKind::Permission, o), (RuleKind::Permission, u)]);
    let cmp = |x: &Hit, y: &Hit| ranking::prefix(x).cmp(&ranking::prefix(y));
    for keep in [1, 2, 10] {
        let (ranked, _) = stars.rank_with(&index, Vec::new(), keep, cmp);
        let got: Vec<(RuleKind, u32)> = ranked.iter().map(|h| (h.kind, h.policy)).collect();
        assert_eq!(
            got,
            [(RuleKind::Prohibition, u), (RuleKind::Permission, a)],
            "keeping {keep}"
        );
    }
    let mut all = Vec::new();
    stars.all_hits(&index, &mut all);
    let got: Vec<u32> = all.iter().map(|h| h.policy).collect();
    assert_eq!(got, [u, a]);
}
