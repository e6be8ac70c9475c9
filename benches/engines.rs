//! Per-call decision latency of the engines on generated organisations, the index's memory,
//! and what publishing a snapshot after one write costs (issues 7 and 14).
//!
//! Two shapes (`endocarp::bench::org`): `standard` (100k agents, 1k roles three levels
//! deep, 10 roles per agent, 100 accounts) and `deep` (1k roles five levels deep with one
//! to three parents each, roles per agent following a power law, 300 groups, Zipf-sized
//! accounts), at 1k, 100k and 1M rules. For each:
//!
//! - the ODRL engine (index v2), the reference engine (the engine before v2, kept as
//!   `engine::reference`), the Casbin engine up to 100k rules, and explain mode (every
//!   entry listed, and as served by default: 1,000 entries a list at most): 200,000
//!   checks one call at a time, each timed into an HDR histogram, warm-up first, three runs
//!   of up to 3 s, the median of each percentile, and the p99 of each check's least time
//!   over the three runs (outside noise removed); and the ODRL engine again with one
//!   policy given the `odrl:perm` conflict strategy (every check then collects every
//!   applicable rule); and again with ODRL constraints on every fourth rule (one atomic
//!   constraint, or two), checked with a context that satisfies them (issue 17); and
//!   with every checked target in an asset collection (issue 17);
//! - the ODRL engine's latency split by global/account and by what decided (the agent's
//!   own rule or a role's, on the exact target or `*`, not permitted, a gate);
//! - the index's RSS per rule or assignment, measured in a fresh process;
//! - publishing after one write (clone the snapshot, apply the change) per kind of change,
//!   after 0, 10k and 60k earlier writes: time and bytes allocated (a counting allocator).
//!
//! `cargo bench --bench engines`; `ENDOCARP_BENCH_SIZES=1000,100000`,
//! `ENDOCARP_BENCH_SHAPES=standard,deep` (or `wide`: a million agents with one role each), `ENDOCARP_BENCH_REFERENCE=0` (skip the reference),
//! `ENDOCARP_BENCH_PUBLISH=0` (skip publishing), `ENDOCARP_BENCH_CHECKS=0` (skip the checks)
//! choose what runs; `ENDOCARP_BENCH_TINY=1 cargo
//! test --benches` runs it tiny so it cannot rot (no timing is asserted anywhere).
//! `ENDOCARP_BENCH_PERF=<shape>,<rules>,<checks>` only builds and runs that many checks, for
//! `perf record` (explaining with `ENDOCARP_BENCH_PERF_EXPLAIN=1`, every entry listed or
//! the first N of each list with `ENDOCARP_BENCH_PERF_EXPLAIN_LIMIT=N`, and only the checks whose
//! explanation lists at least N rules with `ENDOCARP_BENCH_PERF_LISTED=N`; only the slowest
//! N per mille of the checks, each timed cold in three passes, with
//! `ENDOCARP_BENCH_PERF_SLOWEST=N`; on the Casbin engine with `ENDOCARP_BENCH_PERF_CASBIN=1`;
//! with the N-th policy deactivated with `ENDOCARP_BENCH_PERF_DEACTIVATE=N`;
//! sampling only the timed passes with `ENDOCARP_BENCH_PERF_CTL` and `ENDOCARP_BENCH_PERF_ACK`,
//! see `perf_control`; with `ENDOCARP_BENCH_AB=1`, blocks of the checks timed with the
//! switch `endocarp::engine::AB` off and on in turn, six passes, each check's least time
//! per setting, p50 to p99.9 of both: a same-process A/B of a scratch change that reads it);
//! `ENDOCARP_BENCH_PUBLISH_ONLY=<shape>,<rules>,<kind>,<writes>` likewise publishes that
//! many writes of one kind of the publish table ("exact grant", "agent edge", …);
//! `ENDOCARP_BENCH_CACHESIM=<shape>,<rules>,<checks>` decides checks through one probe
//! function per class of the split table, for a cache simulator (see `cachesim_only`);
//! `ENDOCARP_BENCH_BIG_ROLE=<n>` gives a role held by n agents one more holder, 200 times,
//! and prints the bytes a write allocates. Results and the machine: `docs/BENCHMARKS.md`.

use endocarp::bench::org::{CheckCase, Gap, Org, OrgSpec, Rng, agent_id, one_gap_names, policy_id, role_id, target_id};
use endocarp::bench::{fmt_ns, median, rss_bytes};
use endocarp::domain::constraint::{Condition, Context, Literal};
use endocarp::domain::{
    Action, Change, Conflict, Decision, EdgeSource, EntityKind, Id, NewEvent, Reason, Rule, RuleKind, Target,
};
use endocarp::engine::{self, Check, EngineOptions, Index, Snapshot, reference};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// The check of `c`; explaining, every entry is listed (as before `explain_limit`).
fn to_check(c: &CheckCase, explain: bool) -> Check {
    Check {
        agent: Id::parse("agent", &c.agent).unwrap(),
        account: c.account.as_ref().map(|a| Id::parse("account", a).unwrap()),
        action: Action::parse("action", c.action).unwrap(),
        target: Id::parse("target", &c.target).unwrap(),
        explain,
        explain_limit: usize::MAX,
        context: Default::default(),
    }
}

/// The organisation's changes with constraints on every fourth rule: one atomic constraint
/// (a purpose) or two (a purpose and a date, which reads the clock).
fn constrained(changes: &[Change]) -> Vec<Change> {
    let one = std::sync::Arc::new(
        Condition::parse(
            "constraint",
            r#"{"leftOperand":"odrl:purpose","operator":"odrl:isAnyOf","rightOperand":["research","teaching"]}"#,
        )
        .unwrap(),
    );
    let two = std::sync::Arc::new(
        Condition::parse(
            "constraint",
            r#"[{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"},{"leftOperand":"odrl:dateTime","operator":"odrl:lt","rightOperand":{"@value":"2100-01-01T00:00:00Z","@type":"xsd:dateTime"}}]"#,
        )
        .unwrap(),
    );
    let mut n = 0usize;
    changes
        .iter()
        .map(|c| match c {
            Change::Rule { rule, on } => {
                n += 1;
                let mut rule = rule.clone();
                if n.is_multiple_of(4) {
                    rule.condition = Some(if n.is_multiple_of(8) { two.clone() } else { one.clone() });
                }
                Change::Rule { rule, on: *on }
            }
            other => other.clone(),
        })
        .collect()
}

/// A context that satisfies [`constrained`]'s constraints.
fn research() -> Context {
    let mut c = Context::default();
    c.insert("odrl:purpose", Literal::String("research".into()), None)
        .unwrap();
    c
}

