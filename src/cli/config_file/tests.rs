//! Tests of the configuration file: defaults it fills, flags winning, bad files named.

use super::*;

fn parse_with(file: &str, args: &[&str]) -> anyhow::Result<Cli> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endocarp.toml");
    std::fs::write(&path, file).unwrap();
    let mut all: Vec<OsString> = ["endocarp", "config", "--config"].iter().map(OsString::from).collect();
    all.push(path.into_os_string());
    all.extend(args.iter().map(OsString::from));
    parse(all)
}

fn settings(cli: Cli) -> crate::configuration::Settings {
    match cli.command {
        super::super::Cmd::Config(s) => s,
        _ => unreachable!(),
    }
}

#[test]
fn file_fills_defaults_and_flags_win() {
    let s = settings(
        parse_with(
            "max_in_flight = 7\nengine = \"shadow\"\nmax_staleness = \"9s\"\n",
            &["--engine", "casbin"],
        )
        .unwrap(),
    );
    assert_eq!(s.max_in_flight, 7);
    assert_eq!(s.engine, crate::engine::EngineKind::Casbin);
    assert_eq!(s.max_staleness, std::time::Duration::from_secs(9));
}

#[test]
fn bad_files_name_the_setting() {
    let e = parse_with("max_inflight = 7\n", &[]).unwrap_err().to_string();
    assert!(e.contains("unknown setting \"max_inflight\""), "{e}");
    let e = parse_with("max_in_flight = \"many\"\n", &[]).unwrap_err().to_string();
    assert!(e.contains("max_in_flight:"), "{e}");
    let e = parse_with("engine = \"opa\"\n", &[]).unwrap_err().to_string();
    assert!(e.contains("engine:"), "{e}");
    let e = parse_with("listen = [1]\n", &[]).unwrap_err().to_string();
    assert!(e.contains("listen: expected"), "{e}");
    let e = parse_with("this is not toml", &[]).unwrap_err().to_string();
    assert!(e.contains("not valid TOML"), "{e}");
}
