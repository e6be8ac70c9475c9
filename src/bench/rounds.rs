//! `endocarp bench --rounds N`: each in-flight value measured N times against the echo
//! floor and the server, interleaved, summed up as the median ratio with its range. On a
//! shared machine whose speed drifts by tens of percent between runs, one pair of runs
//! says little; the median of interleaved pairs says what the server costs.

use super::h2load::H2Load;
use super::load::LoadResult;
use std::fmt::Write;

/// The median and range of ratios measured over interleaved rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values (or a NaN among them).
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

/// Issue 13's decision-port target: throughput ≥ 0.8× the floor's, p99 ≤ 1.25× its p99.
fn meets_target(throughput: f64, p99: f64) -> bool {
    throughput >= 0.8 && p99 <= 1.25
}

/// The rounds summed up (Markdown): per client and in-flight value, the median ratio to
/// the echo floor with its range, and how many rounds met the decision-port target.
/// `rows` and `h2_rows` are (echo, server) pairs, one per round.
pub fn report(
    rounds: u32,
    in_flight: &[usize],
    rows: &[(LoadResult, LoadResult)],
    h2_rows: &[(H2Load, H2Load)],
) -> String {
    let mut in_flight = in_flight.to_vec();
    in_flight.dedup();
    let pct = |s: Spread| {
        format!(
            "**{:.0}%** ({:.0}–{:.0}%)",
            100.0 * s.median,
            100.0 * s.min,
            100.0 * s.max
        )
    };
    let times = |s: Spread| format!("**{:.2}×** ({:.2}–{:.2}×)", s.median, s.min, s.max);
    let mut out = format!(
        "Interleaved rounds ({rounds}; the 2nd, 4th, … measure endocarp first): the median ratio to the echo floor, with its range (a client's core busy ~100%: the client, not the server, set the pace):\n\n"
    );
    out.push_str(
        "| client | in flight | throughput vs echo | p99 vs echo | server CPU per call vs echo's | client's core busy, echo / endocarp | rounds with ≥ 80% and ≤ 1.25× |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    // (throughput ratio, p99 ratio, CPU-per-call ratio when measured) per round, and the
    // client's busy share (median) in the echo's and the server's runs when measured.
    let mut line = |client: &str, n: usize, ratios: Vec<(f64, f64, Option<f64>)>, busy: String| {
        let tp: Vec<f64> = ratios.iter().map(|r| r.0).collect();
        let p99: Vec<f64> = ratios.iter().map(|r| r.1).collect();
        let cpu: Vec<f64> = ratios.iter().filter_map(|r| r.2).collect();
        let cpu = Spread::of(&cpu).map_or_else(|| "—".to_string(), times);
        let met = ratios.iter().filter(|(t, p, _)| meets_target(*t, *p)).count();
        if let (Some(tp), Some(p99)) = (Spread::of(&tp), Spread::of(&p99)) {
            let _ = writeln!(
                out,
                "| {client} | {n} | {} | {} | {cpu} | {busy} | {met} of {} |",
                pct(tp),
                times(p99),
                ratios.len()
            );
        }
    };
    for &n in &in_flight {
        let ratios = rows
            .iter()
            .filter(|(e, _)| e.in_flight == n)
            .map(|(e, s)| {
                let cpu = match (s.cpu_per_call_ns(), e.cpu_per_call_ns()) {
                    (Some(s), Some(e)) if e > 0 => Some(s as f64 / e as f64),
                    _ => None,
                };
                (
                    s.rps() / e.rps().max(1e-9),
                    s.p99_ns as f64 / e.p99_ns.max(1) as f64,
                    cpu,
                )
            })
            .collect();
        let busy = |pick: fn(&(LoadResult, LoadResult)) -> &LoadResult| {
            let b: Vec<f64> = rows
                .iter()
                .filter(|(e, _)| e.in_flight == n)
                .filter_map(|r| pick(r).client_busy())
                .collect();
            Spread::of(&b).map(|s| format!("{:.0}%", 100.0 * s.median))
        };
        let busy = match (busy(|r| &r.0), busy(|r| &r.1)) {
            (Some(e), Some(s)) => format!("{e} / {s}"),
            _ => "—".to_string(),
        };
        line("tonic (ours)", n, ratios, busy);
    }
    for &n in &in_flight {
        let ratios = h2_rows
            .iter()
            .filter(|(e, _)| e.streams == n)
            .map(|(e, s)| (s.rps / e.rps.max(1e-9), s.p99_us as f64 / e.p99_us.max(1) as f64, None))
            .collect();
        line("h2load", n, ratios, "—".to_string());
    }
    out
}

#[cfg(test)]
mod tests;