fn changes(org: &Org) -> Vec<Change> {
    org.events
        .iter()
        .map(|e| {
            NewEvent::parse("", e, None, None, BTreeMap::new())
                .expect("generated events are valid")
                .change
        })
        .collect()
}

/// Builds the v2 index from parsed changes; returns it and the build time.
fn build_v2(changes: &[Change], casbin: bool) -> (Snapshot, Duration) {
    let started = Instant::now();
    let mut snapshot = Snapshot::new(casbin.then_some(true));
    // As start-up loads the read model.
    snapshot.begin_bulk();
    for c in changes {
        snapshot.apply(c);
    }
    snapshot.end_bulk();
    snapshot.set_revision(changes.len() as u64);
    (snapshot, started.elapsed())
}

struct Run {
    calls: u64,
    p50: u64,
    p99: u64,
    p999: u64,
    allowed: u64,
    /// The p99 of each check's least time over the three runs (the checks all three
    /// reached): noise from outside the process only ever adds time, so on a VM whose
    /// neighbours come and go this is the figure that compares builds; the other
    /// percentiles are each run's own, as a caller would see them.
    least_p99: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new(3).expect("histogram")
}

/// The check as a server hands it to the engine: just decoded from the request, so its
/// strings are fresh in cache (the engine's own look-ups are what is measured).
fn decoded(c: &Check) -> Check {
    Check {
        agent: Id::from_trusted(c.agent.as_str()),
        account: c.account.as_ref().map(|a| Id::from_trusted(a.as_str())),
        action: Action::from_trusted(c.action.as_str()),
        target: Id::from_trusted(c.target.as_str()),
        explain: c.explain,
        explain_limit: c.explain_limit,
        context: Default::default(),
    }
}

fn measure(checks: &[Check], budget: Duration, decide: &mut impl FnMut(&Check) -> bool) -> (Run, Vec<u64>) {
    let mut h = histogram();
    let mut times = Vec::with_capacity(checks.len());
    for c in checks.iter().take(checks.len() / 10) {
        black_box(decide(c));
    }
    let started = Instant::now();
    let mut allowed = 0;
    for (i, c) in checks.iter().enumerate() {
        if i >= 10 && started.elapsed() > budget {
            break;
        }
        let c = &decoded(c);
        let t0 = Instant::now();
        let ok = black_box(decide(c));
        let t = (t0.elapsed().as_nanos() as u64).max(1);
        h.record(t).expect("record");
        times.push(t);
        allowed += u64::from(ok);
    }
    let run = Run {
        calls: h.len(),
        p50: h.value_at_quantile(0.5),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        allowed,
        least_p99: 0,
    };
    (run, times)
}

/// Three runs; the median of each percentile, and the p99 of each check's least time over
/// the three runs.
fn median_of_three(checks: &[Check], budget: Duration, mut decide: impl FnMut(&Check) -> bool) -> Run {
    let (runs, times): (Vec<Run>, Vec<Vec<u64>>) = (0..3).map(|_| measure(checks, budget, &mut decide)).unzip();
    let reached = times.iter().map(Vec::len).min().unwrap_or(0);
    let mut least = histogram();
    for i in 0..reached {
        least
            .record(times.iter().map(|t| t[i]).min().unwrap_or(1))
            .expect("record");
    }
    Run {
        least_p99: least.value_at_quantile(0.99),
        calls: median(runs.iter().map(|r| r.calls).collect()),
        p50: median(runs.iter().map(|r| r.p50).collect()),
        p99: median(runs.iter().map(|r| r.p99).collect()),
        p999: median(runs.iter().map(|r| r.p999).collect()),
        allowed: runs[0].allowed * 100 / runs[0].calls.max(1),
    }
}

/// The classes of the split table, in order: what decided a check (see [`decided_class`]).
const DECIDED: [&str; 7] = [
    "own rule, exact target",
    "own rule on *",
    "role rule, exact target",
    "role rule on *",
    "not permitted",
    "gate",
    "error",
];

/// What decided a check, for the split table: its class's place in [`DECIDED`].
fn decided_class(check: &Check, d: &Result<Decision, engine::EngineError>) -> usize {
    match d {
        Err(_) => 6,
        Ok(d) => match (&d.deciding_rule, d.reason) {
            (Some(r), _) => match (r.assignee == check.agent, r.target == Target::Any) {
                (true, false) => 0,
                (true, true) => 1,
                (false, false) => 2,
                (false, true) => 3,
            },
            (None, Reason::NotPermitted) => 4,
            (None, _) => 5,
        },
    }
}

/// What decided a check, by name (the split table's rows).
fn decided_by(check: &Check, d: &Result<Decision, engine::EngineError>) -> &'static str {
    DECIDED[decided_class(check, d)]
}

/// The split table: every check once, timed, grouped by (global/account, decided by).
fn split(index: &Index, checks: &[Check], opts: &EngineOptions) -> Vec<(String, u64, u64, u64, u64)> {
    let mut groups: BTreeMap<(bool, &'static str), Histogram<u64>> = BTreeMap::new();
    for c in checks.iter().take(checks.len() / 10) {
        black_box(engine::decide(index, c, opts).ok());
    }
    for c in checks {
        let c = &decoded(c);
        let t0 = Instant::now();
        let d = black_box(engine::decide(index, c, opts));
        let ns = (t0.elapsed().as_nanos() as u64).max(1);
        let deny = d.as_ref().is_ok_and(|d| !d.allowed);
        let key = (c.account.is_some(), decided_by(c, &d));
        groups.entry(key).or_insert_with(histogram).record(ns).expect("record");
        black_box(deny);
    }
    groups
        .into_iter()
        .map(|((account, by), h)| {
            (
                format!("{} / {by}", if account { "account" } else { "global" }),
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
            )
        })
        .collect()
}

/// Live heap bytes (allocated minus freed).
/// Runs this binary again to measure the index of `rules` rules alone (see `memory_only`):
/// (RSS added, live heap bytes added).
fn index_bytes_in_child(shape: &str, rules: usize, tiny: bool) -> (u64, u64) {
    let out = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .env("ENDOCARP_BENCH_MEMORY_ONLY", format!("{shape},{rules}"))
        .env("ENDOCARP_BENCH_TINY", if tiny { "1" } else { "" })
        .output()
        .expect("run the memory measurement");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("index-rss "), field("index-heap "))
}

