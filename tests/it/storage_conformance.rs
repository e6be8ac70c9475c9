//! One storage conformance suite, run against SQLite and PostgreSQL, each test in its own
//! fresh database: appends, de-duplication, version conflicts, gap-free positions under
//! concurrency, the read model, the audit log.

use crate::common;

use common::history::{any_triple, t};
use endocarp::domain::event::Triple;
use endocarp::domain::{Change, NewEvent};
use endocarp::engine::Index;
use endocarp::store::{AuditRecord, Store, StoreError};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::collections::{BTreeMap, BTreeSet};

fn event(id: &str, triple: &Triple) -> NewEvent {
    NewEvent::parse(id, triple, None, None, BTreeMap::new()).expect("valid")
}

async fn loaded(store: &Store) -> Index {
    let mut index = Index::default();
    let rev = store.load_read_model(|c: Change| index.apply(&c)).await.unwrap();
    index.set_revision(rev);
    index
}

fn audit() -> AuditRecord {
    AuditRecord {
        actor: "tester".into(),
        action: "Test".into(),
        correlation_id: "corr".into(),
    }
}

async fn appends_assign_positions_and_sequences(store: Store) {
    let a = t("Agent.RoleAssigned", "a", "a", "org:hasRole", "r1", &[]);
    let b = t("Agent.RoleAssigned", "b", "b", "org:hasRole", "r1", &[]);
    let out = store
        .append(vec![event("", &a), event("", &b), event("", &a)], Some(&audit()))
        .await
        .unwrap();
    assert_eq!(out.revision, 3);
    assert_eq!(out.appended, 3);
    assert_eq!(out.ids.len(), 3);
    let events = store.read_events(0, 10, None).await.unwrap();
    let got: Vec<(u64, &str, i64)> = events
        .iter()
        .map(|e| (e.position, e.triple.aggregate_id.as_str(), e.sequence_no))
        .collect();
    assert_eq!(got, vec![(1, "a", 1), (2, "b", 1), (3, "a", 2)]);
    assert_eq!(events[0].id, out.ids[0]);
    assert_eq!(store.head().await.unwrap(), 3);
    assert_eq!(store.read_events(1, 1, Some("a")).await.unwrap()[0].position, 3);
    let entries = store.list_audit(0, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].actor.as_str(), entries[0].revision), ("tester", 3));
    assert_eq!(entries[0].event_ids, out.ids);
}

