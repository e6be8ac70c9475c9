//! Reading an ODRL graph: the vocabulary's nodes, a policy's own parts, lists, and the
//! Endocarp ids of parties, assets and actions (what [`super::import`] turns into events).

use crate::domain::{Action, DomainError, Id};
use oxrdf::vocab::rdf;
use oxrdf::{Graph, NamedNode, NamedOrBlankNodeRef, TermRef};
use std::collections::BTreeSet;

/// The ODRL 2.2 namespace.
pub(super) const ODRL: &str = "http://www.w3.org/ns/odrl/2/";

pub(super) fn odrl(local: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{ODRL}{local}"))
}

pub(super) fn bad(field: impl Into<String>, reason: impl Into<String>) -> DomainError {
    DomainError::new(field, reason)
}

/// The node's name for error messages.
pub(super) fn name(t: TermRef<'_>) -> String {
    match t {
        TermRef::NamedNode(n) => n.as_str().to_string(),
        TermRef::BlankNode(b) => format!("_:{}", b.as_str()),
        TermRef::Literal(l) => format!("{:?}", l.value()),
        #[allow(unreachable_patterns)]
        _ => "a quoted triple".into(),
    }
}

pub(super) fn subject(t: TermRef<'_>) -> Option<NamedOrBlankNodeRef<'_>> {
    match t {
        TermRef::NamedNode(n) => Some(n.into()),
        TermRef::BlankNode(b) => Some(b.into()),
        _ => None,
    }
}

pub(super) struct Reader<'g> {
    pub(super) g: &'g Graph,
}

/// A policy's own (not inherited) parts.
#[derive(Default, Clone)]
pub(super) struct Parts<'g> {
    pub(super) assignees: Vec<TermRef<'g>>,
    pub(super) actions: Vec<TermRef<'g>>,
    pub(super) targets: Vec<TermRef<'g>>,
    pub(super) conflicts: BTreeSet<String>,
    /// (kind, rule node)
    pub(super) rules: Vec<(Kind, TermRef<'g>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Permission,
    Prohibition,
}

impl<'g> Reader<'g> {
    pub(super) fn objects(&self, s: NamedOrBlankNodeRef<'g>, p: &str) -> Vec<TermRef<'g>> {
        let p = odrl(p);
        let mut v: Vec<TermRef<'g>> = self.g.objects_for_subject_predicate(s, &p).collect();
        v.sort_by_key(|t| name(*t));
        v
    }

    pub(super) fn value_of(&self, s: NamedOrBlankNodeRef<'g>) -> Option<TermRef<'g>> {
        self.g.object_for_subject_predicate(s, rdf::VALUE)
    }

    /// The members of an `rdf:List` starting at `head`, or None when `head` is no list.
    pub(super) fn list(&self, head: TermRef<'g>) -> Option<Vec<TermRef<'g>>> {
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
    pub(super) fn spread(&self, items: Vec<TermRef<'g>>) -> (Vec<TermRef<'g>>, bool) {
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

    pub(super) fn has_type(&self, s: NamedOrBlankNodeRef<'g>, local: &str) -> bool {
        self.g.contains(oxrdf::TripleRef::new(s, rdf::TYPE, &odrl(local)))
    }

    /// The policy's id: its `uid`, else its IRI.
    pub(super) fn policy_id(&self, node: NamedOrBlankNodeRef<'g>) -> Result<String, DomainError> {
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

    pub(super) fn parts(&self, node: NamedOrBlankNodeRef<'g>) -> Result<Parts<'g>, DomainError> {
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

impl<'g> Reader<'g> {
    /// The policy that replaces this one (`dct:isReplacedBy`), if any.
    pub(super) fn replaced_by(&self, s: NamedOrBlankNodeRef<'g>) -> Option<String> {
        [
            "http://purl.org/dc/terms/isReplacedBy",
            "http://purl.org/dc/elements/1.1/isReplacedBy",
        ]
        .into_iter()
        .find_map(|p| self.g.object_for_subject_predicate(s, &NamedNode::new_unchecked(p)))
        .map(name)
    }

    pub(super) fn has_party_type(&self, t: TermRef<'g>) -> bool {
        subject(t).is_some_and(|s| self.has_type(s, "PartyCollection"))
    }
}

/// The refinements of a party or asset collection (which of its members a rule on it
/// means), empty for anything else.
pub(super) fn refinements_of<'g>(r: &Reader<'g>, t: TermRef<'g>) -> Vec<TermRef<'g>> {
    subject(t).map_or_else(Vec::new, |s| r.objects(s, "refinement"))
}

/// The Endocarp id of a party, an asset or a collection: its IRI; a collection written as
/// a blank node, or with a refinement, is named by its `source` (ODRL identifies a refined
/// collection by its source).
pub(super) fn party_id(r: &Reader<'_>, t: TermRef<'_>, field: &str) -> Result<String, DomainError> {
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
pub(super) fn action_of<'g>(
    r: &Reader<'g>,
    t: TermRef<'g>,
    field: &str,
) -> Result<(Action, Vec<TermRef<'g>>), DomainError> {
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