/// In a fresh process: generate the organisation, then the RSS and the live heap bytes the
/// ODRL index adds, identifiers included (the index keeps the first copy of each string;
/// each event is parsed and dropped as the start-up load does).
fn memory_only(shape: &str, rules: usize, tiny: bool) {
    let org = Org::generate(OrgSpec::named(shape, rules, tiny));
    let rss_before = rss_bytes(std::process::id()).unwrap_or(0);
    let heap_before = counting::live_bytes();
    let mut index = Index::default();
    // Loaded as start-up loads it: in bulk, the role and agent summaries built at the end.
    index.begin_bulk();
    for e in &org.events {
        let change = NewEvent::parse("", e, None, None, BTreeMap::new())
            .expect("generated events are valid")
            .change;
        index.apply(&change);
    }
    // As start-up does: what the load's end frees is purged at once (`alloc::PurgeAtOnce`),
    // then the delay is mimalloc's again and the pages the load freed are handed back.
    let purge = endocarp::alloc::purge_at_once();
    index.end_bulk();
    drop(purge);
    endocarp::alloc::release_free_memory();
    let rss_after = rss_bytes(std::process::id()).unwrap_or(0);
    let heap_after = counting::live_bytes();
    black_box(&index);
    println!("index-rss {}", rss_after.saturating_sub(rss_before));
    println!("index-heap {}", heap_after.saturating_sub(heap_before));
}

/// Tells `perf record` to start or stop sampling (`"enable"`, `"disable"`) through the
/// control FIFO named by `ENDOCARP_BENCH_PERF_CTL`, waiting for its acknowledgement on
/// the FIFO named by `ENDOCARP_BENCH_PERF_ACK` when set. Run as `perf record -D -1
/// --control fifo:<ctl>,<ack> …` (both made with `mkfifo`), a profile holds only the
/// timed passes, not the organisation's build. Does nothing without the variable.
fn perf_control(command: &str) {
    use std::io::{BufRead, Write};
    let Ok(ctl) = std::env::var("ENDOCARP_BENCH_PERF_CTL") else {
        return;
    };
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(&ctl)
        .unwrap_or_else(|e| panic!("perf's control FIFO {ctl}: {e}"));
    writeln!(fifo, "{command}").expect("a command to perf");
    if let Ok(ack) = std::env::var("ENDOCARP_BENCH_PERF_ACK") {
        // "ack\n"
        let ack = std::fs::File::open(&ack).unwrap_or_else(|e| panic!("perf's ack FIFO {ack}: {e}"));
        std::io::BufReader::new(ack)
            .read_until(b'\n', &mut Vec::new())
            .expect("perf's ack");
    }
}

/// Profiling mode (`perf record`): build, then run `n` checks (each decoded afresh, as in
/// `measure`); prints the ns per check, decoding included.
fn perf_only(spec: &str, tiny: bool) {
    let mut parts = spec.split(',');
    let shape = parts.next().unwrap_or("standard").to_string();
    let rules: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let n: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    // Cycle through only the first `repeat_every` checks (1: one check, always hot).
    let repeat_every: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let org = Org::generate(OrgSpec::named(&shape, rules, tiny));
    let explain = std::env::var("ENDOCARP_BENCH_PERF_EXPLAIN").is_ok_and(|v| v == "1");
    // Every entry listed, or as a server lists them (`explain_limit`).
    let explain_limit: usize = std::env::var("ENDOCARP_BENCH_PERF_EXPLAIN_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let checks: Vec<Check> = org
        .checks(200_000, 3)
        .iter()
        .map(|c| Check {
            explain_limit,
            ..to_check(c, explain)
        })
        .collect();
    // The Casbin engine instead, fed its rows from the index.
    let casbin = std::env::var("ENDOCARP_BENCH_PERF_CASBIN").is_ok_and(|v| v == "1");
    let mut all = changes(&org);
    // One policy deactivated (the n-th, `ENDOCARP_BENCH_PERF_DEACTIVATE=n`): not every rule
    // counts as it stands, so an explanation reads each rule's policy while counting.
    if let Some(n) = std::env::var("ENDOCARP_BENCH_PERF_DEACTIVATE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        all.push(Change::Status {
            kind: EntityKind::Policy,
            id: Id::from_trusted(&policy_id(n)),
            active: false,
        });
    }
    let (snapshot, _) = build_v2(&all, casbin);
    drop(org);
    let opts = EngineOptions::default();
    if std::env::var("ENDOCARP_BENCH_AB").is_ok() {
        // In-process A/B: blocks of checks alternate between the two settings, swapped
        // every pass; each (check, setting) keeps its least of the passes it had.
        let passes = 6;
        let block = 500;
        let mut best = vec![[u64::MAX; 2]; checks.len()];
        for p in 0..passes {
            for (i, c) in checks.iter().enumerate() {
                let flag = ((i / block) + p) % 2;
                endocarp::engine::AB.store(flag == 1, std::sync::atomic::Ordering::Relaxed);
                let c = decoded(c);
                let t0 = Instant::now();
                black_box(engine::decide(&snapshot.index, &c, &opts).is_ok());
                let t = t0.elapsed().as_nanos() as u64;
                best[i][flag] = best[i][flag].min(t);
            }
        }
        for flag in 0..2 {
            let mut h = histogram();
            for b in &best {
                h.record(b[flag]).ok();
            }
            println!(
                "AB {flag}: p50 {} p90 {} p99 {} p99.9 {} mean {:.0}",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.mean()
            );
        }
        let faster = best.iter().filter(|b| b[1] < b[0]).count();
        println!("AB: setting 1 faster on {faster} of {}", best.len());
        return;
    }
    // Only the checks whose explanation lists at least this many rules (the long tail).
    let listed_at_least: usize = std::env::var("ENDOCARP_BENCH_PERF_LISTED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let checks: Vec<Check> = if explain && listed_at_least > 0 {
        let long: Vec<Check> = checks
            .into_iter()
            .filter(|c| {
                engine::decide(&snapshot.index, c, &opts)
                    .ok()
                    .and_then(|d| d.explanation)
                    .is_some_and(|e| e.totals.other_rules + e.totals.unenforced_rules >= listed_at_least)
            })
            .collect();
        println!("{} checks list at least {listed_at_least} rules", long.len());
        if long.is_empty() {
            return;
        }
        long
    } else {
        checks
    };
    // Only the slowest checks (the p99's): each timed in three passes over them all (so
    // each time is cold as in the table), the least of its three kept.
    let slowest_per_mille: usize = std::env::var("ENDOCARP_BENCH_PERF_SLOWEST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let checks: Vec<Check> = if slowest_per_mille > 0 {
        let mut timed: Vec<(u64, usize)> = (0..checks.len()).map(|i| (u64::MAX, i)).collect();
        for _ in 0..3 {
            for (t, c) in timed.iter_mut().zip(&checks) {
                let c = decoded(c);
                let t0 = Instant::now();
                black_box(engine::decide(&snapshot.index, &c, &opts).is_ok());
                t.0 = t.0.min(t0.elapsed().as_nanos() as u64);
            }
        }
        timed.sort_unstable_by(|a, b| b.cmp(a));
        timed.truncate((checks.len() * slowest_per_mille / 1000).max(1));
        let slow: Vec<Check> = timed.iter().map(|&(_, i)| checks[i].clone()).collect();
        // What they are: closure sizes (an explanation's assignees), accounts, decisions.
        let mut assignees: Vec<usize> = slow
            .iter()
            .filter_map(|c| {
                let c = Check {
                    explain: true,
                    ..c.clone()
                };
                Some(
                    engine::decide(&snapshot.index, &c, &opts)
                        .ok()?
                        .explanation?
                        .assignees
                        .len(),
                )
            })
            .collect();
        assignees.sort_unstable();
        let in_account = slow.iter().filter(|c| c.account.is_some()).count();
        println!(
            "the slowest {}: {} ns .. {} ns; in an account {in_account}; assignees p10 {} p50 {} p90 {}",
            slow.len(),
            timed.last().map_or(0, |t| t.0),
            timed.first().map_or(0, |t| t.0),
            assignees.get(assignees.len() / 10).copied().unwrap_or(0),
            assignees.get(assignees.len() / 2).copied().unwrap_or(0),
            assignees.get(assignees.len() * 9 / 10).copied().unwrap_or(0),
        );
        slow
    } else {
        checks
    };
    // Five passes over the same checks: on a machine whose speed drifts, the fastest pass
    // is the figure to compare between builds (noise only ever adds time).
    let mut passes = Vec::new();
    let mut allowed = 0u64;
    perf_control("enable");
    for _ in 0..5 {
        let started = Instant::now();
        allowed = 0;
        for i in 0..n {
            let c = decoded(&checks[(i % checks.len()) % repeat_every]);
            let decided = if casbin {
                engine::decide_casbin(&snapshot, &c, &opts)
            } else {
                engine::decide(&snapshot.index, &c, &opts)
            };
            allowed += u64::from(decided.is_ok_and(|d| d.allowed));
        }
        passes.push(started.elapsed().as_nanos() as u64 / n.max(1) as u64);
    }
    perf_control("disable");
    let fastest = passes.iter().copied().min().unwrap_or(0);
    println!(
        "perf {shape} {rules} rules: {n} checks, fastest of 5 passes {fastest} ns per check (passes: {passes:?}), {allowed} allowed"
    );
    if explain {
        // How big the explanations are: rules listed and assignees, by percentile.
        let (mut listed, mut assignees): (Vec<usize>, Vec<usize>) = checks
            .iter()
            .take(n)
            .filter_map(|c| engine::decide(&snapshot.index, c, &opts).ok()?.explanation)
            .map(|e| (e.other_rules.len() + e.unenforced_rules.len(), e.assignees.len()))
            .unzip();
        let at = |v: &mut Vec<usize>, q: f64| {
            v.sort_unstable();
            v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        println!(
            "explanations: other rules p50 {} p99 {} max {}; assignees p50 {} p99 {} max {}",
            at(&mut listed, 0.5),
            at(&mut listed, 0.99),
            at(&mut listed, 1.0),
            at(&mut assignees, 0.5),
            at(&mut assignees, 0.99),
            at(&mut assignees, 1.0)
        );
    }
}

