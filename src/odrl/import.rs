//! An ODRL graph → Endocarp triple events (docs/CONTRACT.md §9, "ODRL documents").
//!
//! - Every node typed with an ODRL policy type (or holding `permission`, `prohibition` or
//!   `obligation`) is a policy; its id is its `uid` (or its IRI). It becomes one
//!   `Policy.Created` carrying its type and `conflict`.
//! - `inheritFrom` is resolved inside the graph (cycles and parents missing from it are
//!   refused): the child takes the parents' policy-level parties, assets, actions,
//!   conflict values and rules.
//! - Compact policies are expanded (a rule without an assignee, action or target takes the
//!   policy's), composite rules are split into atomic ones (assignees × actions ×
//!   targets), and each atomic rule becomes one `Policy.PermissionGranted` or
//!   `Policy.ProhibitionSet` with its constraints, the action's refinements and its
//!   duties (remedies on prohibitions) as the canonical JSON attributes.
//! - `X odrl:partOf C` for a party collection C becomes a group membership (a party
//!   collection is a group), and of an asset collection `Asset.AddedToCollection`; a
//!   collection's refinement is refused.
//! - A party or asset is the Endocarp id of its full IRI. Blank nodes cannot be named
//!   by later events, so they are refused where an id is needed.
//!
//! Anything that would be read more widely than the document says is refused; anything
//! left out (obligations, consequences, a duty action's refinement) is reported in
//! [`Imported::notes`].

mod graph;
mod json;

use crate::domain::event::Triple;
use crate::domain::{Action, DomainError, Id};
use graph::{Kind, ODRL, Parts, Reader, action_of, bad, name, odrl, party_id, refinements_of, subject};
use json::{constraints_json, duty_json};
use oxrdf::vocab::rdf;
use oxrdf::{Graph, NamedOrBlankNodeRef, TermRef};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The policy types of ODRL 2.2.
const POLICY_TYPES: [&str; 8] = [
    "Policy",
    "Set",
    "Offer",
    "Agreement",
    "Request",
    "Privacy",
    "Assertion",
    "Ticket",
];

/// How to read what ODRL 2.2 requires and a document leaves out.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A rule without a target covers every target (`*`), and one without an action covers
    /// `odrl:use` and `odrl:transfer` (every ODRL action; custom actions are not covered).
    /// Off: such a rule is refused.
    pub wildcards: bool,
    /// The role a rule without an assignee is granted to (the operator assigns every agent
    /// to it). None: such a rule is refused.
    pub anyone: Option<String>,
}

/// What a graph turned into.
#[derive(Debug, Default)]
pub struct Imported {
    /// The events, in order: policies, memberships, rules.
    pub events: Vec<Triple>,
    /// The policy ids, sorted.
    pub policies: Vec<String>,
    /// Atomic rules written.
    pub rules: usize,
    /// What was stored or left out without changing a decision, one line each.
    pub notes: Vec<String>,
}

/// One policy, resolved.
struct Policy<'g> {
    node: NamedOrBlankNodeRef<'g>,
    id: String,
    policy_type: Option<String>,
    parts: Parts<'g>,
}

