//! Per-call decision latency of the ODRL engine and the Casbin engine, side by side on the
//! same generated organisation (`endocarp::bench::org`: 100k agents, 1k roles three levels
//! deep, 10 roles per agent, 100 accounts) at 1k, 100k and 1M rules, the median of three
//! runs; a plain casbin-rs enforcer holding every row at the sizes where it finishes; the
//! index's memory per rule or assignment; and what publishing a snapshot after one write
//! costs next to rebuilding the index.
//!
//! `cargo bench --bench engines` (full sizes; `ENDOCARP_BENCH_SIZES=1000,100000` to choose);
//! `ENDOCARP_BENCH_TINY=1 cargo test --benches` runs it tiny so it cannot rot (no timing is
//! asserted anywhere). Results and the machine: `docs/BENCHMARKS.md`.

use casbin::CoreApi;
use endocarp::bench::org::{CheckCase, Org, OrgSpec};
use endocarp::bench::{fmt_ns, median, peak_rss_bytes, reset_peak_rss, rss_bytes};
use endocarp::domain::{Action, Id, NewEvent};
use endocarp::engine::{self, Check, EngineOptions, Snapshot};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Most grouping rows a plain casbin-rs enforcer is built with (see below).
const PLAIN_MAX_G_ROWS: usize = 60_000;

fn to_check(c: &CheckCase) -> Check {
    Check {
        agent: Id::parse("agent", &c.agent).unwrap(),
        account: c.account.as_ref().map(|a| Id::parse("account", a).unwrap()),
        action: Action::parse("action", c.action).unwrap(),
        target: Id::parse("target", &c.target).unwrap(),
        explain: false,
    }
}

fn build(org: &Org, casbin: bool) -> (Snapshot, Duration) {
    let started = Instant::now();
    let mut snapshot = Snapshot::new(casbin.then_some(true));
    for (i, e) in org.events.iter().enumerate() {
        let e = NewEvent::parse("", e, None, None, BTreeMap::new()).expect("generated events are valid");
        snapshot.apply(&e.change);
        snapshot.set_revision(i as u64 + 1);
    }
    (snapshot, started.elapsed())
}

struct Run {
    calls: u64,
    p50: u64,
    p99: u64,
    p999: u64,
    allowed: u64,
}

fn measure(checks: &[Check], budget: Duration, decide: &mut impl FnMut(&Check) -> bool) -> Run {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for c in checks.iter().take(checks.len() / 10) {
        black_box(decide(c));
    }
    let started = Instant::now();
    let mut allowed = 0;
    for (i, c) in checks.iter().enumerate() {
        if i >= 10 && started.elapsed() > budget {
            break;
        }
        let t0 = Instant::now();
        let ok = black_box(decide(c));
        h.record((t0.elapsed().as_nanos() as u64).max(1)).expect("record");
        allowed += u64::from(ok);
    }
    Run {
        calls: h.len(),
        p50: h.value_at_quantile(0.5),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        allowed,
    }
}

/// Three runs; the median of each percentile.
fn median_of_three(checks: &[Check], budget: Duration, mut decide: impl FnMut(&Check) -> bool) -> Run {
    let runs: Vec<Run> = (0..3).map(|_| measure(checks, budget, &mut decide)).collect();
    Run {
        calls: median(runs.iter().map(|r| r.calls).collect()),
        p50: median(runs.iter().map(|r| r.p50).collect()),
        p99: median(runs.iter().map(|r| r.p99).collect()),
        p999: median(runs.iter().map(|r| r.p999).collect()),
        allowed: runs[0].allowed * 100 / runs[0].calls.max(1),
    }
}

/// Runs this binary again to measure the index of `rules` rules alone (see `memory_only`).
fn index_bytes_in_child(rules: usize, tiny: bool) -> u64 {
    let out = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .env("ENDOCARP_BENCH_MEMORY_ONLY", rules.to_string())
        .env("ENDOCARP_BENCH_TINY", if tiny { "1" } else { "" })
        .output()
        .expect("run the memory measurement");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("index-bytes ")?.trim().parse().ok())
        .unwrap_or(0)
}

/// In a fresh process: generate the organisation, then the RSS the ODRL index adds.
fn memory_only(rules: usize, tiny: bool) {
    let spec = if tiny {
        OrgSpec::tiny(rules)
    } else {
        OrgSpec::standard(rules)
    };
    let org = Org::generate(spec);
    let before = rss_bytes(std::process::id()).unwrap_or(0);
    let (snapshot, _) = build(&org, false);
    let after = rss_bytes(std::process::id()).unwrap_or(0);
    black_box(&snapshot);
    println!("index-bytes {}", after.saturating_sub(before));
}