/// One `#[inline(never)]` function per (global/account, what decided) that decides a check,
/// so that a cache simulator charges each class its own misses (see [`cachesim_only`]).
/// Each body differs by its class number, so the compiler cannot merge them into one.
mod probe {
    use super::{Check, EngineOptions, Index, black_box, engine};
    type Probe = fn(&Index, &Check, &EngineOptions) -> bool;
    macro_rules! probes {
        ($($n:literal $name:ident),* $(,)?) => {
            $(
                #[inline(never)]
                fn $name(index: &Index, c: &Check, opts: &EngineOptions) -> bool {
                    black_box($n);
                    engine::decide(index, c, opts).is_ok_and(|d| d.allowed)
                }
            )*
            /// Global checks' probes first, in the order of `DECIDED`, then accounts'.
            pub const ALL: [(&str, Probe); 2 * super::DECIDED.len()] = [$((stringify!($name), $name as Probe)),*];
        };
    }
    probes!(
        0 global_own_exact, 1 global_own_any, 2 global_role_exact, 3 global_role_any,
        4 global_not_permitted, 5 global_gate, 6 global_error,
        7 account_own_exact, 8 account_own_any, 9 account_role_exact, 10 account_role_any,
        11 account_not_permitted, 12 account_gate, 13 account_error,
    );
}

/// Cache misses per check by what decided, for a cache simulator: this VM exposes no
/// hardware counters to `perf stat` (issue 14 point 7). `ENDOCARP_BENCH_CACHESIM=<shape>,
/// <rules>,<checks>` builds the index, classifies the table's 200,000 checks once (global or
/// account, and what decided), then decides `<checks>` of them in the table's order, each
/// through its class's probe (`probe::*`), and prints the checks per probe. Run under
/// `valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no
/// --toggle-collect='engines::probe::*'`: each probe's inclusive misses divided by its
/// checks are that class's misses per check (`scripts/cachesim` runs it all). With
/// `ENDOCARP_BENCH_CACHESIM_CTL=<dir>`, once the index is built the bench creates
/// `<dir>/built` and spins until `<dir>/instrumenting` exists, so that a simulator started
/// with instrumentation off (`--instr-atstart=no`, then `callgrind_control -i on`) skips the
/// build, a hundred times slower simulated, and still sees the classifying pass warm its
/// caches. (It spins rather than blocks: callgrind reads its commands only while the
/// program runs.)
fn cachesim_only(spec: &str, tiny: bool) {
    let mut parts = spec.split(',');
    let shape = parts.next().unwrap_or("standard").to_string();
    let rules: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let n: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let org = Org::generate(OrgSpec::named(&shape, rules, tiny));
    let checks: Vec<Check> = org
        .checks(if tiny { 2_000 } else { 200_000 }, 3)
        .iter()
        .map(|c| to_check(c, false))
        .collect();
    let (snapshot, _) = build_v2(&changes(&org), false);
    drop(org);
    let opts = EngineOptions::default();
    if let Ok(dir) = std::env::var("ENDOCARP_BENCH_CACHESIM_CTL") {
        let dir = std::path::Path::new(&dir);
        std::fs::write(dir.join("built"), b"").expect("the cache simulator's control directory");
        while !dir.join("instrumenting").exists() {
            // The script removes its directory when it stops: then nobody will answer.
            assert!(
                dir.exists(),
                "the cache simulator's script stopped before instrumenting"
            );
            std::hint::spin_loop();
        }
    }
    // The classifying pass also warms the caches as the table's warm-up does.
    let class: Vec<usize> = checks
        .iter()
        .map(|c| {
            let c = decoded(c);
            let d = engine::decide(&snapshot.index, &c, &opts);
            decided_class(&c, &d) + if c.account.is_some() { DECIDED.len() } else { 0 }
        })
        .collect();
    let mut counts = [0u64; probe::ALL.len()];
    let mut allowed = 0u64;
    for i in 0..n {
        let at = i % checks.len();
        let c = decoded(&checks[at]);
        counts[class[at]] += 1;
        allowed += u64::from((probe::ALL[class[at]].1)(&snapshot.index, &c, &opts));
    }
    println!("cachesim {shape} {rules} rules: {n} checks, {allowed} allowed");
    for ((name, _), count) in probe::ALL.iter().zip(counts) {
        if count > 0 {
            println!("cachesim checks engines::probe::{name} {count}");
        }
    }
}

