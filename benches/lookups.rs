//! Look-ups on the 1M-rule organisation (issue 15), one core, one call at a time, timed
//! into HDR histograms (no timing is asserted anywhere):
//!
//! - `LookupTargets` first page (100) for agents of the check mix, `odrl:read` and
//!   `odrl:print`;
//! - `LookupAgents` on a target whose permission is held by a role that 10,000 agents hold
//!   (`role-approvers`, a custom action so that no `*` rule of the organisation adds
//!   everyone): the first page (100), and the whole answer through pages of 1,000, in
//!   agents per second; the same for an ordinary target with `odrl:read`, where rules on
//!   `*` make almost every agent the answer;
//! - `ListActions` for (agent, target) pairs of the check mix;
//! - the three again with one policy given the `odrl:perm` conflict strategy (every
//!   candidate is then checked whole);
//! - the reverse structures' memory: the live heap of the index, then again once its
//!   reverse structures are dropped, per rule or assignment (in a fresh process).
//!
//! `cargo bench --bench lookups`; `ENDOCARP_BENCH_RULES=100000` for another size,
//! `ENDOCARP_BENCH_SHAPES=standard,deep`; `ENDOCARP_BENCH_TINY=1 cargo test --benches` runs
//! it tiny so it cannot rot. Results and the machine: `docs/BENCHMARKS.md`.

use endocarp::bench::fmt_ns;
use endocarp::bench::org::{Gap, Org, OrgSpec, agent_id, one_gap_names, policy_id, role_id};
use endocarp::domain::{Action, Change, Conflict, EdgeSource, Id, NewEvent, Rule, RuleKind, Target};
use endocarp::engine::lookup::{self, Window};
use endocarp::engine::{EngineOptions, Index};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

const APPROVERS: &str = "role-approvers.corp.example";
const APPROVALS: &str = "doc-approvals.files.example";
const APPROVE: &str = "urn:endocarp:action:approve";

/// The organisation's changes, plus `holders` agents holding `role-approvers`, whose one
/// permission is `approve` on `doc-approvals`.
fn changes(org: &Org, holders: usize) -> Vec<Change> {
    let mut out: Vec<Change> = org
        .events
        .iter()
        .map(|e| {
            NewEvent::parse("", e, None, None, BTreeMap::new())
                .expect("generated events are valid")
                .change
        })
        .collect();
    let id = |s: &str| Id::from_trusted(s);
    out.push(Change::Rule {
        rule: Rule {
            policy: id("policy-approvals.corp.example"),
            kind: RuleKind::Permission,
            assignee: id(APPROVERS),
            action: Action::parse("action", APPROVE).expect("valid"),
            target: Target::One(id(APPROVALS)),
            condition: None,
        },
        on: true,
    });
    let step = (org.spec.agents / holders.max(1)).max(1);
    for n in (0..org.spec.agents).step_by(step).take(holders) {
        out.push(Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id(&agent_id(n)),
            role: id(APPROVERS),
            on: true,
        });
    }
    out
}

/// Builds the index as start-up does (a bulk load).
fn build(changes: &[Change]) -> Index {
    let mut index = Index::default();
    index.begin_bulk();
    for c in changes {
        index.apply(c);
    }
    index.end_bulk();
    index.set_revision(changes.len() as u64);
    index
}

/// Runs `f` once per input (cycling) for up to `budget` or `max` calls; p50, p99, p99.9
/// and the calls made.
fn timed<T>(inputs: &[T], budget: Duration, max: usize, mut f: impl FnMut(&T) -> usize) -> (u64, u64, u64, u64) {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for x in inputs.iter().take(200) {
        black_box(f(x));
    }
    let started = Instant::now();
    let mut i = 0;
    while i < max && (i < 50 || started.elapsed() < budget) {
        let t = Instant::now();
        black_box(f(&inputs[i % inputs.len()]));
        h.record(t.elapsed().as_nanos() as u64).expect("in range");
        i += 1;
    }
    (
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        i as u64,
    )
}

/// In a fresh process: the live heap of the index, and again without its reverse rows.
fn memory_only(shape: &str, rules: usize, tiny: bool) {
    let org = Org::generate(OrgSpec::named(shape, rules, tiny));
    let all = changes(&org, if tiny { 100 } else { 10_000 });
    let rows = org.spec.rules + org.assignments();
    drop(org);
    let before = counting::live_bytes();
    let started = Instant::now();
    let mut index = build(&all);
    eprintln!("built in {:.2} s", started.elapsed().as_secs_f64());
    let with = counting::live_bytes() - before;
    index.bench_drop_reverse();
    let without = counting::live_bytes() - before;
    black_box(&index);
    println!("heap-with {with}\nheap-without {without}\nrows {rows}");
}

