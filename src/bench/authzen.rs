//! `endocarp bench --authzen`: one check over the AuthZEN HTTP API against the same check
//! over gRPC, measured by clients the project did not write — h2load for gRPC, for
//! AuthZEN over HTTP/2 and (`--h1`) over HTTP/1.1 keep-alive, and wrk for HTTP/1.1 when it
//! is installed — with the server's CPU time per call read from `/proc`.

use crate::bench::h2load::{self, H2Load, Target};
use crate::bench::{cpu_time, fmt_ns};
use crate::grpc::pb;
use anyhow::{Context, bail};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// One measured run.
struct Row {
    in_flight: usize,
    api: &'static str,
    client: &'static str,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    errors: u64,
    cpu_per_call_ns: Option<u64>,
}

/// The AuthZEN body of `check` (its ids are `type:id`).
fn evaluation_body(check: &pb::IsAuthorizedRequest) -> anyhow::Result<String> {
    let entity = |id: &str| -> anyhow::Result<serde_json::Value> {
        let (t, i) = id
            .split_once(':')
            .with_context(|| format!("{id:?} is not written type:id"))?;
        Ok(serde_json::json!({"type": t, "id": i}))
    };
    Ok(serde_json::json!({
        "subject": entity(&check.agent_id)?,
        "action": {"name": check.action},
        "resource": entity(&check.target)?,
    })
    .to_string())
}

/// The server's CPU per call over `f`, which returns how many calls succeeded.
fn with_cpu<T>(pid: u32, f: impl FnOnce() -> anyhow::Result<(T, u64)>) -> anyhow::Result<(T, Option<u64>)> {
    let before = cpu_time(pid);
    let (t, calls) = f()?;
    let cpu = match (before, cpu_time(pid)) {
        (Some(b), Some(a)) if calls > 0 => Some((a.saturating_sub(b).as_nanos() / u128::from(calls)) as u64),
        _ => None,
    };
    Ok((t, cpu))
}

fn row(in_flight: usize, api: &'static str, client: &'static str, h: &H2Load, cpu: Option<u64>) -> Row {
    Row {
        in_flight,
        api,
        client,
        rps: h.rps,
        p50_us: h.p50_us,
        p99_us: h.p99_us,
        errors: h.failed + (h.succeeded == 0) as u64,
        cpu_per_call_ns: cpu,
    }
}