/// One change of each kind the publish table measures, drawn at random.
fn publish_change(kind: &str, rng: &mut Rng, spec: &OrgSpec, members: &[(Id, Id)], n: usize) -> Change {
    let id = |s: String| Id::from_trusted(&s);
    let role = |rng: &mut Rng| id(role_id(spec.levels - 1, rng.below(spec.roles / 2)));
    let rule = |assignee: Id, target: Target, policy: &str| Rule {
        policy: Id::from_trusted(policy),
        kind: RuleKind::Permission,
        assignee,
        action: Action::parse("action", "odrl:read").unwrap(),
        target,
        condition: None,
    };
    match kind {
        // Grants go into the organisation's existing policies, on existing targets.
        "exact grant" => Change::Rule {
            rule: rule(
                role(rng),
                Target::One(id(target_id(rng.below((spec.rules / 10).max(1))))),
                &policy_id(rng.below((spec.rules / 10_000).clamp(1, 100))),
            ),
            on: true,
        },
        // A grant on a target no rule named before, landing between two existing names.
        NEW_TARGET => {
            let near = target_id(rng.below((spec.rules / 10).max(1)));
            let name = format!("{}-new-{n}", near.trim_end_matches(".files.example"));
            Change::Rule {
                rule: rule(
                    role(rng),
                    Target::One(id(name)),
                    &policy_id(rng.below((spec.rules / 10_000).clamp(1, 100))),
                ),
                on: true,
            }
        }
        "* grant" => Change::Rule {
            rule: rule(
                role(rng),
                Target::Any,
                &policy_id(rng.below((spec.rules / 10_000).clamp(1, 100))),
            ),
            on: true,
        },
        "agent edge" => Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id(agent_id(rng.below(spec.agents))),
            role: role(rng),
            on: true,
        },
        "role-to-role edge" => Change::GlobalEdge {
            source: EdgeSource::RoleToRole,
            node: role(rng),
            role: id(role_id(0, rng.below((spec.roles / 10).max(1)))),
            on: true,
        },
        "deactivate a policy of 100k rules" => Change::Status {
            kind: EntityKind::Policy,
            id: Id::from_trusted(BIG_POLICY),
            active: n % 2 == 1,
        },
        _ => {
            let (account, agent) = members[rng.below(members.len())].clone();
            Change::MemberRemoved { account, agent }
        }
    }
}

const BIG_POLICY: &str = "policy-bulk.corp.example";

/// Measured beside [`KINDS`] but not among the earlier writes (which would otherwise keep
/// adding targets).
const NEW_TARGET: &str = "exact grant on a new target";

const KINDS: [&str; 6] = [
    "exact grant",
    "* grant",
    "agent edge",
    "role-to-role edge",
    "deactivate a policy of 100k rules",
    "MemberRemoved",
];

/// The index the publish table writes to, loaded as start-up loads it: the organisation, a
/// policy holding 100k rules (1k when tiny), role summaries current; and memberships a
/// MemberRemoved can remove.
fn publish_base(org: &Org, base: &[Change], tiny: bool, rng: &mut Rng) -> (Index, Vec<(Id, Id)>) {
    let spec = org.spec;
    let bulk = if tiny { 1_000 } else { 100_000 };
    let mut index = Index::default();
    // As start-up loads the read model (`end_bulk` also makes the role summaries current).
    index.begin_bulk();
    for c in base {
        index.apply(c);
    }
    for i in 0..bulk {
        index.apply(&Change::Rule {
            rule: Rule {
                policy: Id::from_trusted(BIG_POLICY),
                kind: RuleKind::Permission,
                assignee: Id::from_trusted(&role_id(spec.levels - 1, rng.below(spec.roles / 2))),
                action: Action::parse("action", "odrl:display").unwrap(),
                target: Target::One(Id::from_trusted(&target_id(i))),
                condition: None,
            },
            on: true,
        });
    }
    index.end_bulk();
    // Memberships to remove (a removal of one that does not exist changes nothing).
    let members: Vec<(Id, Id)> = base
        .iter()
        .filter_map(|c| match c {
            Change::MemberSet { account, agent, .. } => Some((account.clone(), agent.clone())),
            _ => None,
        })
        .collect();
    (index, members)
}

/// `samples` writes of one kind to `index`, each published beside the snapshots before it
/// (kept, as checks in flight keep theirs): their times in ns and bytes allocated.
fn publish_samples(
    index: &Index,
    kind: &str,
    samples: usize,
    rng: &mut Rng,
    spec: &OrgSpec,
    members: &[(Id, Id)],
) -> (Vec<u64>, Vec<u64>) {
    let mut times = Vec::with_capacity(samples);
    let mut bytes = Vec::with_capacity(samples);
    let mut kept = Vec::with_capacity(samples);
    for n in 0..samples {
        let change = publish_change(kind, rng, spec, members, 1_000_000 + n);
        let (next, ns, b) = timed_publish(index, &change);
        times.push(ns);
        bytes.push(b);
        kept.push(next);
    }
    drop(kept);
    (times, bytes)
}

