//! `endocarp bench`: the end-to-end benchmark, one command.
//!
//! 1. Generates the organisation ([`crate::bench::org`]) and starts two servers: a real
//!    `endocarp serve` on a fresh database (or `--database-url`) and the built-in echo
//!    server ([`crate::bench::load::Echo`]), both pinned to core 0 with one worker thread
//!    while this client is pinned to core 1 (`--pin`, when the machine has two cores and
//!    `taskset`).
//! 2. Seeds the server through `AppendEvents` in batches: ingest events per second.
//! 3. For each `--in-flight` N: drives the echo server, then IsAuthorized /
//!    IsAuthorizedInAccount on the real one, with the same client and the same check mix;
//!    reports throughput, p50/p99/p99.9 and the ratio to the echo floor.
//! 4. Restarts the server on the seeded database: start-up time to SERVING, and the
//!    index's resident memory per rule or assignment (RSS loaded minus RSS empty).
//! 5. With `--soak`: a steady load with writes, sampling the server's RSS.
//!
//! The report is Markdown on stdout; progress goes to stderr.

use crate::bench::h2load;
use crate::bench::load::{self, Call, LoadResult};
use crate::bench::org::{Org, OrgSpec};
use crate::bench::{Scrape, engine_time, fmt_ns, rss_bytes};
use crate::configuration::parse_duration;
use crate::engine::EngineKind;
use crate::grpc::pb;
use anyhow::{Context, bail};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the server is left idle after seeding before its memory is read again.
mod procs;
use procs::{Child, pinnable, server_args, spawn, spawn_echo};

const SETTLE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Rules in the generated organisation.
    #[arg(long, default_value_t = 100_000)]
    pub rules: usize,
    /// Agents (10 roles each, from 1,000 roles three levels deep; 100 accounts).
    #[arg(long, default_value_t = 100_000)]
    pub agents: usize,
    /// A tiny organisation and short runs (CI keeps the harness from rotting with it).
    #[arg(long)]
    pub tiny: bool,
    /// Requests in flight: one run per value.
    #[arg(long, value_delimiter = ',', default_values_t = [8usize, 64])]
    pub in_flight: Vec<usize>,
    /// Measured time per run (after the warm-up).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Runs per in-flight value against each server, interleaved (echo, endocarp, then
    /// endocarp, echo, …), so that a machine whose speed drifts moves both alike; the
    /// report gives every round and the median ratio with its range.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Database of the server under test (default: a fresh SQLite file in a temporary
    /// directory). A PostgreSQL database must be empty.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Events per AppendEvents call while seeding (at most 1000).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Pin both servers to core 0 (one worker thread each) and this client to core 1.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pin: bool,
    /// Engine of the server under test.
    #[arg(long, value_enum, default_value_t = EngineKind::Odrl)]
    pub engine: EngineKind,
    /// After the runs, this long a steady load (8 in flight) with writes, sampling the
    /// server's RSS (e.g. 10m).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub soak: Duration,
    /// Writes (a grant, then its revoke) per second during the soak.
    #[arg(long, default_value_t = 20)]
    pub soak_writes_per_second: u32,
    /// Also measure with `h2load` (nghttp2-client), a client that is not ours: one
    /// connection, one IsAuthorized body, each `--in-flight` value as the stream count.
    #[arg(long)]
    pub h2load: bool,
    /// Also measure CheckBatch of 100 items against 100 single calls over the same channel
    /// (1 and 8 in flight), and the look-ups' latency over gRPC.
    #[arg(long)]
    pub batch_checks: bool,
    /// Also measure one check over the AuthZEN HTTP API (HTTP/2 and HTTP/1.1 keep-alive)
    /// against the same check over gRPC, with h2load (and wrk when installed), each
    /// `--in-flight` value as the concurrency: throughput, latency, server CPU per call.
    #[arg(long)]
    pub authzen: bool,
    /// Measure the runs against the server restarted on the seeded database (its index
    /// built in bulk, as a replica's is when it starts) instead of the one the seeding
    /// wrote to (its index built write by write).
    #[arg(long)]
    pub measure_restarted: bool,
    /// The server's `--repack-after-writes` (0: never). When the seeding writes at least
    /// this many events, the runs wait for the server's repack (its index built again in
    /// bulk once writes pause) and measure the repacked index; 0 measures the index as the
    /// seeding wrote it.
    #[arg(long, default_value_t = 100_000)]
    pub repack_after_writes: u64,
}

