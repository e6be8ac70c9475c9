//! Actions: CURIE and IRI canonicalisation, and the ODRL 2.2 `includedIn` hierarchy.
//!
//! Every action is turned into its full IRI at the edge, before it is stored, indexed,
//! compared or returned. Actions in the ODRL namespace must be ODRL 2.2 vocabulary actions;
//! deprecated terms map to their `skos:exactMatch` replacement or are refused.

use crate::domain::DomainError;
use crate::domain::id::MAX_ID_BYTES;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, LazyLock};

pub const ODRL_NS: &str = "http://www.w3.org/ns/odrl/2/";
pub const CC_NS: &str = "http://creativecommons.org/ns#";
pub const ORG_NS: &str = "http://www.w3.org/ns/org#";
pub const FOAF_NS: &str = "http://xmlns.com/foaf/0.1/";
pub const SCHEMA_NS: &str = "https://schema.org/";

/// The prefixes a CURIE may use, and their namespaces.
pub const PREFIXES: [(&str, &str); 5] = [
    ("odrl", ODRL_NS),
    ("cc", CC_NS),
    ("org", ORG_NS),
    ("foaf", FOAF_NS),
    ("schema", SCHEMA_NS),
];

/// ODRL 2.2 actions (non-deprecated) with the action each is directly `includedIn`
/// (`None` for the two roots). Extracted from the vocabulary's `ODRL22.ttl`.
const ODRL_ACTIONS: &[(&str, Option<&str>)] = &[
    ("use", None),
    ("transfer", None),
    ("give", Some("odrl:transfer")),
    ("sell", Some("odrl:transfer")),
    ("acceptTracking", Some("odrl:use")),
    ("aggregate", Some("odrl:use")),
    ("annotate", Some("odrl:use")),
    ("anonymize", Some("odrl:use")),
    ("archive", Some("odrl:use")),
    ("attribute", Some("odrl:use")),
    ("compensate", Some("odrl:use")),
    ("concurrentUse", Some("odrl:use")),
    ("delete", Some("odrl:use")),
    ("derive", Some("odrl:use")),
    ("digitize", Some("odrl:use")),
    ("distribute", Some("odrl:use")),
    ("ensureExclusivity", Some("odrl:use")),
    ("execute", Some("odrl:use")),
    ("grantUse", Some("odrl:use")),
    ("include", Some("odrl:use")),
    ("index", Some("odrl:use")),
    ("inform", Some("odrl:use")),
    ("install", Some("odrl:use")),
    ("modify", Some("odrl:use")),
    ("move", Some("odrl:use")),
    ("nextPolicy", Some("odrl:use")),
    ("obtainConsent", Some("odrl:use")),
    ("play", Some("odrl:use")),
    ("present", Some("odrl:use")),
    ("print", Some("odrl:use")),
    ("read", Some("odrl:use")),
    ("reproduce", Some("odrl:use")),
    ("reviewPolicy", Some("odrl:use")),
    ("stream", Some("odrl:use")),
    ("synchronize", Some("odrl:use")),
    ("textToSpeech", Some("odrl:use")),
    ("transform", Some("odrl:use")),
    ("translate", Some("odrl:use")),
    ("uninstall", Some("odrl:use")),
    ("watermark", Some("odrl:use")),
    ("display", Some("odrl:play")),
    ("extract", Some("odrl:reproduce")),
];

/// Creative Commons actions that ODRL 2.2 places under `odrl:use`.
const CC_ACTIONS: &[&str] = &[
    "Attribution",
    "CommercialUse",
    "DerivativeWorks",
    "Distribution",
    "Notice",
    "Reproduction",
    "ShareAlike",
    "Sharing",
    "SourceCode",
];

/// Deprecated ODRL actions and their `skos:exactMatch` replacement.
const DEPRECATED: &[(&str, &str)] = &[
    ("append", "odrl:modify"),
    ("appendTo", "odrl:modify"),
    ("write", "odrl:modify"),
    ("writeTo", "odrl:modify"),
    ("copy", "odrl:reproduce"),
    ("export", "odrl:transform"),
    ("license", "odrl:grantUse"),
    ("pay", "odrl:compensate"),
    ("attachPolicy", "cc:Notice"),
    ("attachSource", "cc:SourceCode"),
    ("commercialize", "cc:CommercialUse"),
    ("share", "cc:Sharing"),
    ("shareAlike", "cc:ShareAlike"),
];

/// Deprecated ODRL actions with no replacement: refused.
const DEPRECATED_NO_REPLACEMENT: &[&str] = &[
    "adHocShare",
    "extractChar",
    "extractPage",
    "extractWord",
    "lease",
    "lend",
    "preview",
    "secondaryUse",
];

