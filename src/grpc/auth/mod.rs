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
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_authenticate() {
        let c = Credentials::parse(
            "# ops\nci:read,write:0123456789abcdef-ci\n\nauditor:read:0123456789abcdef-au",
            "file",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.authenticate("0123456789abcdef-ci").map(|c| c.name.as_str()),
            Some("ci")
        );
        assert!(c.authenticate("0123456789abcdef-xx").is_none());
        assert!(Credentials::parse("a:read:short", "env").unwrap_err().contains("16"));
        assert!(Credentials::parse("a:root:0123456789abcdef", "env").is_err());
        assert!(Credentials::parse("a:read:0123456789abcdef;a:write:0123456789abcdeg", "env").is_err());
        let err = Credentials::parse("bad name:read:0123456789abcdef-secret", "env").unwrap_err();
        assert!(!err.contains("secret"), "errors never show tokens: {err}");
        assert!(format!("{c:?}").contains("ci") && !format!("{c:?}").contains("abcdef"));
    }

    #[test]
    fn methods_map_to_scopes() {
        assert_eq!(required_scope("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            required_scope("/endocarp.v1.PolicyAdminService/GrantPermission"),
            Some(Scope::Write)
        );
        assert_eq!(
            required_scope("/endocarp.v1.PolicyAdminService/ListRules"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/endocarp.v1.PolicyAdminService/ExportCasbin"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/endocarp.v1.EventService/AppendEvents"),
            Some(Scope::Write)
        );
        assert_eq!(
            required_scope("/endocarp.v1.EventService/WatchEvents"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/endocarp.v1.AuthorizationService/IsAuthorized"),
            Some(Scope::Check)
        );
        assert_eq!(
            required_scope("/endocarp.v1.AuthorizationService/CheckBatch"),
            Some(Scope::Check)
        );
        for m in ["LookupTargets", "LookupAgents", "ListActions"] {
            assert_eq!(
                required_scope(&format!("/endocarp.v1.AuthorizationService/{m}")),
                Some(Scope::Lookup)
            );
        }
        assert_eq!(required_scope("/nope/Nope"), Some(Scope::Read));
    }
}
