//! The architecture invariants of ARCHITECTURE.md, checked by reading the sources, and the
//! code map kept true.

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

fn assert_no_imports(dir: &str, forbidden: &[&str]) {
    for (path, text) in sources(dir) {
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for f in forbidden {
                let uses = code.contains(&format!("{f}::"))
                    || code.contains(&format!("use {f}"))
                    || code.contains(&format!("{f}!("));
                assert!(!uses, "{} must not use {f}: {line}", path.display());
            }
        }
    }
}

#[test]
fn the_engine_is_pure() {
    assert_no_imports(
        "src/engine",
        &[
            "crate::store",
            "crate::grpc",
            "crate::app",
            "crate::cli",
            "sqlx",
            "tonic",
            "prost",
            "tokio",
            "std::time",
            "chrono",
            "std::fs",
            "std::net",
        ],
    );
}

#[test]
fn the_domain_depends_on_nothing_else() {
    assert_no_imports(
        "src/domain",
        &[
            "crate::store",
            "crate::grpc",
            "crate::app",
            "crate::engine",
            "crate::cli",
            "sqlx",
            "tonic",
            "prost",
            "tokio",
        ],
    );
}

#[test]
fn the_app_knows_neither_protobuf_nor_sql() {
    assert_no_imports("src/app", &["crate::grpc", "crate::cli", "sqlx", "tonic", "prost"]);
}

#[test]
fn the_store_knows_no_transport() {
    assert_no_imports(
        "src/store",
        &[
            "crate::grpc",
            "crate::app",
            "crate::cli",
            "crate::engine",
            "tonic",
            "prost",
        ],
    );
}

/// ODRL documents are a format over the domain: reading one never decides, stores or
/// answers a call (the admin RPC and the CLI append what it makes).
#[test]
fn odrl_documents_are_a_format_over_the_domain() {
    assert_no_imports(
        "src/odrl",
        &[
            "crate::grpc",
            "crate::app",
            "crate::cli",
            "crate::engine",
            "crate::store",
            "tonic",
            "prost",
            "sqlx",
        ],
    );
}

#[test]
fn the_authzen_api_decides_and_stores_nothing_itself() {
    assert_no_imports(
        "src/authzen",
        &[
            "crate::store",
            "sqlx",
            "prost",
            "crate::grpc::pb",
            "crate::engine::lookup",
        ],
    );
    // Decisions come from the App's use cases, never from calling an engine directly.
    for (path, text) in sources("src/authzen") {
        for needle in ["engine::decide", "decide_casbin", "engine::lookup"] {
            assert!(!text.contains(needle), "{} calls {needle}", path.display());
        }
    }
}

#[test]
fn statuses_are_made_in_one_place() {
    for (path, text) in sources("src") {
        if path.ends_with("grpc/mod.rs") {
            continue;
        }
        // Reading a response's code (the request metrics do) is fine; making a status, or
        // choosing the code an error gets, happens only in grpc::status.
        for line in text.lines() {
            let builds = line.contains("Status::") && !line.contains("ServingStatus::");
            assert!(
                !builds,
                "{}: build statuses only in grpc::status: {line}",
                path.display()
            );
        }
    }
}

#[test]
fn every_path_in_architecture_md_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut checked = 0;
    for part in doc.split('`').skip(1).step_by(2) {
        let looks_like_path = (part.starts_with("src/")
            || part.starts_with("proto/")
            || part.starts_with("tests/")
            || part.starts_with("migrations/"))
            && !part.contains(' ')
            && !part.contains('*');
        if looks_like_path {
            assert!(
                root.join(part).exists(),
                "ARCHITECTURE.md names {part}, which does not exist"
            );
            checked += 1;
        }
    }
    for module in ["domain", "engine", "store", "app", "grpc", "authzen", "cli"] {
        assert!(
            doc.contains(&format!("src/{module}/")),
            "ARCHITECTURE.md must map src/{module}/"
        );
    }
    assert!(checked >= 10, "expected the code map to name paths, found {checked}");
}

#[test]
fn modules_open_with_docs() {
    for (path, text) in sources("src") {
        assert!(
            text.trim_start().starts_with("//!"),
            "{} must open with a //! doc",
            path.display()
        );
    }
}
