//! ODRL 2.2 policy documents in: Turtle or JSON-LD read into one RDF graph by maintained
//! parsers (oxttl, oxjsonld), then turned into Endocarp's triple events by [`import`]
//! (docs/CONTRACT.md §9, "ODRL documents"). Nothing is ever fetched: the ODRL JSON-LD
//! context is bundled ([`ODRL_CONTEXT`]) and any other remote context is refused.
//!
//! The mapping lives in [`import`]; [`export`] writes a policy back as JSON-LD. This
//! module reads documents.

pub mod export;
pub mod import;

pub use import::{Imported, Options, import};

use crate::domain::{DomainError, NewEvent};
use oxrdf::Graph;

/// The ODRL 2.2 JSON-LD context (`http://www.w3.org/ns/odrl.jsonld`), written from the
/// ODRL 2.2 vocabulary and bundled so that no document load ever goes to the network. It
/// maps `neq` to `odrl:neq` (the published copy's `odrl:neg` erratum is accepted as
/// `neq` by the constraint parser anyway).
pub const ODRL_CONTEXT: &str = include_str!("odrl.jsonld");

/// The addresses under which documents name the ODRL context.
const ODRL_CONTEXT_URLS: [&str; 4] = [
    "http://www.w3.org/ns/odrl.jsonld",
    "https://www.w3.org/ns/odrl.jsonld",
    "http://www.w3.org/ns/odrl/2/",
    "https://www.w3.org/ns/odrl/2/",
];

/// Largest document accepted (bytes).
pub const MAX_DOCUMENT: usize = 4 << 20;

/// The syntax of a policy document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Turtle,
    JsonLd,
}

impl Format {
    /// `turtle`/`ttl` or `jsonld`/`json-ld`/`json`.
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "turtle" | "ttl" => Some(Format::Turtle),
            "jsonld" | "json-ld" | "json" => Some(Format::JsonLd),
            _ => None,
        }
    }

    /// The format a file name's extension implies (`.ttl`; `.jsonld`, `.json`).
    pub fn of_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.').map(|(_, e)| e)?;
        Format::parse(ext)
    }
}

/// Reads one document into `graph` (its default graph only). Errors name `field` and say
/// where the document is malformed.
pub fn read_into(graph: &mut Graph, field: &str, format: Format, text: &str) -> Result<(), DomainError> {
    if text.len() > MAX_DOCUMENT {
        return Err(DomainError::new(
            field,
            format!("is {} bytes; the limit is {MAX_DOCUMENT}", text.len()),
        ));
    }
    let bad = |e: String| DomainError::new(field, format!("is not valid {}: {e}", format.name()));
    match format {
        Format::Turtle => {
            for t in oxttl::TurtleParser::new().for_slice(text.as_bytes()) {
                let t = t.map_err(|e| bad(e.to_string()))?;
                graph.insert(&t);
            }
        }
        Format::JsonLd => {
            let parser = oxjsonld::JsonLdParser::new()
                .for_slice(text.as_bytes())
                .with_load_document_callback(|url, _| {
                    if ODRL_CONTEXT_URLS.contains(&url) {
                        Ok(oxjsonld::JsonLdRemoteDocument {
                            document: ODRL_CONTEXT.as_bytes().to_vec(),
                            document_url: url.into(),
                        })
                    } else {
                        Err(format!("the remote context {url} is not bundled, and nothing is fetched").into())
                    }
                });
            for q in parser {
                let q = q.map_err(|e| bad(e.to_string()))?;
                if q.graph_name.is_default_graph() {
                    graph.insert(&oxrdf::Triple::from(q));
                }
            }
        }
    }
    Ok(())
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Turtle => "Turtle",
            Format::JsonLd => "JSON-LD",
        }
    }
}

/// Reads several documents into one graph (a policy and the facts beside it).
pub fn read_all<'a>(docs: impl IntoIterator<Item = (Format, &'a str)>) -> Result<Graph, DomainError> {
    let mut graph = Graph::new();
    for (i, (format, text)) in docs.into_iter().enumerate() {
        read_into(&mut graph, &format!("documents[{i}]"), format, text)?;
    }
    Ok(graph)
}

/// The imported triples as events to append (each checked as `AppendEvents` checks it).
pub fn to_events(imported: &Imported) -> Result<Vec<NewEvent>, DomainError> {
    imported
        .events
        .iter()
        .enumerate()
        .map(|(i, t)| {
            NewEvent::parse("", t, None, None, Default::default()).map_err(|e| e.within(&format!("events[{i}]")))
        })
        .collect()
}