/// A canonical action: a full IRI. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Action(Arc<str>);

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Action {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The vocabulary's maps. Built once from static tables and never grown by input, so a
/// fixed-seed fast hash cannot be flooded; every check looks its action up here (SipHash
/// over a full IRI cost a check ~300 instructions, foldhash a tenth of that).
type Map<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
type Set<K> = HashSet<K, foldhash::fast::FixedState>;

/// The vocabulary tables, built once.
struct Vocabulary {
    /// ODRL local name → canonical IRI (deprecated names map to their replacement).
    odrl: Map<&'static str, Action>,
    /// ODRL local names that are refused, with the reason.
    refused: Set<&'static str>,
    /// Strict transitive ancestors (what includes the action), nearest first.
    ancestors: Map<Action, Vec<Action>>,
    /// Strict transitive descendants (what the action includes).
    descendants: Map<Action, Vec<Action>>,
    /// Every vocabulary action, sorted by IRI.
    all: Vec<Action>,
    /// Each vocabulary action's position in `all`.
    position: Map<Action, u8>,
}

fn expand_static(curie: &str) -> String {
    let (prefix, local) = curie.split_once(':').expect("static vocabulary uses CURIEs");
    let ns = PREFIXES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, ns)| *ns)
        .expect("static vocabulary uses known prefixes");
    format!("{ns}{local}")
}

static VOCABULARY: LazyLock<Vocabulary> = LazyLock::new(|| {
    let mut odrl = Map::default();
    let mut parent: Map<Action, Action> = Map::default();
    let mut all: Vec<Action> = Vec::new();
    for (local, up) in ODRL_ACTIONS {
        let a = Action(Arc::from(format!("{ODRL_NS}{local}")));
        odrl.insert(*local, a.clone());
        if let Some(up) = up {
            parent.insert(a.clone(), Action(Arc::from(expand_static(up))));
        }
        all.push(a);
    }
    for local in CC_ACTIONS {
        let a = Action(Arc::from(format!("{CC_NS}{local}")));
        parent.insert(a.clone(), Action(Arc::from(format!("{ODRL_NS}use"))));
        all.push(a);
    }
    for (local, replacement) in DEPRECATED {
        odrl.insert(*local, Action(Arc::from(expand_static(replacement))));
    }
    let mut ancestors: Map<Action, Vec<Action>> = Map::default();
    let mut descendants: Map<Action, Vec<Action>> = Map::default();
    for a in &all {
        let mut chain = Vec::new();
        let mut cur = a.clone();
        while let Some(p) = parent.get(&cur) {
            chain.push(p.clone());
            descendants.entry(p.clone()).or_default().push(a.clone());
            cur = p.clone();
        }
        if !chain.is_empty() {
            ancestors.insert(a.clone(), chain);
        }
    }
    for d in descendants.values_mut() {
        d.sort();
    }
    all.sort();
    all.dedup();
    assert!(all.len() < 64, "the engine keeps vocabulary actions in a 64-bit mask");
    let position = all.iter().enumerate().map(|(i, a)| (a.clone(), i as u8)).collect();
    Vocabulary {
        odrl,
        refused: DEPRECATED_NO_REPLACEMENT.iter().copied().collect(),
        ancestors,
        descendants,
        all,
        position,
    }
});