async fn duplicates_are_skipped_and_conflicts_refused(store: Store) {
    let a = t("Agent.RoleAssigned", "a", "a", "org:hasRole", "r1", &[]);
    let b = t("Agent.RoleAssigned", "a", "a", "org:hasRole", "r2", &[]);
    store.append(vec![event("x", &a)], None).await.unwrap();
    store.append(vec![event("y", &b)], None).await.unwrap();
    // The same content again: skipped, answered with the revision it was stored at.
    let again = store.append(vec![event("x", &a)], Some(&audit())).await.unwrap();
    assert_eq!((again.revision, again.appended), (1, 0));
    assert!(
        store.list_audit(0, 10).await.unwrap().is_empty(),
        "a retry is not audited again"
    );
    // Same id, different content.
    assert!(matches!(
        store.append(vec![event("x", &b)], None).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    // A version conflict, after de-duplication, sinks the whole batch.
    let mut c = event("z", &b);
    c.expected_version = Some(1);
    let fresh = event("w", &t("Agent.RoleAssigned", "q", "q", "org:hasRole", "r1", &[]));
    assert!(matches!(
        store.append(vec![fresh, event("x", &a), c], None).await,
        Err(StoreError::VersionConflict { actual: 2, .. })
    ));
    assert_eq!(store.head().await.unwrap(), 2);
    let mut ok = event("z", &b);
    ok.expected_version = Some(2);
    assert_eq!(store.append(vec![ok], None).await.unwrap().revision, 3);
}

async fn the_read_model_equals_replaying_the_log(store: Store) {
    let mut runner = TestRunner::deterministic();
    let history = proptest::collection::vec(any_triple(), 200)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let mut replay = Index::default();
    for chunk in history.chunks(7) {
        let events: Vec<NewEvent> = chunk.iter().map(|t| event("", t)).collect();
        for e in &events {
            replay.apply(&e.change);
        }
        store.append(events, None).await.unwrap();
    }
    replay.set_revision(200);
    assert_eq!(loaded(&store).await, replay);
    // The lists page through the same facts.
    let mut rules = Vec::new();
    let mut after: [String; 6] = Default::default();
    loop {
        let page = store.list_rules("", "", &after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        let l = page.last().unwrap();
        after = [
            l.policy.clone(),
            l.kind.clone(),
            l.assignee.clone(),
            l.action.clone(),
            l.target.clone(),
            l.condition.clone(),
        ];
        rules.extend(page);
    }
    assert_eq!(rules.len(), replay.stats().rules);
}

async fn concurrent_appends_get_gap_free_ordered_positions(store: Store) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..15 {
                let agent = format!("w{w}-{i}");
                let batch: Vec<NewEvent> = (0..3)
                    .map(|k| {
                        event(
                            "",
                            &t(
                                "Agent.RoleAssigned",
                                &agent,
                                &agent,
                                "org:hasRole",
                                &format!("r{k}"),
                                &[],
                            ),
                        )
                    })
                    .collect();
                revisions.push(store.append(batch, None).await.unwrap().revision);
            }
            revisions
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        for r in task.await.unwrap() {
            assert!(all.insert(r), "two batches acknowledged at one revision");
        }
    }
    let events = store.read_events(0, 1000, None).await.unwrap();
    assert_eq!(events.len(), 8 * 15 * 3);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1, "positions have no gaps");
    }
    // Each batch is contiguous and ends at its acknowledged revision.
    for r in all {
        let batch = &events[(r as usize - 3)..(r as usize)];
        assert!(
            batch
                .iter()
                .all(|e| e.triple.aggregate_id == batch[0].triple.aggregate_id)
        );
    }
}