fn memory_in_child(shape: &str, rules: usize, tiny: bool) -> (u64, u64, u64) {
    let out = std::process::Command::new(std::env::current_exe().expect("this binary"))
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
    (field("heap-with "), field("heap-without "), field("rows "))
}

fn main() {
    let tiny = std::env::var("ENDOCARP_BENCH_TINY").is_ok_and(|v| !v.is_empty());
    if let Ok(v) = std::env::var("ENDOCARP_BENCH_MEMORY_ONLY") {
        let (shape, rules) = v.split_once(',').expect("shape,rules");
        memory_only(shape, rules.parse().expect("rules"), tiny);
        return;
    }
    let rules: usize = std::env::var("ENDOCARP_BENCH_RULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if tiny { 2_000 } else { 1_000_000 });
    let shapes: Vec<String> = std::env::var("ENDOCARP_BENCH_SHAPES")
        .unwrap_or_else(|_| "standard".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let budget = if tiny {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(3)
    };
    let max = if tiny { 200 } else { 1_000_000 };
    let holders = if tiny { 100 } else { 10_000 };
    let opts = EngineOptions::default();
    println!("## Look-ups (benches/lookups.rs)\n");
    println!("| shape | rules | look-up | p50 | p99 | p99.9 | calls | answer |");
    println!("|---|---:|---|---:|---:|---:|---:|---|");
    let mut notes = Vec::new();
    for shape in &shapes {
        let org = Org::generate(OrgSpec::named(shape, rules, tiny));
        let mix = org.checks(20_000, 3);
        let all = changes(&org, holders);
        let started = Instant::now();
        let index = build(&all);
        notes.push(format!(
            "{shape}: built {} changes in {:.2} s",
            all.len(),
            started.elapsed().as_secs_f64()
        ));
        let agents: Vec<Id> = mix.iter().map(|c| Id::from_trusted(&c.agent)).collect();
        let row = |name: &str, (p50, p99, p999, n): (u64, u64, u64, u64), answer: String| {
            println!(
                "| {shape} | {rules} | {name} | {} | {} | {} | {n} | {answer} |",
                fmt_ns(p50),
                fmt_ns(p99),
                fmt_ns(p999)
            );
        };
        for act in ["odrl:read", "odrl:print"] {
            let action = Action::parse("action", act).expect("valid");
            let (mut every, mut items, mut calls) = (0usize, 0usize, 0usize);
            let r = timed(&agents, budget, max, |a| {
                let p = lookup::targets(&index, a, None, &action, &opts, Window::page(None, 100)).expect("no error");
                every += usize::from(p.every_target);
                items += p.items.len();
                calls += 1;
                p.items.len()
            });
            row(
                &format!("LookupTargets {act}, first page of 100"),
                r,
                format!(
                    "{:.0}% every-target; {:.1} items a page",
                    100.0 * every as f64 / calls.max(1) as f64,
                    items as f64 / calls.max(1) as f64
                ),
            );
        }
        // LookupAgents: the approvers' target, and an ordinary one.
        let cases = [
            (APPROVE, APPROVALS.to_string(), "role held by 10k agents, custom action"),
            ("odrl:read", mix[0].target.clone(), "ordinary target, odrl:read"),
        ];
        for (act, target, what) in cases {
            let action = Action::parse("action", act).expect("valid");
            let target = Id::from_trusted(&target);
            let r = timed(&[()], budget, if tiny { 20 } else { 2_000 }, |_| {
                lookup::agents(&index, &action, &target, None, &opts, Window::page(None, 100))
                    .expect("no error")
                    .items
                    .len()
            });
            // The whole answer through pages of 1,000, each resumed from the last name.
            let started = Instant::now();
            let (mut total, mut pages) = (0usize, 0usize);
            let mut after: Option<Id> = None;
            loop {
                let p = lookup::agents(
                    &index,
                    &action,
                    &target,
                    None,
                    &opts,
                    Window::page(after.as_ref().map(|a| a.as_str()), 1000),
                )
                .expect("no error");
                total += p.items.len();
                pages += 1;
                after = p.items.last().cloned();
                if !p.more {
                    break;
                }
            }
            let whole = started.elapsed();
            row(
                &format!("LookupAgents first page of 100 ({what})"),
                r,
                format!(
                    "whole answer: {total} agents in {pages} pages of 1,000 in {} = **{:.2} M agents/s**",
                    fmt_ns(whole.as_nanos() as u64),
                    total as f64 / whole.as_secs_f64().max(1e-9) / 1e6
                ),
            );
        }
        let pairs: Vec<(Id, Id)> = mix
            .iter()
            .map(|c| (Id::from_trusted(&c.agent), Id::from_trusted(&c.target)))
            .collect();
        let (mut listed, mut calls) = (0usize, 0usize);
        let r = timed(&pairs, budget, max, |(a, t)| {
            let n = lookup::actions(&index, a, None, t, &opts).expect("no error").len();
            listed += n;
            calls += 1;
            n
        });
        row(
            "ListActions",
            r,
            format!("{:.1} actions an answer", listed as f64 / calls.max(1) as f64),
        );
        // The same look-ups while one policy has a conflict strategy, and while one rule has
        // a constraint: every candidate is then checked whole (docs/CONTRACT.md §1,
        // "Conflict strategies", "Constraints").
        let mut strategy = index.clone();
        strategy.apply(&Change::PolicyCreated {
            policy: Id::from_trusted(&policy_id(0)),
            policy_type: None,
            conflict: Some(Conflict::Perm),
        });
        let read = Action::parse("action", "odrl:read").expect("valid");
        // A grant of odrl:read on `target` to the first role, in the first policy.
        let grant = |target: &str, condition| Change::Rule {
            rule: Rule {
                policy: Id::from_trusted(&policy_id(0)),
                kind: RuleKind::Permission,
                assignee: Id::from_trusted(&role_id(0, 0)),
                action: read.clone(),
                target: Target::One(Id::from_trusted(target)),
                condition,
            },
            on: true,
        };
        let mut constrained = index.clone();
        constrained.apply(&grant(
            "constrained.example",
            Some(std::sync::Arc::new(
                endocarp::domain::constraint::Condition::parse(
                    "constraint",
                    r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#,
                )
                .expect("valid"),
            )),
        ));
        // While targets a relabel moved are not yet settled (every entry's label is then
        // looked up in the small map of their new labels first): 64 grants on new targets
        // named into one gap beside a target of the mix, converging from both ends of the
        // gap (as the publish table's converging one-gap row), so the gap runs out.
        let mut moved = index.clone();
        for name in one_gap_names(mix[0].target.as_str(), 64, Gap::Converging) {
            moved.apply(&grant(&name, None));
        }
        notes.push(format!(
            "{shape}: the 64 grants into one gap left {} targets moved by relabels, not yet settled",
            moved.moved_targets()
        ));
        // The same index with every moved target settled: the two rows differ only by the
        // moved targets, not by the 64 grants.
        let mut settled = moved.clone();
        settled.settle_moved();
        for (label, variant) in [
            ("one policy with odrl:perm", &strategy),
            ("one rule with a constraint", &constrained),
            ("64 grants into one gap, targets moved", &moved),
            ("the same 64 grants, every target settled", &settled),
        ] {
            let r = timed(&agents, budget, max, |a| {
                lookup::targets(variant, a, None, &read, &opts, Window::page(None, 100))
                    .expect("no error")
                    .items
                    .len()
            });
            row(
                &format!("LookupTargets odrl:read, first page of 100, {label}"),
                r,
                String::new(),
            );
            let (approve, approvals) = (
                Action::parse("action", APPROVE).expect("valid"),
                Id::from_trusted(APPROVALS),
            );
            let r = timed(&[()], budget, if tiny { 20 } else { 2_000 }, |_| {
                lookup::agents(variant, &approve, &approvals, None, &opts, Window::page(None, 100))
                    .expect("no error")
                    .items
                    .len()
            });
            row(
                &format!("LookupAgents first page of 100 (role held by 10k agents), {label}"),
                r,
                String::new(),
            );
            let r = timed(&pairs, budget, max, |(a, t)| {
                lookup::actions(variant, a, None, t, &opts).expect("no error").len()
            });
            row(&format!("ListActions, {label}"), r, String::new());
        }
        drop(strategy);
        drop(constrained);
        drop(moved);
        drop(settled);
        drop(index);
        let (with, without, rows) = memory_in_child(shape, rules, tiny);
        notes.push(format!(
            "{shape}: index heap {:.1} MiB with the reverse structures, {:.1} MiB without: the reverse structures take **{:.1} bytes per rule or assignment** ({rows} rows)",
            with as f64 / (1 << 20) as f64,
            without as f64 / (1 << 20) as f64,
            with.saturating_sub(without) as f64 / rows.max(1) as f64
        ));
    }
    println!();
    for n in notes {
        println!("- {n}");
    }
}
