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
    pub rps: f64,
    pub mean_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub failed: u64,
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
    let log = dir.join(format!("h2load-{streams}-{}.log", ulid::Ulid::generate()));
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "h2load"]);
        c
    } else {
        Command::new("h2load")
    };
    let out = cmd
        .args([
            "-n",
            &requests.to_string(),
            "-c",
            "1",
            "-t",
            "1",
            "-m",
            &streams.to_string(),
        ])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("-d")
        .arg(body)
        .arg("--log-file")
        .arg(&log)
        .arg(format!("{url}/endocarp.v1.AuthorizationService/IsAuthorized"))
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
    let failed = text.lines().find(|l| l.starts_with("requests:")).map_or(0, |l| {
        l.split(", ")
            .filter(|p| p.ends_with(" failed") || p.ends_with(" errored") || p.ends_with(" timeout"))
            .filter_map(|p| p.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    });
    // The log: start (µs since the epoch), status, response time (µs), tab-separated.
    let mut times: Vec<u64> = std::fs::read_to_string(&log)?
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
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
        rps,
        mean_us,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: times.last().copied().unwrap_or(0),
        failed,
    })
}