async fn the_audit_log_is_append_only(store: Store, url: &str) {
    let a = t("Agent.RoleAssigned", "a", "a", "org:hasRole", "r1", &[]);
    store.append(vec![event("", &a)], Some(&audit())).await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    for sql in ["UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"] {
        let err = sqlx::query(sql)
            .execute(&pool)
            .await
            .expect_err("audit rows cannot change");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    pool.close().await;
}

/// The rows a store written before policy types had (migrations 1 and 2): two Offers (one
/// typed Set first, one typed Offer then Agreement), a policy with no type, and a rule in
/// the first Offer.
const BEFORE_POLICY_TYPES: &[&str] = &[
    "INSERT INTO events (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content) VALUES \
     (1, 'e1', 'Policy', 'offer', 1, 'Policy.Created', '', '', '', '{\"policy_type\":\"http://www.w3.org/ns/odrl/2/Set\"}', '2026-01-01T00:00:00Z', '{}', 'c1'), \
     (2, 'e2', 'Policy', 'offer', 2, 'Policy.Created', '', '', '', '{\"policy_type\":\"http://www.w3.org/ns/odrl/2/Offer\"}', '2026-01-01T00:00:00Z', '{}', 'c2'), \
     (3, 'e3', 'Policy', 'offer', 3, 'Policy.PermissionGranted', 'a', 'odrl:permission', 'r1', '{\"action\":\"http://www.w3.org/ns/odrl/2/read\"}', '2026-01-01T00:00:00Z', '{}', 'c3'), \
     (4, 'e4', 'Policy', 'plain', 1, 'Policy.Created', '', '', '', '{}', '2026-01-01T00:00:00Z', '{}', 'c4'), \
     (5, 'e5', 'Policy', 'agreed', 1, 'Policy.Created', '', '', '', '{\"policy_type\":\"http://www.w3.org/ns/odrl/2/Offer\"}', '2026-01-01T00:00:00Z', '{}', 'c5'), \
     (6, 'e6', 'Policy', 'agreed', 2, 'Policy.Created', '', '', '', '{\"policy_type\":\"http://www.w3.org/ns/odrl/2/Agreement\"}', '2026-01-01T00:00:00Z', '{}', 'c6'), \
     (7, 'e7', 'Policy', 'agreed', 3, 'Policy.Created', '', '', '', '{}', '2026-01-01T00:00:00Z', '{}', 'c7'), \
     (8, 'e8', 'Policy', 'music', 1, 'Policy.DutyDischarged', 'ann', 'odrl:duty', 'pay-1', '{}', '2026-01-01T00:00:00Z', '{}', 'c8'), \
     (9, 'e9', 'Policy', 'music', 2, 'Policy.DutyDischarged', 'bob', 'odrl:obligation', 'pay-1', '{}', '2026-01-01T00:00:00Z', '{}', 'c9'), \
     (10, 'e10', 'Policy', 'music', 3, 'Policy.DutyImposed', 'cy', 'odrl:duty', 'pay-1', '{}', '2026-01-01T00:00:00Z', '{}', 'c10'), \
     (11, 'e11', 'Policy', 'music', 4, 'Policy.DutyDischarged', 'dee', 'http://www.w3.org/ns/odrl/2/duty', 'pay-2', '{}', '2026-01-01T00:00:00Z', '{}', 'c11')",
    "INSERT INTO rules (policy, kind, assignee, action, target) VALUES ('offer', 'permission', 'a', 'http://www.w3.org/ns/odrl/2/read', 'r1')",
    "INSERT INTO statuses (kind, id, active) VALUES ('policy', 'offer', 1), ('policy', 'plain', 1), ('policy', 'agreed', 1)",
];

/// A store written before policy types migrates with the types its log holds: the Offer's
/// permission stops counting, and each policy has the type of its latest typed
/// `Policy.Created`.
async fn policy_types_migrate_from_the_log(store: &Store) {
    let index = loaded(store).await;
    let odrl = |t: &str| format!("http://www.w3.org/ns/odrl/2/{t}");
    assert_eq!(index.policy_type("offer"), Some(odrl("Offer").as_str()));
    assert_eq!(index.policy_type("agreed"), Some(odrl("Agreement").as_str()));
    assert_eq!(index.policy_type("plain"), None);
    assert!(!index.rule_counts("offer", endocarp::domain::RuleKind::Permission));
    // Migration 0006 copies the discharges that name a duty, as a replay reads them.
    let discharges: Vec<String> = index
        .facts()
        .into_iter()
        .filter_map(|f| match f {
            endocarp::domain::Change::DutyDischarged { policy, duty, agent } => {
                Some(format!("{policy}/{duty}/{agent}"))
            }
            _ => None,
        })
        .collect();
    assert_eq!(discharges.len(), 2, "{discharges:?}");
    assert!(discharges.contains(&"music/pay-1/ann".to_string()), "{discharges:?}");
    assert!(discharges.contains(&"music/pay-2/dee".to_string()), "{discharges:?}");
    let rules = store.list_rules("", "", &Default::default(), 10).await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].policy_type, odrl("Offer"));
    // New writes keep the table: a typed Created replaces, an untyped one keeps.
    let created = |p: &str, ty: &str| {
        let kv: Vec<(&str, &str)> = if ty.is_empty() {
            vec![]
        } else {
            vec![("policy_type", ty)]
        };
        event("", &t("Policy.Created", p, "", "", "", &kv))
    };
    store
        .append(
            vec![
                created("offer", "odrl:Set"),
                created("plain", "odrl:Request"),
                created("agreed", ""),
            ],
            None,
        )
        .await
        .unwrap();
    let index = loaded(store).await;
    assert_eq!(index.policy_type("offer"), Some(odrl("Set").as_str()));
    assert_eq!(index.policy_type("plain"), Some(odrl("Request").as_str()));
    assert_eq!(index.policy_type("agreed"), Some(odrl("Agreement").as_str()));
    assert!(index.rule_counts("offer", endocarp::domain::RuleKind::Permission));
}

