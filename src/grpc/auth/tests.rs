//! Tests of the authentication layer: credentials and the scope each method needs.

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
