//! Per-check latency of the ODRL engine, the Casbin engine and one plain casbin-rs enforcer
//! holding every row, on the same generated organisation, at 1k, 10k and 100k rule rows.
//!
//! `cargo bench --bench engines` (full sizes); `ENDOCARP_BENCH_TINY=1 cargo test --benches`
//! runs every size tiny so the harness cannot rot (no timing is asserted anywhere).
//! Results and the machine they were measured on: `docs/BENCHMARKS.md`.

use casbin::CoreApi;
use endocarp::domain::event::Triple;
use endocarp::domain::{Action, Id, NewEvent};
use endocarp::engine::{self, Check, EngineOptions, Snapshot};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A small deterministic generator (splitmix64), so every run sees the same organisation.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ACTIONS: [&str; 3] = ["odrl:read", "odrl:modify", "odrl:delete"];

fn t(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> Triple {
    Triple {
        event_type: ty.into(),
        aggregate_id: agg.into(),
        subject: s.into(),
        predicate: p.into(),
        object: o.into(),
        payload: kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

struct Org {
    snapshot: Snapshot,
    users: usize,
    accounts: usize,
    objects: usize,
    /// (user, role) pairs, to aim half the checks at rules that exist.
    holders: Vec<(String, String)>,
    /// (role, action, object) of rules on one object.
    rules: Vec<(String, &'static str, String)>,
}

/// 100 accounts, 50 roles (ten of them inheriting another), users with two global roles
/// and one account role each; `rules` rules: 10% on `*`, 5% prohibitions, one object per
/// ten rules, actions read/modify/delete (leaf actions: one row each, a prohibition two).
fn organisation(rules: usize, users: usize, seed: u64) -> Org {
    let mut rng = Rng(seed);
    let roles = 50;
    let accounts = 100;
    let objects = (rules / 10).max(10);
    let mut events = Vec::new();
    let mut holders = Vec::new();
    for r in 0..10 {
        let (a, b) = (format!("role-{r:03}"), format!("role-{:03}", r + 10));
        events.push(t("Role.RoleAssigned", &a, &a, "org:hasRole", &b, &[]));
    }
    for u in 0..users {
        let user = format!("user-{u:06}@example.org");
        for _ in 0..2 {
            let role = format!("role-{:03}", rng.below(roles));
            events.push(t("Agent.RoleAssigned", &user, &user, "org:hasRole", &role, &[]));
            holders.push((user.clone(), role));
        }
        let acc = format!("account-{:03}", rng.below(accounts));
        let role = format!("role-{:03}", rng.below(roles));
        events.push(t(
            "Account.MemberAdded",
            &acc,
            &acc,
            "org:hasMember",
            &user,
            &[("role", &role)],
        ));
    }
    let mut aimed = Vec::new();
    for i in 0..rules {
        let role = format!("role-{:03}", rng.below(roles));
        let action = ACTIONS[rng.below(3)];
        let target = if i % 10 == 0 {
            "*".to_string()
        } else {
            format!("object-{:07}", rng.below(objects))
        };
        let (ty, pred) = if i % 20 == 7 {
            ("Policy.ProhibitionSet", "odrl:prohibition")
        } else {
            ("Policy.PermissionGranted", "odrl:permission")
        };
        let policy = format!("policy-{:02}", i % 10);
        events.push(t(ty, &policy, &role, pred, &target, &[("action", action)]));
        if target != "*" {
            aimed.push((role, action, target));
        }
    }
    let mut snapshot = Snapshot::new(Some(true));
    for (i, e) in events.iter().enumerate() {
        let e = NewEvent::parse("", e, None, None, BTreeMap::new()).expect("generated events are valid");
        snapshot.apply(&e.change);
        snapshot.set_revision(i as u64 + 1);
    }
    Org {
        snapshot,
        users,
        accounts,
        objects,
        holders,
        rules: aimed,
    }
}

fn checks(org: &Org, n: usize, seed: u64) -> Vec<Check> {
    let mut rng = Rng(seed);
    let by_role: BTreeMap<&str, Vec<&str>> = org.holders.iter().fold(BTreeMap::new(), |mut m, (u, r)| {
        m.entry(r.as_str()).or_insert_with(Vec::new).push(u.as_str());
        m
    });
    (0..n)
        .map(|i| {
            let (agent, action, target) = match (i % 2, org.rules.get(rng.below(org.rules.len().max(1)))) {
                (0, Some((role, action, target))) if by_role.contains_key(role.as_str()) => {
                    let users = &by_role[role.as_str()];
                    (users[rng.below(users.len())].to_string(), *action, target.clone())
                }
                _ => (
                    format!("user-{:06}@example.org", rng.below(org.users)),
                    ACTIONS[rng.below(3)],
                    format!("object-{:07}", rng.below(org.objects)),
                ),
            };
            let account =
                (i % 4 == 1).then(|| Id::parse("a", &format!("account-{:03}", rng.below(org.accounts))).unwrap());
            Check {
                agent: Id::parse("a", &agent).unwrap(),
                account,
                action: Action::parse("a", action).unwrap(),
                target: Id::parse("t", &target).unwrap(),
                explain: false,
            }
        })
        .collect()
}

struct Row {
    engine: &'static str,
    calls: u64,
    p50: u64,
    p99: u64,
    p999: u64,
    mean: f64,
    allowed: usize,
}

fn measure(engine: &'static str, checks: &[Check], budget: Duration, mut decide: impl FnMut(&Check) -> bool) -> Row {
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    let started = Instant::now();
    let mut allowed = 0;
    let mut i = 0;
    // Warm-up: a tenth of the checks, at most one second.
    for c in checks.iter().take(checks.len() / 10) {
        black_box(decide(c));
        if started.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let started = Instant::now();
    while i < checks.len() && (started.elapsed() < budget || i < 10) {
        let c = &checks[i];
        let t0 = Instant::now();
        let ok = black_box(decide(c));
        h.record(t0.elapsed().as_nanos() as u64).expect("record");
        allowed += usize::from(ok);
        i += 1;
    }
    Row {
        engine,
        calls: h.len(),
        p50: h.value_at_quantile(0.5),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        mean: h.mean(),
        allowed,
    }
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn main() {
    let tiny = std::env::var_os("ENDOCARP_BENCH_TINY").is_some();
    let sizes: &[usize] = if tiny { &[100, 300] } else { &[1_000, 10_000, 100_000] };
    let users = if tiny { 200 } else { 5_000 };
    let opts = EngineOptions::default();
    println!("| rules | p rows | g rows | engine | calls | p50 | p99 | p99.9 | mean | allowed |");
    println!("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for &size in sizes {
        let org = organisation(size, users, 42 + size as u64);
        let rows = org.snapshot.casbin.as_ref().expect("casbin rows");
        let (p_rows, g_rows) = (rows.p_rows(), rows.g_rows());
        let plain = engine::casbin::plain_enforcer(&p_rows, &g_rows).expect("plain enforcer");
        let fast = checks(&org, if tiny { 2_000 } else { 200_000 }, 7);
        let budget = if tiny {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        let odrl = measure("ODRL engine", &fast, budget, |c| {
            engine::decide(&org.snapshot.index, c, &opts)
                .map(|d| d.allowed)
                .unwrap_or(false)
        });
        let cas = measure("Casbin engine", &fast, budget, |c| {
            engine::decide_casbin(&org.snapshot, c, &opts)
                .map(|d| d.allowed)
                .unwrap_or(false)
        });
        let slow = checks(&org, if tiny { 50 } else { 2_000 }, 7);
        let plain_row = measure("plain casbin-rs enforcer", &slow, budget, |c| {
            let dom = c.account.as_ref().map_or("*", |a| a.as_str());
            plain
                .enforce((c.agent.as_str(), dom, c.action.as_str(), c.target.as_str()))
                .unwrap_or(false)
        });
        for r in [odrl, cas, plain_row] {
            println!(
                "| {size} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% |",
                p_rows.len(),
                g_rows.len(),
                r.engine,
                r.calls,
                fmt_ns(r.p50),
                fmt_ns(r.p99),
                fmt_ns(r.p999),
                fmt_ns(r.mean as u64),
                100.0 * r.allowed as f64 / r.calls.max(1) as f64
            );
        }
    }
}
