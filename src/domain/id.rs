//! Opaque identifiers: agents, roles, groups, accounts, policies and targets.

use crate::domain::DomainError;
use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// Longest identifier accepted, in bytes.
pub const MAX_ID_BYTES: usize = 512;

/// The reserved wildcard; valid only as a rule target.
pub const WILDCARD: &str = "*";

/// An agent, role, group, account, policy or target id: 1–512 bytes of UTF-8 without
/// control characters, never `*`. Compared byte for byte. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(Arc<str>);

impl Id {
    /// Parses an id for `field`; `*` is refused (it is only a rule target).
    pub fn parse(field: &str, s: &str) -> Result<Id, DomainError> {
        check_text(field, s)?;
        if s == WILDCARD {
            return Err(DomainError::new(
                field,
                "\"*\" is reserved: it is valid only as a rule target",
            ));
        }
        Ok(Id(Arc::from(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds an id from text the store wrote; it was parsed before it was stored.
    pub fn from_trusted(s: &str) -> Id {
        Id(Arc::from(s))
    }
}

/// Checks the length and character rules shared by ids and targets.
pub fn check_text(field: &str, s: &str) -> Result<(), DomainError> {
    if s.is_empty() {
        return Err(DomainError::new(field, "must not be empty"));
    }
    if s.len() > MAX_ID_BYTES {
        return Err(DomainError::new(
            field,
            format!("is {} bytes; the limit is {MAX_ID_BYTES}", s.len()),
        ));
    }
    // Control characters: C0 and DEL in ASCII (checked a byte at a time), C1 beyond it.
    let control = if s.is_ascii() {
        s.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        s.chars().any(char::is_control)
    };
    if control {
        return Err(DomainError::new(field, "must not contain control characters"));
    }
    Ok(())
}

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rule target: one target id, or `*` for every target.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Target {
    /// `*`: matches every target.
    Any,
    One(Id),
}

impl Target {
    /// Parses a rule target (`*` allowed).
    pub fn parse(field: &str, s: &str) -> Result<Target, DomainError> {
        if s == WILDCARD {
            Ok(Target::Any)
        } else {
            Id::parse(field, s).map(Target::One)
        }
    }

    /// The stored and wire form: the id, or `*`.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Any => WILDCARD,
            Target::One(id) => id.as_str(),
        }
    }

    pub fn from_trusted(s: &str) -> Target {
        if s == WILDCARD {
            Target::Any
        } else {
            Target::One(Id::from_trusted(s))
        }
    }
}

#[cfg(test)]
mod tests;