/// The first global check of the mix (the one body the h2load runs send).
fn global_check(calls: &[Call]) -> anyhow::Result<pb::IsAuthorizedRequest> {
    calls
        .iter()
        .find_map(|c| match c {
            Call::Global(r) => Some(r.clone()),
            Call::InAccount(_) => None,
        })
        .context("a global check in the mix")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Runs the benchmark and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let spec = if args.tiny {
        OrgSpec::tiny(args.rules.min(2_000))
    } else {
        OrgSpec {
            agents: args.agents,
            ..OrgSpec::standard(args.rules)
        }
    };
    let (duration, warmup) = if args.tiny {
        (Duration::from_millis(300), Duration::from_millis(100))
    } else {
        (args.duration, args.warmup)
    };
    if args.batch == 0 || args.batch > 1000 {
        bail!("--batch must be between 1 and 1000");
    }
    let pin = args.pin && pinnable();
    if pin {
        // This process (every thread) on core 1; the servers on core 0.
        let _ = Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    let tmp = std::env::temp_dir().join(format!("endocarp-bench-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&tmp)?;
    let database_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", tmp.join("bench.db").display()));
    let result = run_in(&args, spec, duration, warmup, pin, &database_url, &tmp).await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

async fn run_in(
    args: &BenchArgs,
    spec: OrgSpec,
    duration: Duration,
    warmup: Duration,
    pin: bool,
    database_url: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    eprintln!(
        "generating the organisation ({} rules, {} agents)",
        spec.rules, spec.agents
    );
    let org = Org::generate(spec);
    let calls: Arc<Vec<Call>> = Arc::new(
        org.checks(100_000.min(spec.agents * 20), 11)
            .iter()
            .map(Call::from)
            .collect(),
    );
    let backend = if database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    let (echo, _) = spawn_echo(pin, dir)?;
    let mut serve = server_args(database_url, args.engine);
    serve.extend([
        "--repack-after-writes".to_string(),
        args.repack_after_writes.to_string(),
    ]);
    let (server, _) = spawn(&serve, pin, dir)?;
    let rss_empty = rss_bytes(server.pid()).unwrap_or(0);

    // Seed through AppendEvents.
    eprintln!("seeding {} events in batches of {}", org.events.len(), args.batch);
    let mut events = crate::grpc::pb::event_service_client::EventServiceClient::connect(server.admin_url.clone())
        .await?
        .max_decoding_message_size(crate::startup::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(crate::startup::MAX_MESSAGE_BYTES);
    let started = Instant::now();
    let mut revision = 0;
    for batch in org.events.chunks(args.batch) {
        let req = pb::AppendEventsRequest {
            events: batch
                .iter()
                .map(|t| crate::grpc::convert::event_to_append("", t, None, &Default::default()))
                .collect(),
        };
        revision = events.append_events(req).await?.into_inner().revision;
    }
    let ingest = started.elapsed();
    let rss_seeded = rss_bytes(server.pid()).unwrap_or(0);
    // The server repacks once writes pause (2–10 s) when the seeding wrote enough: the runs
    // measure the repacked index, as a replica serves once writes pause.
    let repack = if args.repack_after_writes > 0 && org.events.len() as u64 >= args.repack_after_writes {
        eprintln!("waiting for the server's repack");
        let waited = Instant::now();
        loop {
            let repacks = Scrape::of(server.ops).and_then(|m| m.value(crate::metrics::INDEX_REPACKS));
            if repacks.is_some_and(|n| n >= 1.0) {
                break Some(waited.elapsed());
            }
            anyhow::ensure!(
                waited.elapsed() < Duration::from_secs(600),
                "the server did not repack within 10 minutes of the seeding"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        None
    };
    // And once the server has been idle a while (background rebuilds done, freed memory
    // returned): what a replica that stopped receiving writes holds.
    tokio::time::sleep(SETTLE).await;
    let rss_settled = rss_bytes(server.pid()).unwrap_or(0);
    let server = if args.measure_restarted {
        server.stop();
        eprintln!("restarting on the seeded database for the runs");
        spawn(&serve, pin, dir)?.0
    } else {
        server
    };

    let mut rows: Vec<(LoadResult, LoadResult)> = Vec::new();
    let mut engine_ns: Vec<Option<u64>> = Vec::new();
    for &n in &args.in_flight {
        for round in 0..args.rounds {
            // Odd rounds measure endocarp first, so neither server always goes second.
            let echo_first = round % 2 == 0;
            eprintln!(
                "{n} in flight, round {} of {}: {}",
                round + 1,
                args.rounds,
                if echo_first {
                    "echo, then endocarp"
                } else {
                    "endocarp, then echo"
                }
            );
            let echo_run = || load::run(&echo.url, calls.clone(), n, warmup, duration, Some(echo.pid()));
            let e = if echo_first { Some(echo_run().await?) } else { None };
            let before = engine_time(server.ops);
            let s = load::run(&server.url, calls.clone(), n, warmup, duration, Some(server.pid())).await?;
            // The engine's mean time per decision over the run, from the server's own histogram.
            engine_ns.push(match (before, engine_time(server.ops)) {
                (Some((s0, c0)), Some((s1, c1))) if c1 > c0 => Some(((s1 - s0) * 1e9 / (c1 - c0) as f64) as u64),
                _ => None,
            });
            let e = match e {
                Some(e) => e,
                None => echo_run().await?,
            };
            rows.push((e, s));
        }
    }
    let mut h2_rows: Vec<(h2load::H2Load, h2load::H2Load)> = Vec::new();
    if args.h2load {
        // The body: one allowed global check from the mix, as a gRPC frame.
        let body = dir.join("is-authorized.bin");
        let request = global_check(&calls)?;
        std::fs::write(&body, h2load::grpc_frame(&request))?;
        let requests = if args.tiny { 2_000 } else { 200_000 };
        for &n in &args.in_flight {
            for round in 0..args.rounds {
                eprintln!("h2load, {n} streams, round {} of {}", round + 1, args.rounds);
                let (e, s) = if round % 2 == 0 {
                    let e = h2load::run(&echo.url, &body, n, requests, pin, dir)?;
                    (e, h2load::run(&server.url, &body, n, requests, pin, dir)?)
                } else {
                    let s = h2load::run(&server.url, &body, n, requests, pin, dir)?;
                    (h2load::run(&echo.url, &body, n, requests, pin, dir)?, s)
                };
                h2_rows.push((e, s));
            }
        }
    }

    let authzen_report = if args.authzen {
        let check = global_check(&calls)?;
        let authzen = server.authzen.clone().context("the server serves AuthZEN")?;
        let (requests, wrk_duration) = if args.tiny {
            (2_000, Duration::from_secs(1))
        } else {
            (200_000, duration)
        };
        Some(crate::bench::authzen::report(
            &server.url,
            &authzen,
            server.pid(),
            &check,
            &args.in_flight,
            requests,
            wrk_duration,
            pin,
            dir,
        )?)
    } else {
        None
    };

    let batch_report = if args.batch_checks {
        Some(crate::bench::batch::report(&server.url, calls.clone(), duration).await?)
    } else {
        None
    };

    // Start-up on the seeded database, and the loaded index's memory.
    server.stop();
    eprintln!("restarting on the seeded database");
    let (server, startup) = spawn(&server_args(database_url, args.engine), pin, dir)?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_loaded = rss_bytes(server.pid()).unwrap_or(0);

    let soak = if args.soak.is_zero() {
        None
    } else {
        Some(soak(&server, calls.clone(), args, duration.min(args.soak)).await?)
    };

    // The report.
    let rows_total = spec.rules + spec.assignments();
    println!("## endocarp bench\n");
    println!(
        "Organisation: {} agents, {} roles ({} levels), {} roles per agent, {} accounts × {} members, {} rules (seed {}); {} events, {} checks in the mix.",
        spec.agents,
        spec.roles,
        spec.levels,
        spec.roles_per_agent,
        spec.accounts,
        spec.members_per_account,
        spec.rules,
        spec.seed,
        org.events.len(),
        calls.len()
    );
    println!(
        "Server: engine {:?}, {backend}, allocator mimalloc with transparent huge pages {} (the echo: the system's, as a tonic hello-world); {}; the runs against {}.\n",
        args.engine,
        crate::alloc::huge_pages_setting(),
        if pin {
            "server and echo pinned to core 0 (1 worker thread), client pinned to core 1"
        } else {
            "not pinned"
        },
        match (args.measure_restarted, repack) {
            (true, _) => "the server restarted on the seeded database (its index built in bulk)".to_string(),
            (false, Some(waited)) => format!(
                "the server the seeding wrote to, repacked once the seeding ended (its index built again in bulk, published {:.2} s after the last write)",
                waited.as_secs_f64()
            ),
            (false, None) => "the server the seeding wrote to (its index built write by write)".to_string(),
        }
    );
    println!(
        "| in flight | server | calls/s | p50 | p99 | p99.9 | errors | allowed | server CPU per call | client CPU per call (core busy) | throughput vs echo | p99 vs echo |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut overheads = Vec::new();
    for ((e, s), engine) in rows.iter().zip(&engine_ns) {
        if let (Some(ec), Some(sc), Some(en)) = (e.cpu_per_call_ns(), s.cpu_per_call_ns(), engine) {
            overheads.push((s.in_flight, sc, ec, *en, sc.saturating_sub(ec).saturating_sub(*en)));
        }
        for (name, r) in [("echo (floor)", e), ("endocarp", s)] {
            let (tp, p99) = if std::ptr::eq(r, s) {
                (
                    format!("{:.0}%", 100.0 * s.rps() / e.rps().max(1e-9)),
                    format!("{:.2}×", s.p99_ns as f64 / e.p99_ns.max(1) as f64),
                )
            } else {
                ("—".into(), "—".into())
            };
            let client = match (r.client_cpu_per_call_ns(), r.client_busy()) {
                (Some(cpu), Some(busy)) => format!("{} ({:.0}%)", fmt_ns(cpu), 100.0 * busy),
                _ => "—".to_string(),
            };
            println!(
                "| {} | {name} | {:.0} | {} | {} | {} | {} | {:.0}% | {} | {client} | {tp} | {p99} |",
                r.in_flight,
                r.rps(),
                fmt_ns(r.p50_ns),
                fmt_ns(r.p99_ns),
                fmt_ns(r.p999_ns),
                r.errors,
                100.0 * r.allowed as f64 / r.calls.max(1) as f64,
                r.cpu_per_call_ns().map_or("—".to_string(), fmt_ns)
            );
        }
    }
    println!();
    if !overheads.is_empty() {
        println!(
            "Service cost per call beyond the engine (server CPU − echo CPU − the engine's mean time, from its own histogram):\n"
        );
        println!("| in flight | server CPU | echo CPU | engine | service overhead |");
        println!("|---:|---:|---:|---:|---:|");
        for (n, sc, ec, en, over) in &overheads {
            println!(
                "| {n} | {} | {} | {} | **{}** |",
                fmt_ns(*sc),
                fmt_ns(*ec),
                fmt_ns(*en),
                fmt_ns(*over)
            );
        }
        println!();
    }
    if !h2_rows.is_empty() {
        println!("h2load (nghttp2), one connection, one IsAuthorized body, pinned like the servers:\n");
        println!(
            "| streams | server | calls/s | mean | p50 | p99 | max | non-2xx or failed | throughput vs echo | p99 vs echo |"
        );
        println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (e, s) in &h2_rows {
            for (name, r) in [("echo (floor)", e), ("endocarp", s)] {
                let (tp, p99) = if std::ptr::eq(r, s) {
                    (
                        format!("{:.0}%", 100.0 * s.rps / e.rps.max(1e-9)),
                        format!("{:.2}×", s.p99_us as f64 / e.p99_us.max(1) as f64),
                    )
                } else {
                    ("—".into(), "—".into())
                };
                println!(
                    "| {} | {name} | {:.0} | {} | {} | {} | {} | {} | {tp} | {p99} |",
                    r.streams,
                    r.rps,
                    fmt_ns(r.mean_us * 1000),
                    fmt_ns(r.p50_us * 1000),
                    fmt_ns(r.p99_us * 1000),
                    fmt_ns(r.max_us * 1000),
                    r.failed
                );
            }
        }
        println!();
    }
    if args.rounds > 1 {
        println!(
            "{}",
            crate::bench::rounds::report(args.rounds, &args.in_flight, &rows, &h2_rows)
        );
    }
    println!(
        "Ingest ({backend}, AppendEvents, batches of {}): {} events in {:.2} s = **{:.0} events/s** (revision {revision}).",
        args.batch,
        org.events.len(),
        ingest.as_secs_f64(),
        org.events.len() as f64 / ingest.as_secs_f64().max(1e-9)
    );
    println!(
        "Start-up to SERVING with {} rules + {} assignments: **{:.2} s**.",
        spec.rules,
        spec.assignments(),
        startup.as_secs_f64()
    );
    println!(
        "Server RSS: empty {}, after seeding {} ({} once idle {} s), after restart {}; loaded minus empty = **{:.0} bytes per rule or assignment** ({} rows).",
        mib(rss_empty),
        mib(rss_seeded),
        mib(rss_settled),
        SETTLE.as_secs(),
        mib(rss_loaded),
        rss_loaded.saturating_sub(rss_empty) as f64 / rows_total.max(1) as f64,
        rows_total
    );
    if let Some(report) = batch_report {
        println!("\n{report}");
    }
    if let Some(report) = authzen_report {
        println!("\n{report}");
    }
    if let Some(samples) = soak {
        println!(
            "\nSoak: RSS samples ({} writes/s, 8 in flight):\n",
            args.soak_writes_per_second
        );
        println!("| t | RSS | calls/s in the window | writes |");
        println!("|---:|---:|---:|---:|");
        for (t, rss, rps, writes) in samples {
            println!("| {:.0} s | {} | {rps:.0} | {writes} |", t.as_secs_f64(), mib(rss));
        }
    }
    server.stop();
    echo.stop();
    Ok(())
}

/// A steady load with writes for `args.soak`, sampling the server's RSS about ten times.
async fn soak(
    server: &Child,
    calls: Arc<Vec<Call>>,
    args: &BenchArgs,
    window: Duration,
) -> anyhow::Result<Vec<(Duration, u64, f64, u64)>> {
    let stop = tokio_util::sync::CancellationToken::new();
    let writes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (stop, writes, url, rate) = (
            stop.clone(),
            writes.clone(),
            server.admin_url.clone(),
            args.soak_writes_per_second.max(1),
        );
        tokio::spawn(async move {
            let Ok(mut admin) =
                crate::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient::connect(url).await
            else {
                return;
            };
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            let mut n = 0u64;
            while !stop.is_cancelled() {
                tick.tick().await;
                let rule = pb::RuleRequest {
                    policy_id: "soak.corp.example".into(),
                    assignee: crate::bench::org::agent_id((n / 2) as usize % 1000),
                    action: "odrl:read".into(),
                    target: format!("soak-{:08}.files.example", n / 2),
                    request_id: String::new(),
                    constraint: String::new(),
                    refinement: String::new(),
                    duty: String::new(),
                    remedy: String::new(),
                };
                let ok = if n.is_multiple_of(2) {
                    admin.grant_permission(rule).await.is_ok()
                } else {
                    admin.revoke_permission(rule).await.is_ok()
                };
                writes.fetch_add(u64::from(ok), std::sync::atomic::Ordering::Relaxed);
                n += 1;
            }
        })
    };
    let started = Instant::now();
    let mut samples = vec![(Duration::ZERO, rss_bytes(server.pid()).unwrap_or(0), 0.0, 0)];
    let step = (args.soak / 10).max(window);
    while started.elapsed() < args.soak {
        let r = load::run(&server.url, calls.clone(), 8, Duration::ZERO, step, None).await?;
        samples.push((
            started.elapsed(),
            rss_bytes(server.pid()).unwrap_or(0),
            r.rps(),
            writes.load(std::sync::atomic::Ordering::Relaxed),
        ));
    }
    stop.cancel();
    let _ = writer.await;
    Ok(samples)
}

/// `endocarp bench-echo`: the echo server alone (started by `endocarp bench`).
/// The echo server `bench` compares against; `ready_file` gets its address (as every
/// port of [`crate::startup::Addresses`]: it serves only the decision API).
pub async fn echo_server(ready_file: &std::path::Path) -> anyhow::Result<()> {
    // A tonic hello-world has no subscriber and no `log` bridge, so every span of h2 and
    // tonic is disabled at its call site. This binary has tracing's `log` feature (sqlx
    // turns it on), under which a process with no subscriber builds each span and offers
    // it to `log`: ~0.6 µs a call the floor must not pay. A subscriber that wants
    // nothing restores the hello-world's behaviour.
    let _ =
        tracing::dispatcher::set_global_default(tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    // `endocarp bench` turned transparent huge pages off for its own process (`alloc`), and
    // a child inherits that; a hello-world gets what the host gives it.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integers only; on failure the echo keeps the setting.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let addresses = crate::startup::Addresses {
        decision: addr,
        admin: addr,
        ops: addr,
        authzen: None,
    };
    crate::startup::write_ready_file(ready_file, addresses, None)?;
    load::serve_echo(listener).await?;
    Ok(())
}
