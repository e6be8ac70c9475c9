//! `h2load` (nghttp2-client) as a second load generator, one the project did not write:
//! a gRPC request body for it, and a run against one URL read back from its own output
//! and per-request log.

use anyhow::{Context, bail};
use std::process::Command;

/// A protobuf message as one uncompressed gRPC frame (flag, length, bytes).
pub fn grpc_frame(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// One h2load run.
pub struct H2Load {
    pub streams: usize,
    pub connections: usize,
    pub rps: f64,
    pub mean_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub failed: u64,
    /// Requests answered with a 2xx status.
    pub succeeded: u64,
}

/// What one h2load run sends: a POST of `body` to `url` with `headers`, over HTTP/2 (h2c
/// with prior knowledge) or, with `h1`, HTTP/1.1 keep-alive.
pub struct Target<'a> {
    pub url: String,
    pub body: &'a std::path::Path,
    pub headers: &'a [&'a str],
    pub h1: bool,
}

/// IsAuthorized at the gRPC server `url`, with `body` (a gRPC frame).
pub fn grpc_target<'a>(url: &str, body: &'a std::path::Path) -> Target<'a> {
    Target {
        url: format!("{url}/endocarp.v1.AuthorizationService/IsAuthorized"),
        body,
        headers: &["content-type: application/grpc", "te: trailers"],
        h1: false,
    }
}

/// Runs `h2load` (pinned to core 1 when `pin`) against IsAuthorized at `url` with `body`,
/// one connection and `streams` concurrent streams, and reads its per-request log.
pub fn run(
    url: &str,
    body: &std::path::Path,
    streams: usize,
    requests: usize,
    pin: bool,
    dir: &std::path::Path,
) -> anyhow::Result<H2Load> {
    run_on(&grpc_target(url, body), streams, 1, requests, pin, dir)
}

/// Runs `h2load` against `target` over `connections` connections with `streams` requests
/// in flight on each (HTTP/1.1: use one, h2load would pipeline), and reads its output and
/// per-request log.
pub fn run_on(
    target: &Target,
    streams: usize,
    connections: usize,
    requests: usize,
    pin: bool,
    dir: &std::path::Path,
) -> anyhow::Result<H2Load> {
    let log = dir.join(format!("h2load-{streams}-{}.log", ulid::Ulid::generate()));
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "h2load"]);
        c
    } else {
        Command::new("h2load")
    };
    cmd.args([
        "-n",
        &requests.to_string(),
        "-c",
        &connections.to_string(),
        "-t",
        "1",
        "-m",
        &streams.to_string(),
    ]);
    if target.h1 {
        cmd.arg("--h1");
    }
    for h in target.headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg("-d")
        .arg(target.body)
        .arg("--log-file")
        .arg(&log)
        .arg(&target.url)
        .output()
        .context("run h2load (apt-get install nghttp2-client)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("h2load failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    // "finished in 1.02s, 98000.00 req/s, …"
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.trim_end_matches(" req/s").parse::<f64>().ok())
        .context("h2load's throughput line")?;
    // "requests: 200000 total, … 200000 succeeded, 0 failed, 0 errored, 0 timeout"
    let requests_line = text.lines().find(|l| l.starts_with("requests:")).unwrap_or("");
    let count = |suffix: &str| -> u64 {
        requests_line
            .split(", ")
            .filter(|p| p.ends_with(suffix))
            .filter_map(|p| p.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    };
    let failed = count(" failed") + count(" errored") + count(" timeout");
    // "status codes: 200000 2xx, 0 3xx, 0 4xx, 0 5xx"
    let succeeded = text
        .lines()
        .find_map(|l| l.strip_prefix("status codes: "))
        .and_then(|l| l.split(", ").next())
        .and_then(|p| p.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    // The log: start (µs since the epoch), status, response time (µs), tab-separated.
    let mut times: Vec<u64> = std::fs::read_to_string(&log)?
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    let _ = std::fs::remove_file(&log);
    times.sort_unstable();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let mean_us = times.iter().sum::<u64>() / times.len().max(1) as u64;
    Ok(H2Load {
        streams,
        connections,
        rps,
        mean_us,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: times.last().copied().unwrap_or(0),
        failed,
        succeeded,
    })
}
