//! Authentication in front of the gRPC services: named bearer tokens with scopes.
//!
//! Credentials are `name:scopes:token` entries (scopes `read`, `write`, `check`, `lookup`,
//! joined with `,`), one a line in a file or separated by `;` in `ENDOCARP_ADMIN_TOKENS`.
//! Only a SHA-256 of each token is kept in memory, and a presented token is compared with
//! every credential in constant time. Every method needs a scope: lists, reads, watches,
//! status, export and reflection `read`; changes and appends `write`; decisions and batch
//! checks `check`, and the look-ups (LookupTargets, LookupAgents, ListActions), which
//! reveal far more than a check, `lookup` (both only when the decision API requires
//! tokens). Health is open, so probes need nothing. The audit actor is the
//! credential's name; a rejected call is logged at warn (at most once a second) and changes
//! nothing.
//!
//! The same layer enforces the per-port limits: requests in flight (RESOURCE_EXHAUSTED past
//! the limit, never queued without bound) and admin writes per caller per second (a token
//! bucket per credential name).

mod credentials;
mod layer;
mod limits;

pub use credentials::{ClientCerts, Credentials, MIN_TOKEN_BYTES};
pub use layer::{Admitted, Auth, AuthLayer};
pub use limits::{InFlightPermit, Limits};

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Lists, reads, watches, status, export, admin reflection.
    Read,
    /// Admin changes and event appends.
    Write,
    /// Decision checks and batch checks (when the decision API requires tokens).
    Check,
    /// Look-ups: who may act on a target, what an agent may act on (when the decision API
    /// requires tokens). A `check` credential does not have it.
    Lookup,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "check" => Some(Scope::Check),
            "lookup" => Some(Scope::Lookup),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Check => "check",
            Scope::Lookup => "lookup",
        }
    }
}

/// The authenticated caller, put into the request's extensions for the handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

/// The scope a method needs; `None` for health, which is open.
pub fn required_scope(path: &str) -> Option<Scope> {
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    match service {
        "grpc.health.v1.Health" => None,
        "endocarp.v1.AuthorizationService" if matches!(method, "LookupTargets" | "LookupAgents" | "ListActions") => {
            Some(Scope::Lookup)
        }
        "endocarp.v1.AuthorizationService" => Some(Scope::Check),
        "endocarp.v1.EventService" if method == "AppendEvents" => Some(Scope::Write),
        "endocarp.v1.PolicyAdminService"
            if !(method.starts_with("List") || method == "GetStatus" || method == "ExportCasbin") =>
        {
            Some(Scope::Write)
        }
        _ => Some(Scope::Read),
    }
}

#[cfg(test)]
mod tests;