/// One write published beside `index` (which stays as it was): the new snapshot, the
/// time it took in ns and the bytes it allocated (this thread's: a background fold's
/// thread running meanwhile is not the write's).
fn timed_publish(index: &Index, change: &Change) -> (Index, u64, u64) {
    let b0 = counting::allocated_here();
    let t0 = Instant::now();
    let mut next = index.clone();
    next.apply(change);
    let ns = t0.elapsed().as_nanos() as u64;
    (next, ns, counting::allocated_here() - b0)
}

/// `ENDOCARP_BENCH_BIG_ROLE=n`: one role held by `n` agents (loaded in bulk), then 200
/// writes each giving it one more holder, each published beside the same snapshot: the
/// median and largest bytes a write allocates (the role's reverse row of holders is `n`
/// long, so this is what a write to a long row copies).
fn big_role(n: usize) {
    let edge = |a: usize| Change::GlobalEdge {
        source: EdgeSource::Role,
        node: Id::from_trusted(&agent_id(a)),
        role: Id::from_trusted("urn:role:everyone"),
        on: true,
    };
    let mut index = Index::default();
    index.begin_bulk();
    for a in 0..n {
        index.apply(&edge(a));
    }
    index.end_bulk();
    let mut rng = Rng(5);
    let bytes: Vec<u64> = (0..200)
        .map(|_| timed_publish(&index, &edge(n + rng.below(n))).2)
        .collect();
    let most = bytes.iter().copied().max().unwrap_or(0);
    println!(
        "a role held by {n} agents, one more holder: median {} B, largest {most} B a write",
        median(bytes)
    );
}

/// Profiling mode for writes (`perf record`): build the publish table's index, then
/// publish `n` changes of one kind (rounds of 400, as the table does) and print the median.
fn publish_only(spec: &str, tiny: bool) {
    let mut parts = spec.split(',');
    let shape = parts.next().unwrap_or("standard").to_string();
    let rules: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let kind = parts.next().unwrap_or("exact grant").to_string();
    let n: usize = parts.next().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let org = Org::generate(OrgSpec::named(&shape, rules, tiny));
    let parsed = changes(&org);
    let mut rng = Rng(99);
    let (index, members) = publish_base(&org, &parsed, tiny, &mut rng);
    drop(parsed);
    let mut times = Vec::new();
    while times.len() < n {
        times.extend(publish_samples(&index, &kind, 400, &mut rng, &org.spec, &members).0);
    }
    println!(
        "publish {shape} {rules} rules, {kind}: {} writes, median {} ns",
        times.len(),
        median(times)
    );
}

/// How a one-gap row's names land, in words.
fn gap_words(gap: Gap) -> &'static str {
    match gap {
        Gap::Run => "a run",
        Gap::Meeting => "two runs meeting",
        Gap::Converging => "converging",
    }
}