/// Turns a graph into triple events (see the module docs).
pub fn import(g: &Graph, opts: &Options) -> Result<Imported, DomainError> {
    let r = Reader { g };
    let mut out = Imported::default();
    // The policies: typed with an ODRL policy type, or holding rules.
    let mut nodes: BTreeMap<String, NamedOrBlankNodeRef<'_>> = BTreeMap::new();
    for ty in POLICY_TYPES {
        for s in g.subjects_for_predicate_object(rdf::TYPE, &odrl(ty)) {
            nodes.insert(name(s.into()), s);
        }
    }
    for p in ["permission", "prohibition", "obligation"] {
        for t in g.triples_for_predicate(&odrl(p)) {
            nodes.insert(name(t.subject.into()), t.subject);
        }
    }
    let mut policies: Vec<Policy<'_>> = Vec::new();
    let mut ids = BTreeSet::new();
    for node in nodes.values().copied() {
        let id = r.policy_id(node)?;
        if !ids.insert(id.clone()) {
            return Err(bad("policy.uid", format!("two policies have the uid {id}")));
        }
        let types: BTreeSet<&str> = POLICY_TYPES.into_iter().filter(|t| r.has_type(node, t)).collect();
        let policy_type = match types.len() {
            0 => None,
            1 => types.first().map(|t| format!("{ODRL}{t}")),
            _ => {
                return Err(bad(
                    format!("policy {id}"),
                    format!(
                        "has more than one policy type ({})",
                        types.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        };
        if !r.objects(node, "obligation").is_empty() {
            out.notes.push(format!(
                "policy {id}: its obligations are not imported (an obligation neither grants nor denies)"
            ));
        }
        policies.push(Policy {
            node,
            id,
            policy_type,
            parts: r.parts(node)?,
        });
    }
    // Inheritance, inside the graph.
    let by_node: BTreeMap<String, usize> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| (name(p.node.into()), i))
        .collect();
    let mut resolved = Vec::with_capacity(policies.len());
    for i in 0..policies.len() {
        let mut parts = policies[i].parts.clone();
        let mut seen = BTreeSet::from([i]);
        inherit(&r, &policies, &by_node, i, &mut parts, &mut seen)?;
        resolved.push(parts);
    }
    let mut collections = Collections::default();
    let mut rules: Vec<Triple> = Vec::new();
    for (p, parts) in policies.iter().zip(&resolved) {
        if let Some(by) = r.replaced_by(p.node) {
            out.notes.push(format!(
                "policy {}: not imported, it is replaced by {by} (dct:isReplacedBy: ODRL makes it void)",
                p.id
            ));
            continue;
        }
        let conflict = match parts.conflicts.len() {
            0 => None,
            1 => parts.conflicts.first().cloned(),
            _ => {
                return Err(bad(
                    format!("policy {}", p.id),
                    format!(
                        "has several conflict strategies ({}) through inheritance; ODRL makes such a policy void",
                        parts.conflicts.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        };
        let mut kv: Vec<(&str, &str)> = Vec::new();
        if let Some(t) = &p.policy_type {
            kv.push(("policy_type", t));
        }
        if let Some(c) = &conflict {
            kv.push(("conflict", c));
        }
        out.events.push(Triple::new("Policy.Created", &p.id, "", "", "", &kv));
        let mut emitted = BTreeSet::new();
        for (kind, rule) in &parts.rules {
            for t in atomic_rules(&r, p, parts, *kind, *rule, opts, &mut collections, &mut out.notes)? {
                if emitted.insert(t.content()) {
                    rules.push(t);
                }
            }
        }
        out.policies.push(p.id.clone());
    }
    out.policies.sort();
    // Membership: `X odrl:partOf C`.
    for t in g.triples_for_predicate(&odrl("partOf")) {
        let member = TermRef::from(t.subject);
        let collection = t.object;
        let c = party_id(&r, collection, "partOf")?;
        let is_party = r.has_party_type(collection) || collections.parties.contains(&c);
        let is_asset = subject(collection).is_some_and(|s| r.has_type(s, "AssetCollection"))
            || collections.assets.contains(&c)
            || subject(member).is_some_and(|s| r.has_type(s, "Asset"));
        match (is_party, is_asset) {
            (true, false) => {
                let m = party_id(&r, member, "partOf")?;
                let ty = if collections.parties.contains(&m) || r.has_party_type(member) {
                    // A collection inside a collection: a role-to-role edge.
                    ("Role.RoleAssigned", "org:hasRole")
                } else {
                    ("Agent.GroupMembershipAdded", "foaf:member")
                };
                out.events.push(Triple::new(ty.0, &m, &m, ty.1, &c, &[]));
            }
            (false, true) => {
                let m = party_id(&r, member, "partOf")?;
                out.events
                    .push(Triple::new("Asset.AddedToCollection", &m, &m, "odrl:partOf", &c, &[]));
            }
            _ => {
                return Err(bad(
                    "partOf",
                    format!(
                        "cannot tell whether {c} is a party or an asset collection: type it odrl:PartyCollection or \
                         odrl:AssetCollection"
                    ),
                ));
            }
        }
    }
    out.rules = rules.len();
    out.events.extend(rules);
    Ok(out)
}

fn inherit<'g>(
    r: &Reader<'g>,
    policies: &[Policy<'g>],
    by_node: &BTreeMap<String, usize>,
    i: usize,
    into: &mut Parts<'g>,
    seen: &mut BTreeSet<usize>,
) -> Result<(), DomainError> {
    for parent in r.objects(policies[i].node, "inheritFrom") {
        // A parent is named by its node or by its uid.
        let found = by_node
            .get(&name(parent))
            .copied()
            .or_else(|| policies.iter().position(|p| p.id == name(parent)));
        let Some(j) = found else {
            return Err(bad(
                format!("policy {}", policies[i].id),
                format!("inherits from {}, which is not in the document", name(parent)),
            ));
        };
        if !seen.insert(j) {
            return Err(bad(
                format!("policy {}", policies[i].id),
                format!("inheritFrom forms a cycle through {}", policies[j].id),
            ));
        }
        let p = &policies[j].parts;
        into.assignees.extend(p.assignees.iter().copied());
        into.actions.extend(p.actions.iter().copied());
        into.targets.extend(p.targets.iter().copied());
        into.conflicts.extend(p.conflicts.iter().cloned());
        into.rules.extend(p.rules.iter().copied());
        inherit(r, policies, by_node, j, into, seen)?;
        seen.remove(&j);
    }
    Ok(())
}

/// Collections seen as parties or assets of rules.
#[derive(Default)]
struct Collections {
    parties: BTreeSet<String>,
    assets: BTreeSet<String>,
}

#[allow(clippy::too_many_arguments)]
fn atomic_rules<'g>(
    r: &Reader<'g>,
    p: &Policy<'g>,
    parts: &Parts<'g>,
    kind: Kind,
    rule: TermRef<'g>,
    opts: &Options,
    collections: &mut Collections,
    notes: &mut Vec<String>,
) -> Result<Vec<Triple>, DomainError> {
    let rule_name = name(rule);
    let at = |e: DomainError| e.within(&format!("policy {} rule {rule_name}", p.id));
    let Some(s) = subject(rule) else {
        return Err(at(bad("rule", "is a literal, not a rule node")));
    };
    let or_policy = |own: Vec<TermRef<'g>>, policy: &[TermRef<'g>]| if own.is_empty() { policy.to_vec() } else { own };
    let assignees = or_policy(r.objects(s, "assignee"), &parts.assignees);
    let actions = or_policy(r.objects(s, "action"), &parts.actions);
    let targets = or_policy(r.objects(s, "target"), &parts.targets);
    // Each party and asset with the refinements of its collection (if any), which become
    // constraints of every rule on it: the rule covers the members the request's context
    // says satisfy them (fail closed, as any constraint).
    let assignees: Vec<(String, Vec<TermRef<'g>>)> = if assignees.is_empty() {
        match &opts.anyone {
            Some(role) => vec![(Id::parse("anyone", role).map_err(at)?.to_string(), vec![])],
            None => {
                return Err(at(bad(
                    "assignee",
                    "the rule names no assignee (nor does its policy); give --anyone ROLE to grant such rules to a \
                     role every agent is assigned",
                )));
            }
        }
    } else {
        assignees
            .into_iter()
            .map(|a| {
                let id = party_id(r, a, "assignee")?;
                if r.has_party_type(a) {
                    collections.parties.insert(id.clone());
                }
                Ok((id, refinements_of(r, a)))
            })
            .collect::<Result<_, DomainError>>()
            .map_err(at)?
    };
    let targets: Vec<(String, Vec<TermRef<'g>>)> = if targets.is_empty() {
        if !opts.wildcards {
            return Err(at(bad(
                "target",
                "the rule names no target (nor does its policy); --wildcards reads a missing target as every target",
            )));
        }
        vec![(crate::domain::id::WILDCARD.to_string(), vec![])]
    } else {
        targets
            .into_iter()
            .map(|t| {
                let id = party_id(r, t, "target")?;
                collections.assets.insert(id.clone());
                Ok((id, refinements_of(r, t)))
            })
            .collect::<Result<_, DomainError>>()
            .map_err(at)?
    };
    let actions: Vec<(Action, Vec<TermRef<'g>>)> = if actions.is_empty() {
        if !opts.wildcards {
            return Err(at(bad(
                "action",
                "the rule names no action (nor does its policy); --wildcards reads a missing action as odrl:use and \
                 odrl:transfer",
            )));
        }
        ["odrl:use", "odrl:transfer"]
            .into_iter()
            .map(|a| Ok((Action::parse("action", a)?, vec![])))
            .collect::<Result<_, DomainError>>()
            .map_err(at)?
    } else {
        actions
            .into_iter()
            .map(|a| action_of(r, a, "action"))
            .collect::<Result<_, DomainError>>()
            .map_err(at)?
    };
    let own_constraints = r.objects(s, "constraint");
    let (extra_key, extra) = match kind {
        Kind::Permission => {
            if !r.objects(s, "remedy").is_empty() {
                return Err(at(bad("remedy", "a permission has duties, not remedies")));
            }
            ("duty", r.objects(s, "duty"))
        }
        Kind::Prohibition => {
            if !r.objects(s, "duty").is_empty() {
                return Err(at(bad("duty", "a prohibition has remedies, not duties")));
            }
            ("remedy", r.objects(s, "remedy"))
        }
    };
    let extra = if extra.is_empty() {
        None
    } else {
        let items = extra
            .into_iter()
            .map(|d| duty_json(r, d, extra_key, &p.id, notes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(at)?;
        Some(Value::Array(items).to_string())
    };
    let (ty, predicate) = match kind {
        Kind::Permission => ("Policy.PermissionGranted", "odrl:permission"),
        Kind::Prohibition => ("Policy.ProhibitionSet", "odrl:prohibition"),
    };
    let mut out = Vec::new();
    for (action, refinements) in &actions {
        let refinement = constraints_json(r, refinements.clone())
            .map_err(at)?
            .map(|v| v.to_string());
        for (assignee, party_refinements) in &assignees {
            for (target, asset_refinements) in &targets {
                let all = own_constraints
                    .iter()
                    .chain(party_refinements)
                    .chain(asset_refinements)
                    .copied()
                    .collect();
                let constraint = constraints_json(r, all).map_err(at)?.map(|v| v.to_string());
                let mut kv: Vec<(&str, &str)> = vec![("action", action.as_str())];
                if let Some(c) = &constraint {
                    kv.push(("constraint", c));
                }
                if let Some(c) = &refinement {
                    kv.push(("refinement", c));
                }
                if let Some(d) = &extra {
                    kv.push((extra_key, d));
                }
                out.push(Triple::new(ty, &p.id, assignee, predicate, target, &kv));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