/// Creates the schema of migrations 1 and 2 in the database at `$url` with the pool type
/// `$pool`, and writes [`BEFORE_POLICY_TYPES`] into it.
macro_rules! store_before_policy_types {
    ($pool:ty, $options:expr, $migrations:literal) => {{
        let pool = <$pool>::connect_with($options).await.unwrap();
        // sqlx's own reading of the directory (what its `migrate!` macro embeds): the
        // service's embedded migrations must then accept what it applied.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join($migrations);
        let mut old = sqlx::migrate::Migrator::new(dir).await.unwrap();
        old.migrations = std::borrow::Cow::Owned(old.migrations.iter().filter(|m| m.version < 3).cloned().collect());
        old.run(&pool).await.unwrap();
        for sql in BEFORE_POLICY_TYPES {
            sqlx::query(sqlx::AssertSqlSafe(*sql)).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_policy_types_migrate_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let options = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .create_if_missing(true);
    store_before_policy_types!(sqlx::SqlitePool, options, "migrations/sqlite");
    let store = Store::connect(&url, true).await.unwrap();
    store.migrate().await.unwrap();
    policy_types_migrate_from_the_log(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_policy_types_migrate_from_the_log() {
    let Some(url) = common::pg::fresh_database().await else {
        return;
    };
    let options = url.parse::<sqlx::postgres::PgConnectOptions>().unwrap();
    store_before_policy_types!(sqlx::PgPool, options, "migrations/postgres");
    let store = Store::connect(&url, true).await.unwrap();
    store.migrate().await.unwrap();
    policy_types_migrate_from_the_log(&store).await;
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite://{}", dir.path().join("c.db").display());
                    let store = endocarp::store::Store::connect(&url, true).await.unwrap();
                    store.migrate().await.unwrap();
                    super::run_one(stringify!($name), store, &url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(url) = super::common::pg::fresh_database().await else { return };
                    let store = endocarp::store::Store::connect(&url, true).await.unwrap();
                    store.migrate().await.unwrap();
                    store.migrate().await.unwrap();
                    super::run_one(stringify!($name), store, &url).await;
                }
            )*
        }
    };
}

/// A rule whose condition is far longer than a PostgreSQL B-tree entry (about 2.7 KB; the
/// SolidLab suite has a 60 KB one) is stored, kept apart from the same rule under another
/// long condition, read back and revoked (migration 0007 keys conditions by digest).
async fn long_conditions_are_stored_and_revoked(store: Store) {
    // Incompressible: distinct pseudo-random words, so no page compression hides the size.
    let words = |seed: u64| -> String {
        let mut x = seed;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let items: Vec<String> = (0..250)
            .map(|_| format!("\"{:016x}{:016x}{:016x}\"", next(), next(), next()))
            .collect();
        format!(
            r#"{{"leftOperand":"odrl:purpose","operator":"odrl:isAnyOf","rightOperand":[{}]}}"#,
            items.join(",")
        )
    };
    let (c1, c2) = (words(7), words(11));
    assert!(c1.len() > 12_000, "{}", c1.len());
    let grant = |on: bool, c: &str| {
        let ty = if on {
            "Policy.PermissionGranted"
        } else {
            "Policy.PermissionRevoked"
        };
        t(
            ty,
            "p",
            "a",
            "odrl:permission",
            "x",
            &[("action", "odrl:read"), ("constraint", c)],
        )
    };
    store
        .append(
            vec![
                event("", &grant(true, &c1)),
                event("", &grant(true, &c2)),
                event("", &grant(true, &c1)),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        loaded(&store).await.stats().rules,
        2,
        "two conditions, two rules; a repeat is one"
    );
    store.append(vec![event("", &grant(false, &c1))], None).await.unwrap();
    let index = loaded(&store).await;
    assert_eq!(index.stats().rules, 1);
    let rows = store.list_rules("", "", &Default::default(), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].condition.contains("odrl:isAnyOf") && rows[0].condition.len() > 12_000);
}

/// Names that JSON escapes (quotes, backslashes) or that are not ASCII are read back whole
/// by start-up's load (SQLite's pages are JSON; their text is borrowed where it has no
/// escapes and copied where it has), into an index loaded in bulk as start-up loads it.
async fn names_with_escapes_load_whole(store: Store) {
    let (agent, role, boss) = ("a\"quoted\"", "r\\back\\slash", "chef/ü-名前-🦀");
    let (policy, target, other) = ("p\"1\\", "doc\\\"é\"", "t?&<>'x");
    let history = [
        t("Agent.RoleAssigned", agent, agent, "org:hasRole", role, &[]),
        t("Role.RoleAssigned", role, role, "org:hasRole", boss, &[]),
        t("Agent.GroupMembershipAdded", agent, agent, "foaf:member", boss, &[]),
        common::history::permission(true, policy, boss, "odrl:read", target),
        common::history::permission(true, policy, role, "odrl:modify", other),
        common::history::prohibition(true, policy, agent, "odrl:read", target),
    ];
    let mut replay = Index::default();
    let events: Vec<NewEvent> = history.iter().map(|t| event("", t)).collect();
    for e in &events {
        replay.apply(&e.change);
    }
    replay.set_revision(events.len() as u64);
    store.append(events, None).await.unwrap();
    let mut bulk = Index::default();
    bulk.begin_bulk();
    let rev = store.load_read_model(|c: Change| bulk.apply(&c)).await.unwrap();
    bulk.end_bulk();
    bulk.set_revision(rev);
    bulk.validate().unwrap();
    assert_eq!(bulk, replay);
    let facts = format!("{:?}", bulk.facts());
    for name in [agent, role, boss, policy, target, other] {
        assert!(
            facts.contains(&format!("{name:?}")),
            "{name:?} not loaded whole: {facts}"
        );
    }
}

/// What an append returns as stored is exactly what a read of the log returns for the
/// same positions (the writer applies it without reading it back): ids, triples, payloads,
/// metadata, timestamps (stored to the microsecond), sequences. Duplicates are left out.
/// The names hold what an array literal or a VALUES list treats specially (quotes,
/// backslashes, braces, commas, `NULL`, blanks, the empty string), and de-duplication of
/// them still finds them stored.
async fn an_append_returns_what_a_read_returns(store: Store) {
    let names = ["{a,b}", "NULL", " spaced ", "q\"u\\o", "名前🦀", "x}", "{"];
    let mut events = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let mut metadata = BTreeMap::new();
        metadata.insert("k\"".to_string(), (*name).to_string());
        metadata.insert("empty".to_string(), String::new());
        let at = chrono::DateTime::from_timestamp(1_700_000_000 + n as i64, 123_456_789).unwrap();
        let id = format!("id-{name}");
        let triple = t(
            "Agent.RoleAssigned",
            name,
            name,
            "org:hasRole",
            names[(n + 1) % names.len()],
            &[],
        );
        events.push(NewEvent::parse(&id, &triple, Some(at), None, metadata).expect("valid"));
    }
    events.push(event(
        "{}",
        &t("Role.RoleAssigned", "NULL", "NULL", "org:hasRole", "{a,b}", &[]),
    ));
    let first = store.append(events.clone(), None).await.unwrap();
    assert_eq!(first.appended, events.len());
    assert_eq!(first.stored, store.read_events(0, 100, None).await.unwrap());
    assert_eq!(first.stored[0].timestamp.timestamp_subsec_nanos(), 123_456_000);

    // The same events again with one new one between them: only the new one is stored.
    // An event without an id is a new event every time: its generated id is not looked up.
    let fresh = event("", &t("Agent.RoleAssigned", "z", "z", "org:hasRole", "NULL", &[]));
    let mut again = events[..3].to_vec();
    again.push(fresh);
    again.extend(events[3..].iter().cloned());
    let second = store.append(again, None).await.unwrap();
    assert_eq!(second.appended, 1);
    assert_eq!(second.revision, events.len() as u64 + 1);
    assert_eq!(
        second.stored,
        store.read_events(events.len() as u64, 100, None).await.unwrap()
    );
    assert_eq!(second.stored[0].id, second.ids[3]);
    assert_eq!(second.stored[0].triple.aggregate_id, "z");
    let mut replay = Index::default();
    for e in &events {
        replay.apply(&e.change);
    }
    replay.apply(&second.stored[0].change().unwrap());
    replay.set_revision(second.revision);
    assert_eq!(loaded(&store).await, replay);
}

/// A batch of many revocations (more than one statement's worth of keys) says, for each
/// edge, which facts still hold it after the batch, as a revoke alone would: global
/// sources, the account's explicit edge, then the member role.
async fn revokes_in_one_batch_say_what_still_holds_each(store: Store) {
    use common::history::account_edge;
    let n = 450;
    let agent = |i: usize| format!("a{i:03}");
    let mut grants = Vec::new();
    for i in 0..n {
        let a = agent(i);
        grants.push(t("Agent.RoleAssigned", &a, &a, "org:hasRole", "r", &[]));
        grants.push(account_edge(true, "acme", &a, "r"));
        if i % 2 == 0 {
            grants.push(t("Agent.GroupMembershipAdded", &a, &a, "foaf:member", "r", &[]));
        }
        if i % 3 == 0 {
            grants.push(t(
                "Account.MemberAdded",
                "acme",
                "acme",
                "org:hasMember",
                &a,
                &[("role", "r")],
            ));
        }
    }
    let grants: Vec<NewEvent> = grants.iter().map(|g| event("", g)).collect();
    store.append(grants, None).await.unwrap();
    let mut revokes = Vec::new();
    for i in (0..n).rev() {
        let a = agent(i);
        revokes.push(t("Agent.RoleRevoked", &a, &a, "org:hadRole", "r", &[]));
        revokes.push(account_edge(false, "acme", &a, "r"));
    }
    let revokes: Vec<NewEvent> = revokes.iter().map(|r| event("", r)).collect();
    let out = store.append(revokes, None).await.unwrap();
    let mut expected = Vec::new();
    for account in ["", "acme"] {
        for i in 0..n {
            let mut sources = Vec::new();
            if i % 2 == 0 {
                sources.push("group".to_string());
            }
            if !account.is_empty() && i % 3 == 0 {
                sources.push("membership".to_string());
            }
            if !sources.is_empty() {
                expected.push((account.to_string(), agent(i), "r".to_string(), sources));
            }
        }
    }
    let got: Vec<_> = out
        .still_held
        .iter()
        .map(|h| (h.account.clone(), h.node.clone(), h.role.clone(), h.sources.clone()))
        .collect();
    assert_eq!(got, expected);
}

async fn run_one(name: &str, store: Store, url: &str) {
    match name {
        "appends_assign_positions_and_sequences" => appends_assign_positions_and_sequences(store).await,
        "duplicates_are_skipped_and_conflicts_refused" => duplicates_are_skipped_and_conflicts_refused(store).await,
        "the_read_model_equals_replaying_the_log" => the_read_model_equals_replaying_the_log(store).await,
        "concurrent_appends_get_gap_free_ordered_positions" => {
            concurrent_appends_get_gap_free_ordered_positions(store).await
        }
        "the_audit_log_is_append_only" => the_audit_log_is_append_only(store, url).await,
        "long_conditions_are_stored_and_revoked" => long_conditions_are_stored_and_revoked(store).await,
        "names_with_escapes_load_whole" => names_with_escapes_load_whole(store).await,
        "an_append_returns_what_a_read_returns" => an_append_returns_what_a_read_returns(store).await,
        "revokes_in_one_batch_say_what_still_holds_each" => revokes_in_one_batch_say_what_still_holds_each(store).await,
        other => panic!("no conformance test {other}"),
    }
}

conformance!(
    appends_assign_positions_and_sequences,
    duplicates_are_skipped_and_conflicts_refused,
    the_read_model_equals_replaying_the_log,
    concurrent_appends_get_gap_free_ordered_positions,
    the_audit_log_is_append_only,
    long_conditions_are_stored_and_revoked,
    names_with_escapes_load_whole,
    an_append_returns_what_a_read_returns,
    revokes_in_one_batch_say_what_still_holds_each,
);