/// Writes naming new names that all land in one gap between two existing names
/// (`ENDOCARP_BENCH_ONE_GAP` of them, 64 by default), each published beside the snapshot
/// before it (kept, so rows are shared): grants on new targets (`agents` false) or edges
/// from new agents to a role (`agents` true), the names as `gap` says: in a run (each
/// just below the one before, as an import of numbered names adds them), two runs meeting
/// (from both ends of the gap in turn), where every name takes a label of its own; or
/// converging on the gap with their prefixes misleading (the gap runs out after a few
/// dozen names and the names around it are relabelled: a relabelled target's new label is
/// recorded and settled by the writes after it, a relabelled node's written into its row
/// at once). The row gives the median and, in the p99 column, the slowest write.
fn one_gap(
    index: &Index,
    spec: &OrgSpec,
    done: usize,
    rng: &mut Rng,
    agents: bool,
    gap: Gap,
) -> (&'static str, usize, u64, u64, u64, u64) {
    let writes = std::env::var("ENDOCARP_BENCH_ONE_GAP")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let near = if agents {
        agent_id(1 + rng.below(spec.agents - 1))
    } else {
        target_id(rng.below((spec.rules / 10).max(2)))
    };
    let (mut times, mut bytes, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    let mut current = index.clone();
    for name in one_gap_names(&near, writes, gap) {
        let name = Id::from_trusted(&name);
        let role = Id::from_trusted(&role_id(spec.levels - 1, rng.below(spec.roles / 2)));
        let change = if agents {
            Change::GlobalEdge {
                source: EdgeSource::Role,
                node: name,
                role,
                on: true,
            }
        } else {
            Change::Rule {
                rule: Rule {
                    policy: Id::from_trusted(&policy_id(0)),
                    kind: RuleKind::Permission,
                    assignee: role,
                    action: Action::parse("action", "odrl:read").expect("a vocabulary action"),
                    target: Target::One(name),
                    condition: None,
                },
                on: true,
            }
        };
        let (next, ns, b) = timed_publish(&current, &change);
        times.push(ns);
        bytes.push(b);
        kept.push(std::mem::replace(&mut current, next));
    }
    let (slowest, most) = (times.iter().copied().max(), bytes.iter().copied().max());
    println!(
        "one gap ({writes} {}, {}): {} targets moved by relabels and not yet settled after them",
        if agents { "agents" } else { "targets" },
        gap_words(gap),
        current.moved_targets()
    );
    (
        match (agents, gap) {
            (true, Gap::Run) => "edges from new agents in one gap, a run (p99 column: the slowest)",
            (true, Gap::Meeting) => "edges from new agents in one gap, two runs meeting (p99 column: the slowest)",
            (true, Gap::Converging) => "edges from new agents in one gap, converging (p99 column: the slowest)",
            (false, Gap::Run) => "grants on new targets in one gap, a run (p99 column: the slowest)",
            (false, Gap::Meeting) => "grants on new targets in one gap, two runs meeting (p99 column: the slowest)",
            (false, Gap::Converging) => "grants on new targets in one gap, converging (p99 column: the slowest)",
        },
        done,
        median(times),
        slowest.unwrap_or(0),
        median(bytes),
        most.unwrap_or(0),
    )
}

/// Publish cost per kind of change after `earlier` writes: (kind, earlier, median ns,
/// p99 ns, median bytes, max bytes).
fn publish(org: &Org, base: &[Change], tiny: bool) -> Vec<(&'static str, usize, u64, u64, u64, u64)> {
    let spec = org.spec;
    let mut rng = Rng(99);
    let (mut index, members) = publish_base(org, base, tiny, &mut rng);
    let samples = if tiny { 20 } else { 400 };
    let mut out = Vec::new();
    // The earlier writes remove memberships of the first half only, so a sample's
    // MemberRemoved still finds its membership there after 60k of them.
    let (early, sampled) = members.split_at(members.len() / 2);
    let early = if early.is_empty() { sampled } else { early };
    let mut done = 0;
    for earlier in [0usize, 10_000, 60_000] {
        let earlier = if tiny { earlier / 100 } else { earlier };
        // Earlier writes, each published as the projector would (the previous snapshot
        // dropped once no check holds it).
        while done < earlier {
            let kind = KINDS[done % KINDS.len()];
            let change = publish_change(kind, &mut rng, &spec, early, done);
            let mut next = index.clone();
            next.apply(&change);
            index = next;
            done += 1;
        }
        for kind in KINDS.into_iter().chain([NEW_TARGET]) {
            let (times, bytes) = publish_samples(&index, kind, samples, &mut rng, &spec, sampled);
            let max_bytes = bytes.iter().copied().max().unwrap_or(0);
            let mut sorted = times.clone();
            sorted.sort_unstable();
            let p99 = sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)];
            out.push((kind, earlier, median(times), p99, median(bytes), max_bytes));
        }
    }
    for gap in [Gap::Run, Gap::Meeting, Gap::Converging] {
        out.push(one_gap(&index, &spec, done, &mut rng, false, gap));
        out.push(one_gap(&index, &spec, done, &mut rng, true, gap));
    }
    // Folding the name tables' deltas into new bases: a write does it once the delta holds
    // more than an eighth of the base; here, `fresh` new agents' names at once.
    let fresh = if tiny { 500 } else { 10_000 };
    let mut grown = index.clone();
    grown.begin_bulk();
    for i in 0..fresh {
        grown.apply(&Change::GlobalEdge {
            source: EdgeSource::Role,
            node: Id::from_trusted(&format!("agent:new-{i}")),
            role: Id::from_trusted(&role_id(spec.levels - 1, rng.below(spec.roles / 2))),
            on: true,
        });
    }
    // A row measured once: its time and bytes are its median and its p99 / max.
    let once = |kind: &'static str, ns: u64, bytes: u64| (kind, done, ns, ns, bytes, bytes);
    let mut background = grown.clone();
    let b0 = counting::allocated();
    let t0 = Instant::now();
    grown.compact_names();
    let took = t0.elapsed().as_nanos() as u64;
    let bytes = counting::allocated() - b0;
    out.push(once("fold the name tables now (10k new names)", took, bytes));
    // What a write pays when it starts the same fold in the background, in this thread's
    // own CPU time and bytes (on one core the new thread may run before the clock is read
    // again), then the whole fold until a write can swap the new bases in.
    let b0 = counting::allocated();
    let here0 = counting::allocated_here();
    let t0 = Instant::now();
    let cpu0 = thread_cpu_ns();
    background.fold_names_in_background();
    let start = thread_cpu_ns() - cpu0;
    let start_bytes = counting::allocated_here() - here0;
    background.finish_name_folds();
    let whole = t0.elapsed().as_nanos() as u64;
    let whole_bytes = counting::allocated() - b0;
    out.push(once("start folding them in the background (CPU)", start, start_bytes));
    out.push(once("… until the background fold is swapped in", whole, whole_bytes));
    // The role summaries: built at once (as the end of a bulk load does), and, after a
    // role-to-role edge dropped them, what starting a background build costs the writer
    // (its own CPU) and the whole build until it is installed.
    let mut summarized = index.clone();
    let b0 = counting::allocated();
    let t0 = Instant::now();
    summarized.summarize();
    out.push(once(
        "build the role summaries now",
        t0.elapsed().as_nanos() as u64,
        counting::allocated() - b0,
    ));
    let mut background = summarized;
    background.apply(&publish_change(
        "role-to-role edge",
        &mut rng,
        &spec,
        &members,
        2_000_000,
    ));
    let b0 = counting::allocated();
    let here0 = counting::allocated_here();
    let t0 = Instant::now();
    let cpu0 = thread_cpu_ns();
    background.refresh_summaries();
    let start = thread_cpu_ns() - cpu0;
    let start_bytes = counting::allocated_here() - here0;
    assert!(background.finish_summaries(), "a build nothing made stale is installed");
    out.push(once("start building them in the background (CPU)", start, start_bytes));
    out.push(once(
        "… until the background build is installed",
        t0.elapsed().as_nanos() as u64,
        counting::allocated() - b0,
    ));
    out
}