fn main() {
    let tiny = std::env::var("ENDOCARP_BENCH_TINY").is_ok_and(|v| !v.is_empty());
    if let Some(rules) = std::env::var("ENDOCARP_BENCH_MEMORY_ONLY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return memory_only(rules, tiny);
    }
    let sizes: Vec<usize> = match std::env::var("ENDOCARP_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) if tiny => vec![300, 2_000],
        Err(_) => vec![1_000, 100_000, 1_000_000],
    };
    let budget = if tiny {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(3)
    };
    let opts = EngineOptions::default();
    let me = std::process::id();
    let mut memory = Vec::new();
    let mut publish = Vec::new();
    println!("| rules | assignments | casbin p / g rows | engine | calls (median run) | p50 | p99 | p99.9 | allowed |");
    println!("|---:|---:|---:|---|---:|---:|---:|---:|---:|");
    for &rules in &sizes {
        let spec = if tiny {
            OrgSpec::tiny(rules)
        } else {
            OrgSpec::standard(rules)
        };
        let org = Org::generate(spec);
        let checks: Vec<Check> = org
            .checks(if tiny { 2_000 } else { 200_000 }, 3)
            .iter()
            .map(to_check)
            .collect();

        // Memory: the ODRL index alone, identifiers included, measured in a fresh process
        // (in this one, memory freed by the previous size would be reused and hide it).
        let rows = spec.rules + spec.assignments();
        let (odrl_only, built) = build(&org, false);
        memory.push((rules, rows, index_bytes_in_child(rules, tiny), built));
        // Publishing after one write: clone the snapshot, apply the write, keep both.
        let grant = endocarp::domain::event::Triple {
            event_type: "Policy.PermissionGranted".into(),
            aggregate_id: "policy-bench.corp.example".into(),
            subject: "role-l2-00001.corp.example".into(),
            predicate: "odrl:permission".into(),
            object: "doc-99999999.files.example".into(),
            payload: [("action".to_string(), "odrl:read".to_string())].into(),
        };
        let change = NewEvent::parse("", &grant, None, None, BTreeMap::new()).unwrap().change;
        let rss_before = rss_bytes(me).unwrap_or(0);
        let peak_reset = reset_peak_rss();
        let mut times = Vec::new();
        let mut kept = Vec::new();
        for _ in 0..25 {
            let t0 = Instant::now();
            let mut next = odrl_only.clone();
            next.apply(&change);
            times.push(t0.elapsed().as_nanos() as u64);
            kept.push(next);
        }
        let peak = if peak_reset {
            peak_rss_bytes(me).map(|p| p.saturating_sub(rss_before))
        } else {
            None
        };
        publish.push((rules, median(times), peak.map(|p| p / 25), built));
        drop(kept);
        drop(odrl_only);

        let (snapshot, _) = build(&org, true);
        let casbin_rows = snapshot.casbin.as_ref().expect("casbin rows");
        let (p_rows, g_rows) = (casbin_rows.p_rows(), casbin_rows.g_rows());
        let odrl = median_of_three(&checks, budget, |c| {
            engine::decide(&snapshot.index, c, &opts).is_ok_and(|d| d.allowed)
        });
        let cas = median_of_three(&checks, budget, |c| {
            engine::decide_casbin(&snapshot, c, &opts).is_ok_and(|d| d.allowed)
        });
        let mut results = vec![("ODRL engine", odrl), ("Casbin engine", cas)];
        // A plain enforcer re-scans every row per call, and casbin-rs 2.20's role manager
        // adds each grouping row with a linear search (quadratic loading: more than ten
        // minutes for the standard organisation's 1M rows): only where that finishes.
        if rules <= 100_000 && g_rows.len() <= PLAIN_MAX_G_ROWS {
            let plain = engine::casbin::plain_enforcer(&p_rows, &g_rows).expect("plain enforcer");
            let few = &checks[..checks.len().min(if rules > 10_000 { 30 } else { 2_000 })];
            let run = measure(few, budget, &mut |c: &Check| {
                let dom = c.account.as_ref().map_or("*", |a| a.as_str());
                plain
                    .enforce((c.agent.as_str(), dom, c.action.as_str(), c.target.as_str()))
                    .unwrap_or(false)
            });
            results.push((
                "plain casbin-rs (one run)",
                Run {
                    allowed: run.allowed * 100 / run.calls.max(1),
                    ..run
                },
            ));
        }
        if g_rows.len() > PLAIN_MAX_G_ROWS {
            println!(
                "| {rules} | {} | {} / {} | plain casbin-rs | not run: {} grouping rows load in quadratic time | | | | |",
                spec.assignments(),
                p_rows.len(),
                g_rows.len(),
                g_rows.len()
            );
        }
        for (name, r) in results {
            println!(
                "| {rules} | {} | {} / {} | {name} | {} | {} | {} | {} | {}% |",
                spec.assignments(),
                p_rows.len(),
                g_rows.len(),
                r.calls,
                fmt_ns(r.p50),
                fmt_ns(r.p99),
                fmt_ns(r.p999),
                r.allowed
            );
        }
    }
    println!();
    println!("| rules | rows (rules + assignments) | ODRL index RSS | bytes per row | build from events |");
    println!("|---:|---:|---:|---:|---:|");
    for (rules, rows, bytes, built) in memory {
        println!(
            "| {rules} | {rows} | {:.1} MiB | {:.0} | {:.2} s |",
            bytes as f64 / 1048576.0,
            bytes as f64 / rows as f64,
            built.as_secs_f64()
        );
    }
    println!();
    println!(
        "| rules | publish after one write (clone + apply, median of 25) | extra RSS per published snapshot | full rebuild |"
    );
    println!("|---:|---:|---:|---:|");
    for (rules, t, peak, built) in publish {
        println!(
            "| {rules} | {} | {} | {:.2} s |",
            fmt_ns(t),
            peak.map_or("n/a".into(), |p| format!("{:.1} KiB", p as f64 / 1024.0)),
            built.as_secs_f64()
        );
    }
}
