//! Benchmark support shared by `benches/` and `endocarp bench`: a seeded generator of a
//! realistic organisation ([`org`]), the gRPC load driver with its built-in echo server
//! ([`load`]), and process measurements ([`rss_bytes`]).
//!
//! Nothing here is on a serving path; `serve` never calls it.

pub mod authzen;
pub mod batch;
pub mod h2load;
pub mod load;
pub mod org;
pub mod rounds;

/// Resident set size of a process (`/proc/PID/status` VmRSS; `None` off Linux).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat` (clock
/// ticks of 10 ms: measure over seconds).
pub fn cpu_time(pid: u32) -> Option<std::time::Duration> {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// CPU time (user + system) the calling thread has used so far (`/proc/thread-self/stat`,
/// 10 ms ticks as [`cpu_time`]).
pub fn thread_cpu_time() -> Option<std::time::Duration> {
    stat_cpu_time("/proc/thread-self/stat")
}

fn stat_cpu_time(path: &str) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start after its ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    const TICKS_PER_SECOND: u64 = 100;
    Some(std::time::Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

/// Peak resident set size of a process (`VmHWM`).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak RSS of this process (Linux `clear_refs` 5), so a later [`peak_rss_bytes`]
/// measures one phase. Returns false where that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `1.23 µs`, `4.5 ms`, `812 ns`.
pub fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.2} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// The median of three (or any odd number of) values.
pub fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// A server's `/metrics` text, and the sum of a series' values in it (every label set).
pub struct Scrape(String);

impl Scrape {
    /// Reads `/metrics` from the operations address `ops`.
    pub fn of(ops: std::net::SocketAddr) -> Option<Scrape> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect_timeout(&ops, std::time::Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {ops}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        Some(Scrape(text))
    }

    /// The sum of the series named `name` (with any labels).
    pub fn value(&self, name: &str) -> Option<f64> {
        self.0
            .lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .reduce(|a, b| a + b)
    }
}

/// The engine's decision time so far (seconds, decisions) from a server's `/metrics`.
pub fn engine_time(ops: std::net::SocketAddr) -> Option<(f64, u64)> {
    let scrape = Scrape::of(ops)?;
    let sum = scrape.value(&format!("{}_sum", crate::metrics::DECISION_DURATION))?;
    let count = scrape.value(&format!("{}_count", crate::metrics::DECISION_DURATION))?;
    Some((sum, count as u64))
}