/// CPU time this thread has used, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let tiny = std::env::var("ENDOCARP_BENCH_TINY").is_ok_and(|v| !v.is_empty());
    if let Ok(v) = std::env::var("ENDOCARP_BENCH_MEMORY_ONLY") {
        let (shape, rules) = v.split_once(',').unwrap_or(("standard", v.as_str()));
        return memory_only(shape, rules.parse().unwrap_or(1_000), tiny);
    }
    if let Ok(v) = std::env::var("ENDOCARP_BENCH_PERF") {
        return perf_only(&v, tiny);
    }
    if let Ok(v) = std::env::var("ENDOCARP_BENCH_CACHESIM") {
        return cachesim_only(&v, tiny);
    }
    if let Ok(v) = std::env::var("ENDOCARP_BENCH_PUBLISH_ONLY") {
        return publish_only(&v, tiny);
    }
    if let Ok(v) = std::env::var("ENDOCARP_BENCH_BIG_ROLE") {
        return big_role(v.parse().unwrap_or(1_000_000));
    }
    println!(
        "Allocator: the server's (mimalloc), transparent huge pages {}.\n",
        endocarp::alloc::huge_pages_setting()
    );
    let flag = |name: &str| std::env::var(name).map_or(true, |v| v != "0");
    let sizes: Vec<usize> = match std::env::var("ENDOCARP_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) if tiny => vec![300, 2_000],
        Err(_) => vec![1_000, 100_000, 1_000_000],
    };
    let shapes: Vec<String> = std::env::var("ENDOCARP_BENCH_SHAPES")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_else(|_| vec!["standard".into(), "deep".into()]);
    let budget = if tiny {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(3)
    };
    let opts = EngineOptions::default();
    let mut memory = Vec::new();
    let mut splits = Vec::new();
    let mut publishes = Vec::new();
    println!(
        "| shape | rules | assignments | engine | calls (median run) | p50 | p99 | p99.9 | p99, each check's least of 3 runs | allowed |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for shape in &shapes {
        for &rules in &sizes {
            let org = Org::generate(OrgSpec::named(shape, rules, tiny));
            let parsed = changes(&org);
            let cases = org.checks(if tiny { 2_000 } else { 200_000 }, 3);
            let checks: Vec<Check> = cases.iter().map(|c| to_check(c, false)).collect();
            let explained: Vec<Check> = cases.iter().map(|c| to_check(c, true)).collect();
            // As the service explains by default: 1,000 entries a list at most.
            let explained_by_default: Vec<Check> = explained
                .iter()
                .map(|c| Check {
                    explain_limit: endocarp::domain::decision::DEFAULT_EXPLAIN_LIMIT,
                    ..c.clone()
                })
                .collect();
            let rows = parsed.len();
            memory.push((shape.clone(), rules, rows, index_bytes_in_child(shape, rules, tiny)));
            // The build is timed without the Casbin rows; the Casbin engine gets its own snapshot.
            let (snapshot, built) = build_v2(&parsed, false);
            let checks_on = flag("ENDOCARP_BENCH_CHECKS");
            let mut results = Vec::new();
            if checks_on {
                results.push((
                    "ODRL engine (index v2)",
                    median_of_three(&checks, budget, |c| {
                        engine::decide(&snapshot.index, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
                results.push((
                    "ODRL engine, explain",
                    median_of_three(&explained, budget, |c| {
                        engine::decide(&snapshot.index, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
                results.push((
                    "ODRL engine, explain (default explain_limit, 1,000)",
                    median_of_three(&explained_by_default, budget, |c| {
                        engine::decide(&snapshot.index, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
                // One policy with a conflict strategy switches every check to collecting
                // every applicable rule and resolving the strategies (docs/CONTRACT.md §1).
                let mut strategy = snapshot.index.clone();
                strategy.apply(&Change::PolicyCreated {
                    policy: Id::parse("policy", &policy_id(0)).unwrap(),
                    policy_type: None,
                    conflict: Some(Conflict::Perm),
                });
                results.push((
                    "ODRL engine, one policy with odrl:perm",
                    median_of_three(&checks, budget, |c| {
                        engine::decide(&strategy, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
                // Constraints on every fourth rule; the checks carry a context that
                // satisfies them, so each constrained rule offered is evaluated.
                let (with_constraints, _) = build_v2(&constrained(&parsed), false);
                let in_context: Vec<Check> = checks
                    .iter()
                    .map(|c| Check {
                        context: research(),
                        ..c.clone()
                    })
                    .collect();
                results.push((
                    "ODRL engine, constraints on every 4th rule (1 or 2 atomic), with a context",
                    median_of_three(&in_context, budget, |c| {
                        engine::decide(&with_constraints.index, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
                drop(with_constraints);
                // Every checked target in one of 64 asset collections (holding no rules): what
                // looking beyond the target's own row costs once collections are in use.
                let mut collected = snapshot.index.clone();
                let mut seen = std::collections::HashSet::new();
                for c in &checks {
                    if seen.insert(c.target.clone()) {
                        collected.apply(&Change::AssetCollection {
                            asset: c.target.clone(),
                            collection: Id::parse("collection", &format!("collection-{}", seen.len() % 64)).unwrap(),
                            on: true,
                        });
                    }
                }
                results.push((
                    "ODRL engine, every target in an asset collection",
                    median_of_three(&checks, budget, |c| {
                        engine::decide(&collected, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
                drop(collected);
                splits.push((shape.clone(), rules, split(&snapshot.index, &checks, &opts)));
            }
            if checks_on && rules <= 100_000 {
                let (with_rows, _) = build_v2(&parsed, true);
                results.push((
                    "Casbin engine (rows from index v2)",
                    median_of_three(&checks, budget, |c| {
                        engine::decide_casbin(&with_rows, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
            }
            if flag("ENDOCARP_BENCH_PUBLISH") && (rules == *sizes.iter().max().unwrap_or(&rules)) {
                publishes.push((shape.clone(), rules, publish(&org, &parsed, tiny)));
            }
            drop(snapshot);
            let mut reference_built = None;
            if checks_on && flag("ENDOCARP_BENCH_REFERENCE") {
                let started = Instant::now();
                let mut old = reference::Index::default();
                for c in &parsed {
                    old.apply(c);
                }
                reference_built = Some(started.elapsed());
                results.push((
                    "reference engine (before v2)",
                    median_of_three(&checks, budget, |c| {
                        reference::decide(&old, c, &opts).is_ok_and(|d| d.allowed)
                    }),
                ));
            }
            for (name, r) in results {
                println!(
                    "| {shape} | {rules} | {} | {name} | {} | {} | {} | {} | {} | {}% |",
                    org.assignments(),
                    r.calls,
                    fmt_ns(r.p50),
                    fmt_ns(r.p99),
                    fmt_ns(r.p999),
                    fmt_ns(r.least_p99),
                    r.allowed
                );
            }
            println!(
                "| {shape} | {rules} | build from parsed events: index v2 {:.2} s{} | | | | | | | |",
                built.as_secs_f64(),
                reference_built.map_or(String::new(), |t| format!(", reference {:.2} s", t.as_secs_f64()))
            );
        }
    }
    println!();
    println!("| shape | rules | checks by what decided | share | p50 | p99 | p99.9 |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    for (shape, rules, groups) in splits {
        let total: u64 = groups.iter().map(|g| g.1).sum();
        for (name, n, p50, p99, p999) in groups {
            println!(
                "| {shape} | {rules} | {name} | {:.1}% | {} | {} | {} |",
                n as f64 * 100.0 / total.max(1) as f64,
                fmt_ns(p50),
                fmt_ns(p99),
                fmt_ns(p999)
            );
        }
    }
    println!();
    println!(
        "| shape | rules | rows (rules + assignments) | index v2 RSS added | RSS bytes per row | live heap bytes per row |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (shape, rules, rows, (rss, heap)) in memory {
        println!(
            "| {shape} | {rules} | {rows} | {:.1} MiB | {:.0} | {:.0} |",
            rss as f64 / 1048576.0,
            rss as f64 / rows as f64,
            heap as f64 / rows as f64
        );
    }
    println!();
    println!("| shape | rules | change | earlier writes | publish median | publish p99 | bytes median | bytes max |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for (shape, rules, rows) in publishes {
        for (kind, earlier, med, p99, b_med, b_max) in rows {
            println!(
                "| {shape} | {rules} | {kind} | {earlier} | {} | {} | {:.1} KiB | {:.1} KiB |",
                fmt_ns(med),
                fmt_ns(p99),
                b_med as f64 / 1024.0,
                b_max as f64 / 1024.0
            );
        }
    }
    if tiny {
        // The cache simulator's mode, so that it cannot rot either.
        cachesim_only("deep,300,2000", true);
    }
}