impl Action {
    /// Parses and canonicalises an action written as a CURIE with a known prefix or as an
    /// absolute `http`, `https` or `urn` IRI.
    pub fn parse(field: &str, s: &str) -> Result<Action, DomainError> {
        // Fast path, no allocation: an ODRL vocabulary term written `odrl:term` or as its
        // full IRI (the same answer the general path gives for them).
        if let Some(local) = s.strip_prefix("odrl:").or_else(|| s.strip_prefix(ODRL_NS))
            && let Some(a) = VOCABULARY.odrl.get(local)
        {
            return Ok(a.clone());
        }
        let iri = expand(field, s)?;
        if let Some(local) = iri.strip_prefix(ODRL_NS) {
            return odrl_action(field, s, local);
        }
        if let Some(rest) = iri.strip_prefix("https://www.w3.org/ns/odrl/2/") {
            return Err(DomainError::new(
                field,
                format!("{s:?}: the ODRL namespace is {ODRL_NS} (http, not https); write odrl:{rest}"),
            ));
        }
        Ok(Action(Arc::from(iri)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds an action from text the store wrote; it was canonicalised before it was stored.
    pub fn from_trusted(s: &str) -> Action {
        Action(Arc::from(s))
    }

    /// What includes this action, transitively (nearest first). Empty for custom actions.
    pub fn ancestors(&self) -> &'static [Action] {
        VOCABULARY.ancestors.get(self).map(Vec::as_slice).unwrap_or(&[])
    }

    /// What this action includes, transitively. Empty for custom actions.
    pub fn descendants(&self) -> &'static [Action] {
        VOCABULARY.descendants.get(self).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every vocabulary action (ODRL 2.2 and the Creative Commons actions), sorted by IRI:
    /// fewer than 64, so the engine can keep sets of them in one `u64`.
    pub fn vocabulary() -> &'static [Action] {
        &VOCABULARY.all
    }

    /// This action's position in [`Action::vocabulary`]; None for a custom action.
    pub fn vocabulary_index(&self) -> Option<usize> {
        VOCABULARY.position.get(self).map(|&i| usize::from(i))
    }

    /// True when `self` includes `other` (strictly).
    pub fn includes(&self, other: &Action) -> bool {
        other.ancestors().contains(self)
    }

    /// The ODRL 2.2 action a bare term names (`read`, `modify`, `use`, …): current
    /// vocabulary terms only, never a deprecated one (AuthZEN's bare action names).
    pub fn odrl_term(term: &str) -> Option<Action> {
        ODRL_ACTIONS
            .iter()
            .any(|(local, _)| *local == term)
            .then(|| Action(Arc::from(format!("{ODRL_NS}{term}"))))
    }

    /// The bare term of an ODRL 2.2 vocabulary action (`delete` for odrl:delete).
    pub fn odrl_local(&self) -> Option<&str> {
        let local = self.0.strip_prefix(ODRL_NS)?;
        ODRL_ACTIONS.iter().any(|(l, _)| *l == local).then_some(local)
    }

    /// The shortest form for display: a CURIE when a known prefix fits.
    pub fn compact(&self) -> String {
        compact_iri(&self.0)
    }
}

/// Writes an IRI as a CURIE when one of the known prefixes fits.
pub fn compact_iri(iri: &str) -> String {
    for (p, ns) in PREFIXES {
        if let Some(local) = iri.strip_prefix(ns)
            && !local.is_empty()
        {
            return format!("{p}:{local}");
        }
    }
    iri.to_string()
}

fn odrl_action(field: &str, written: &str, local: &str) -> Result<Action, DomainError> {
    let v = &*VOCABULARY;
    if let Some(a) = v.odrl.get(local) {
        return Ok(a.clone());
    }
    if v.refused.contains(local) {
        return Err(DomainError::new(
            field,
            format!("{written:?} is a deprecated ODRL action with no replacement"),
        ));
    }
    Err(DomainError::new(
        field,
        format!("{written:?} is not an ODRL 2.2 vocabulary action"),
    ))
}

/// Expands a CURIE or validates an absolute IRI, lower-casing its scheme and host. The
/// length limit applies to the written form and to the full IRI it becomes (so every
/// canonical action parses again as itself).
pub fn expand(field: &str, s: &str) -> Result<String, DomainError> {
    let iri = expand_unbounded(field, s)?;
    if iri.len() > MAX_ID_BYTES {
        return Err(DomainError::new(
            field,
            format!("is {} bytes as a full IRI; the limit is {MAX_ID_BYTES}", iri.len()),
        ));
    }
    Ok(iri)
}

fn expand_unbounded(field: &str, s: &str) -> Result<String, DomainError> {
    if s.is_empty() {
        return Err(DomainError::new(field, "must not be empty"));
    }
    if s.len() > MAX_ID_BYTES {
        return Err(DomainError::new(
            field,
            format!("is {} bytes; the limit is {MAX_ID_BYTES}", s.len()),
        ));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(DomainError::new(field, "must not contain spaces or control characters"));
    }
    let Some((head, rest)) = s.split_once(':') else {
        return Err(DomainError::new(
            field,
            format!(
                "{s:?} is neither a CURIE with a known prefix (odrl:, cc:, org:, foaf:, schema:) nor an absolute http, https or urn IRI"
            ),
        ));
    };
    let scheme = head.to_ascii_lowercase();
    match scheme.as_str() {
        "http" | "https" => {
            let Some(after) = rest.strip_prefix("//") else {
                return Err(DomainError::new(
                    field,
                    format!("{s:?}: an http(s) IRI needs \"//\" and a host"),
                ));
            };
            if after.is_empty() || after.starts_with('/') {
                return Err(DomainError::new(field, format!("{s:?}: an http(s) IRI needs a host")));
            }
            // The host is case-insensitive: lower-case it, so HTTP://WWW.W3.ORG/ns/odrl/2/read
            // is odrl:read (and meets the vocabulary check), not a custom action.
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let (authority, path) = after.split_at(end);
            let authority = match authority.rsplit_once('@') {
                Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
                None => authority.to_ascii_lowercase(),
            };
            Ok(format!("{scheme}://{authority}{path}"))
        }
        "urn" => {
            if rest.is_empty() {
                return Err(DomainError::new(
                    field,
                    format!("{s:?}: a urn needs a namespace and a name"),
                ));
            }
            Ok(format!("{scheme}:{rest}"))
        }
        _ => {
            if let Some((_, ns)) = PREFIXES.iter().find(|(p, _)| *p == head) {
                if rest.is_empty() {
                    return Err(DomainError::new(field, format!("{s:?}: a CURIE needs a local name")));
                }
                if rest.starts_with("//") {
                    return Err(DomainError::new(field, format!("{s:?} is not a CURIE")));
                }
                Ok(format!("{ns}{rest}"))
            } else {
                Err(DomainError::new(
                    field,
                    format!(
                        "{s:?}: unknown prefix {head:?}; use odrl:, cc:, org:, foaf:, schema: or an absolute http, https or urn IRI"
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
