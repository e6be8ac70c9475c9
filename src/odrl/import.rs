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

use crate::domain::event::Triple;
use crate::domain::{Action, DomainError, Id};
use oxrdf::vocab::{rdf, xsd};
use oxrdf::{Graph, NamedNode, NamedOrBlankNodeRef, TermRef};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

const ODRL: &str = "http://www.w3.org/ns/odrl/2/";

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

fn odrl(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{ODRL}{local}"))
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> DomainError {
    DomainError::new(field, reason)
}

/// The node's name for error messages.
fn name(t: TermRef<'_>) -> String {
    match t {
        TermRef::NamedNode(n) => n.as_str().to_string(),
        TermRef::BlankNode(b) => format!("_:{}", b.as_str()),
        TermRef::Literal(l) => format!("{:?}", l.value()),
        #[allow(unreachable_patterns)]
        _ => "a quoted triple".into(),
    }
}

fn subject(t: TermRef<'_>) -> Option<NamedOrBlankNodeRef<'_>> {
    match t {
        TermRef::NamedNode(n) => Some(n.into()),
        TermRef::BlankNode(b) => Some(b.into()),
        _ => None,
    }
}

struct Reader<'g> {
    g: &'g Graph,
}

/// A policy's own (not inherited) parts.
#[derive(Default, Clone)]
struct Parts<'g> {
    assignees: Vec<TermRef<'g>>,
    actions: Vec<TermRef<'g>>,
    targets: Vec<TermRef<'g>>,
    conflicts: BTreeSet<String>,
    /// (kind, rule node)
    rules: Vec<(Kind, TermRef<'g>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Permission,
    Prohibition,
}

impl<'g> Reader<'g> {
    fn objects(&self, s: NamedOrBlankNodeRef<'g>, p: &str) -> Vec<TermRef<'g>> {
        let p = odrl(p);
        let mut v: Vec<TermRef<'g>> = self.g.objects_for_subject_predicate(s, &p).collect();
        v.sort_by_key(|t| name(*t));
        v
    }

    fn value_of(&self, s: NamedOrBlankNodeRef<'g>) -> Option<TermRef<'g>> {
        self.g.object_for_subject_predicate(s, rdf::VALUE)
    }

    /// The members of an `rdf:List` starting at `head`, or None when `head` is no list.
    fn list(&self, head: TermRef<'g>) -> Option<Vec<TermRef<'g>>> {
        let mut out = Vec::new();
        let mut at = head;
        loop {
            if at == TermRef::NamedNode(rdf::NIL) {
                return Some(out);
            }
            let s = subject(at)?;
            let first = self.g.object_for_subject_predicate(s, rdf::FIRST)?;
            out.push(first);
            at = self.g.object_for_subject_predicate(s, rdf::REST)?;
            if out.len() > 100_000 {
                return None;
            }
        }
    }

    /// Each object, with `rdf:List`s spread into their members, and whether the order is
    /// the document's (one list) rather than a set's (repeated triples: the caller sorts by
    /// content, since blank node labels differ from one parse to the next).
    fn spread(&self, items: Vec<TermRef<'g>>) -> (Vec<TermRef<'g>>, bool) {
        if let [one] = items.as_slice()
            && let Some(members) = self.list(*one)
        {
            return (members, true);
        }
        let mut out = Vec::new();
        for t in items {
            match self.list(t) {
                Some(members) => out.extend(members),
                None => out.push(t),
            }
        }
        (out, false)
    }

    fn has_type(&self, s: NamedOrBlankNodeRef<'g>, local: &str) -> bool {
        self.g.contains(oxrdf::TripleRef::new(s, rdf::TYPE, &odrl(local)))
    }

    /// The policy's id: its `uid`, else its IRI.
    fn policy_id(&self, node: NamedOrBlankNodeRef<'g>) -> Result<String, DomainError> {
        let uid = self.objects(node, "uid");
        let named = match (uid.first(), node) {
            (Some(TermRef::NamedNode(n)), _) => n.as_str().to_string(),
            (Some(TermRef::Literal(l)), _) => l.value().to_string(),
            (_, NamedOrBlankNodeRef::NamedNode(n)) => n.as_str().to_string(),
            _ => {
                return Err(bad(
                    "policy",
                    "a policy without a uid (a blank node) cannot be named by later events: give it a uid",
                ));
            }
        };
        Id::parse("policy.uid", &named).map(|id| id.to_string())
    }

    fn parts(&self, node: NamedOrBlankNodeRef<'g>) -> Result<Parts<'g>, DomainError> {
        let mut p = Parts {
            assignees: self.objects(node, "assignee"),
            actions: self.objects(node, "action"),
            targets: self.objects(node, "target"),
            ..Parts::default()
        };
        for c in self.objects(node, "conflict") {
            match c {
                TermRef::NamedNode(n) => p.conflicts.insert(n.as_str().to_string()),
                other => return Err(bad("policy.conflict", format!("{} is not an IRI", name(other)))),
            };
        }
        for r in self.objects(node, "permission") {
            p.rules.push((Kind::Permission, r));
        }
        for r in self.objects(node, "prohibition") {
            p.rules.push((Kind::Prohibition, r));
        }
        Ok(p)
    }
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

impl<'g> Reader<'g> {
    /// The policy that replaces this one (`dct:isReplacedBy`), if any.
    fn replaced_by(&self, s: NamedOrBlankNodeRef<'g>) -> Option<String> {
        [
            "http://purl.org/dc/terms/isReplacedBy",
            "http://purl.org/dc/elements/1.1/isReplacedBy",
        ]
        .into_iter()
        .find_map(|p| self.g.object_for_subject_predicate(s, &NamedNode::new_unchecked(p)))
        .map(name)
    }

    fn has_party_type(&self, t: TermRef<'g>) -> bool {
        subject(t).is_some_and(|s| self.has_type(s, "PartyCollection"))
    }
}

/// The refinements of a party or asset collection (which of its members a rule on it
/// means), empty for anything else.
fn refinements_of<'g>(r: &Reader<'g>, t: TermRef<'g>) -> Vec<TermRef<'g>> {
    subject(t).map_or_else(Vec::new, |s| r.objects(s, "refinement"))
}

/// The Endocarp id of a party, an asset or a collection: its IRI; a collection written as
/// a blank node, or with a refinement, is named by its `source` (ODRL identifies a refined
/// collection by its source).
fn party_id(r: &Reader<'_>, t: TermRef<'_>, field: &str) -> Result<String, DomainError> {
    if let Some(s) = subject(t)
        && !r.objects(s, "refinement").is_empty()
        && let Some(TermRef::NamedNode(source)) = r.objects(s, "source").first()
    {
        return Id::parse(field, source.as_str()).map(|id| id.to_string());
    }
    let iri = match t {
        TermRef::NamedNode(n) => n.as_str().to_string(),
        TermRef::BlankNode(b) => {
            let named = r
                .objects(b.into(), "source")
                .into_iter()
                .chain(r.objects(b.into(), "uid"))
                .find_map(|s| match s {
                    TermRef::NamedNode(n) => Some(n.as_str().to_string()),
                    _ => None,
                });
            named.ok_or_else(|| {
                bad(
                    field,
                    format!(
                        "{} is a blank node: a party or asset needs an IRI to be named by",
                        name(t)
                    ),
                )
            })?
        }
        other => return Err(bad(field, format!("{} must be an IRI, not a literal", name(other)))),
    };
    Id::parse(field, &iri).map(|id| id.to_string())
}

/// An action and its refinements (an action written as a node with `rdf:value`).
fn action_of<'g>(r: &Reader<'g>, t: TermRef<'g>, field: &str) -> Result<(Action, Vec<TermRef<'g>>), DomainError> {
    let (iri, refinements) = match subject(t) {
        Some(s) => match r.value_of(s) {
            Some(v) => (v, r.objects(s, "refinement")),
            None => (t, r.objects(s, "refinement")),
        },
        None => (t, vec![]),
    };
    let TermRef::NamedNode(n) = iri else {
        return Err(bad(field, format!("{} is not an action IRI", name(iri))));
    };
    if subject(t).is_some_and(|s| r.value_of(s).is_none()) && matches!(t, TermRef::BlankNode(_)) {
        return Err(bad(field, "an action written as a node needs rdf:value"));
    }
    Ok((Action::parse(field, n.as_str())?, refinements))
}

fn literal_json(l: oxrdf::LiteralRef<'_>) -> Value {
    let dt = l.datatype();
    if dt == xsd::STRING || l.language().is_some() {
        Value::String(l.value().to_string())
    } else {
        json!({"@value": l.value(), "@type": dt.as_str()})
    }
}

fn operand_json(t: TermRef<'_>) -> Result<Value, DomainError> {
    match t {
        TermRef::NamedNode(n) => Ok(json!({"@id": n.as_str()})),
        TermRef::Literal(l) => Ok(literal_json(l)),
        other => Err(bad(
            "rightOperand",
            format!("{} is neither an IRI nor a literal", name(other)),
        )),
    }
}

fn iri_or_text(t: TermRef<'_>, field: &str) -> Result<String, DomainError> {
    match t {
        TermRef::NamedNode(n) => Ok(n.as_str().to_string()),
        TermRef::Literal(l) => Ok(l.value().to_string()),
        other => Err(bad(field, format!("{} is not an IRI", name(other)))),
    }
}

/// A constraint node as the JSON the constraint parser reads (the parser checks it).
fn constraint_json<'g>(r: &Reader<'g>, t: TermRef<'g>, depth: usize) -> Result<Value, DomainError> {
    let Some(s) = subject(t) else {
        return Err(bad("constraint", format!("{} is not a constraint node", name(t))));
    };
    if depth > crate::domain::constraint::MAX_DEPTH {
        return Err(bad("constraint", "logical constraints nest too deep"));
    }
    for op in ["and", "or", "xone", "andSequence"] {
        let items = r.objects(s, op);
        if !items.is_empty() {
            let (items, ordered) = r.spread(items);
            let mut parts = items
                .into_iter()
                .map(|c| constraint_json(r, c, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            if !ordered {
                by_content(&mut parts);
            }
            return Ok(json!({ op: parts }));
        }
    }
    let mut m = Map::new();
    let one = |p: &str| -> Result<Option<String>, DomainError> {
        match r.objects(s, p).as_slice() {
            [] => Ok(None),
            [v] => iri_or_text(*v, p).map(Some),
            _ => Err(bad(p, format!("{} has more than one {p}", name(t)))),
        }
    };
    for p in [
        "leftOperand",
        "operator",
        "dataType",
        "unit",
        "rightOperandReference",
        "status",
    ] {
        if let Some(v) = one(p)? {
            m.insert(p.into(), Value::String(v));
        }
    }
    // The published context's lower-case erratum.
    if let Some(v) = one("datatype")? {
        m.insert("dataType".into(), Value::String(v));
    }
    let (right, ordered) = r.spread(r.objects(s, "rightOperand"));
    match right.len() {
        0 => {}
        1 if !ordered => {
            m.insert("rightOperand".into(), operand_json(right[0])?);
        }
        _ => {
            let mut values = right.into_iter().map(operand_json).collect::<Result<Vec<_>, _>>()?;
            if !ordered {
                by_content(&mut values);
            }
            m.insert("rightOperand".into(), Value::Array(values));
        }
    }
    Ok(Value::Object(m))
}

/// Orders the members of a set by their JSON text, so that the same document always gives
/// the same canonical condition (the rule's identity).
fn by_content(items: &mut [Value]) {
    items.sort_by_cached_key(|v| v.to_string());
}

/// Constraint nodes as one constraint or an array of them (all must hold); None for none.
fn constraints_json<'g>(r: &Reader<'g>, items: Vec<TermRef<'g>>) -> Result<Option<Value>, DomainError> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut parts = items
        .into_iter()
        .map(|c| constraint_json(r, c, 1))
        .collect::<Result<Vec<_>, _>>()?;
    by_content(&mut parts);
    let v = if parts.len() == 1 {
        parts.remove(0)
    } else {
        Value::Array(parts)
    };
    Ok(Some(v))
}

/// A duty (or remedy) node as `{"uid", "action", "assignee"?, "target"?, "constraint"?}`.
fn duty_json<'g>(
    r: &Reader<'g>,
    t: TermRef<'g>,
    what: &str,
    policy: &str,
    notes: &mut Vec<String>,
) -> Result<Value, DomainError> {
    let TermRef::NamedNode(uid) = t else {
        return Err(bad(
            what,
            format!(
                "{} is a blank node: a {what} needs an IRI, which Policy.DutyDischarged names when it is fulfilled",
                name(t)
            ),
        ));
    };
    let s: NamedOrBlankNodeRef<'_> = uid.into();
    let actions = r.objects(s, "action");
    let [action] = actions.as_slice() else {
        return Err(bad(what, format!("{} needs exactly one action", uid.as_str())));
    };
    let (action, refinements) = action_of(r, *action, &format!("{what}.action"))?;
    if !refinements.is_empty() {
        notes.push(format!(
            "policy {policy}: the refinement of {what} {}'s action is not kept; fulfilment is recorded by \
             Policy.DutyDischarged",
            uid.as_str()
        ));
    }
    if !r.objects(s, "consequence").is_empty() {
        notes.push(format!(
            "policy {policy}: the consequences of {what} {} are not imported (never enforced)",
            uid.as_str()
        ));
    }
    let mut m = Map::new();
    m.insert("uid".into(), Value::String(uid.as_str().into()));
    m.insert("action".into(), Value::String(action.as_str().into()));
    for (p, key) in [("assignee", "assignee"), ("target", "target")] {
        match r.objects(s, p).as_slice() {
            [] => {}
            [v] => {
                m.insert(key.into(), Value::String(party_id(r, *v, &format!("{what}.{p}"))?));
            }
            _ => return Err(bad(what, format!("{} has more than one {p}", uid.as_str()))),
        }
    }
    if let Some(c) = constraints_json(r, r.objects(s, "constraint"))? {
        m.insert("constraint".into(), c);
    }
    Ok(Value::Object(m))
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