/// Measures `check` over gRPC (`grpc_url`) and AuthZEN (`authzen_url`) on the server
/// `pid`, each `in_flight` value as the concurrency, and returns the report (markdown).
#[allow(clippy::too_many_arguments)]
pub fn report(
    grpc_url: &str,
    authzen_url: &str,
    pid: u32,
    check: &pb::IsAuthorizedRequest,
    in_flight: &[usize],
    requests: usize,
    wrk_duration: Duration,
    pin: bool,
    dir: &Path,
) -> anyhow::Result<String> {
    let grpc_body = dir.join("authzen-bench-grpc.bin");
    std::fs::write(&grpc_body, h2load::grpc_frame(check))?;
    let json = evaluation_body(check)?;
    let json_body = dir.join("authzen-bench.json");
    std::fs::write(&json_body, &json)?;
    let url = format!("{authzen_url}/access/v1/evaluation");
    let json_headers: &[&str] = &["content-type: application/json"];
    let wrk = wrk_available();
    let mut rows = Vec::new();
    for &n in in_flight {
        eprintln!("AuthZEN vs gRPC, {n} in flight");
        let measure = |target: &Target, streams: usize, connections: usize| {
            with_cpu(pid, || {
                let h = h2load::run_on(target, streams, connections, requests, pin, dir)?;
                let ok = h.succeeded;
                Ok((h, ok))
            })
        };
        let (h, cpu) = measure(&h2load::grpc_target(grpc_url, &grpc_body), n, 1)?;
        rows.push(row(n, "gRPC IsAuthorized", "h2load, 1 connection", &h, cpu));
        let json_target = |h1: bool| Target {
            url: url.clone(),
            body: &json_body,
            headers: json_headers,
            h1,
        };
        let (h, cpu) = measure(&json_target(false), n, 1)?;
        rows.push(row(n, "AuthZEN HTTP/2", "h2load, 1 connection", &h, cpu));
        // HTTP/1.1: one request at a time on each of n keep-alive connections.
        let (h, cpu) = measure(&json_target(true), 1, n)?;
        rows.push(row(n, "AuthZEN HTTP/1.1", "h2load --h1, keep-alive", &h, cpu));
        if wrk {
            let (r, cpu) = with_cpu(pid, || {
                let r = run_wrk(&url, &json, n, wrk_duration, pin, dir)?;
                let ok = r.1;
                Ok((r.0, ok))
            })?;
            rows.push(Row {
                cpu_per_call_ns: cpu,
                in_flight: n,
                ..r
            });
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "AuthZEN against gRPC: one check (`{json}`, and IsAuthorized with the same ids), `{requests}` requests a run; server CPU per call from `/proc/PID/stat`{}:\n\n",
        if wrk { "" } else { " (wrk not installed: `apt-get install wrk` adds an HTTP/1.1 client)" }
    ));
    out.push_str(
        "| in flight | API | client | calls/s | p50 | p99 | errors | server CPU per call | CPU vs gRPC |\n|---:|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for chunk in rows.chunk_by(|a, b| a.in_flight == b.in_flight) {
        let grpc_cpu = chunk[0].cpu_per_call_ns;
        for r in chunk {
            let ratio = match (r.cpu_per_call_ns, grpc_cpu) {
                (Some(c), Some(g)) if g > 0 => format!("{:.2}×", c as f64 / g as f64),
                _ => "—".into(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {ratio} |\n",
                r.in_flight,
                r.api,
                r.client,
                r.rps,
                fmt_ns(r.p50_us * 1000),
                fmt_ns(r.p99_us * 1000),
                r.errors,
                r.cpu_per_call_ns.map_or("—".into(), fmt_ns),
            ));
        }
    }
    Ok(out)
}

fn wrk_available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// wrk (one thread, `connections` keep-alive connections) POSTing `body` to `url` for
/// `duration`: its row, and how many requests it completed.
fn run_wrk(
    url: &str,
    body: &str,
    connections: usize,
    duration: Duration,
    pin: bool,
    dir: &Path,
) -> anyhow::Result<(Row, u64)> {
    let script = dir.join("authzen-wrk.lua");
    let lua_body = body.replace('\\', "\\\\").replace('"', "\\\"");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"{lua_body}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        ),
    )?;
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    let out = cmd
        .args(["-t", "1", "-c", &connections.to_string()])
        .arg("-d")
        .arg(format!("{}s", duration.as_secs().max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(url)
        .output()
        .context("run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let percentile = |p: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p))
            .map_or(0, |v| micros(v.trim()))
    };
    // "  123456 requests in 10.00s, 30.00MB read"
    let done: u64 = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .context("wrk's request count")?;
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .context("wrk's throughput")?;
    let non_2xx: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let errors: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map_or(0, |v| {
            v.split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        });
    Ok((
        Row {
            in_flight: connections,
            api: "AuthZEN HTTP/1.1",
            client: "wrk, keep-alive",
            rps,
            p50_us: percentile("50%"),
            p99_us: percentile("99%"),
            errors: non_2xx + errors,
            cpu_per_call_ns: None,
        },
        done.saturating_sub(non_2xx),
    ))
}

/// wrk's `95.00us`, `1.20ms`, `2.00s` in microseconds.
fn micros(v: &str) -> u64 {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().map_or(0, |n| (n * scale) as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn wrk_units() {
        assert_eq!(super::micros("95.00us"), 95);
        assert_eq!(super::micros("1.20ms"), 1200);
        assert_eq!(super::micros("2.00s"), 2_000_000);
    }
}
