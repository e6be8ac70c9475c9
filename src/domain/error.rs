//! The one error type of the domain layer: input that breaks a rule of the contract.

/// Input that breaks a rule of docs/CONTRACT.md §1–§2. Always maps to INVALID_ARGUMENT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DomainError {
    /// The request field (or event field) at fault, e.g. `events[3].subject`.
    pub field: String,
    /// What is wrong with it, in words a caller can act on.
    pub reason: String,
}

impl DomainError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Prefixes the field path, e.g. `subject` becomes `events[2].subject`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}
