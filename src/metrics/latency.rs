//! Latency histograms for the request and decision paths, kept outside the Prometheus
//! recorder and rendered beside it on `/metrics`.
//!
//! The recorder's histograms keep every sample with a timestamp (a clock read per
//! sample) until an upkeep pass folds them into buckets. A latency here is a bucket
//! count, a sum and nothing else: recording is a short search over at most 17 bounds
//! and two relaxed atomic adds, which is what a call on the decision port can afford.
//! The output is the exposition format the recorder writes (cumulative `_bucket` lines
//! with `le`, then `_sum` in seconds and `_count`), under the same names.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One labelled series: a count per bucket (not cumulative; the last one is `+Inf`) and
/// the sum of what was recorded, in nanoseconds.
#[derive(Debug)]
pub struct Latency {
    bounds: Box<[u64]>,
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Latency {
    fn new(bounds_seconds: &[f64]) -> Latency {
        let bounds: Box<[u64]> = bounds_seconds.iter().map(|s| (s * 1e9).round() as u64).collect();
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Latency {
            bounds,
            buckets,
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one observation of `took`.
    pub fn record(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // `le` is inclusive: the first bucket whose bound is at least the value.
        let bucket = self.bounds.partition_point(|&b| b < nanos);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The number of observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

/// A series' labels, in the order given.
type Labels = Vec<(&'static str, String)>;

/// A histogram's name, help text and bucket bounds (seconds), and its series so far.
struct Family {
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    series: Vec<(Labels, Arc<Latency>)>,
}

static FAMILIES: Mutex<Vec<Family>> = Mutex::new(Vec::new());

/// The series of histogram `name` with `labels` (made on first use; later calls with
/// the same name and labels share it). Resolve it once and keep it: this takes a lock.
pub fn latency(
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    labels: &[(&'static str, &str)],
) -> Arc<Latency> {
    let mut families = FAMILIES.lock().unwrap_or_else(|p| p.into_inner());
    let at = match families.iter().position(|f| f.name == name) {
        Some(at) => at,
        None => {
            families.push(Family {
                name,
                help,
                bounds,
                series: Vec::new(),
            });
            families.len() - 1
        }
    };
    let family = &mut families[at];
    let same =
        |l: &Labels| l.len() == labels.len() && l.iter().zip(labels).all(|((k, v), (k2, v2))| k == k2 && v == v2);
    if let Some((_, series)) = family.series.iter().find(|(l, _)| same(l)) {
        return series.clone();
    }
    let series = Arc::new(Latency::new(family.bounds));
    let owned = labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
    family.series.push((owned, series.clone()));
    series
}

/// Appends every histogram with at least one series to `out`, in the exposition format.
pub fn render(out: &mut String) {
    let families = FAMILIES.lock().unwrap_or_else(|p| p.into_inner());
    for family in families.iter().filter(|f| !f.series.is_empty()) {
        let name = family.name;
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (labels, series) in &family.series {
            let mut prefix = String::new();
            for (k, v) in labels {
                let _ = write!(prefix, "{k}=\"{}\",", escape(v));
            }
            // Read the buckets first: the count printed is their total, so `+Inf` and
            // `_count` agree whatever is recorded meanwhile.
            let counts: Vec<u64> = series.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
            let sum = series.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let mut cumulative = 0;
            for (bound, count) in family.bounds.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"{bound}\"}} {cumulative}");
            }
            cumulative += counts.last().copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{prefix}le=\"+Inf\"}} {cumulative}");
            let bare = prefix.trim_end_matches(',');
            let _ = writeln!(out, "{name}_sum{{{bare}}} {sum}");
            let _ = writeln!(out, "{name}_count{{{bare}}} {cumulative}");
        }
    }
}

/// A label value with backslashes, double quotes and line feeds escaped.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return v.into();
    }
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_inclusive_with_sum_and_count() {
        const BOUNDS: &[f64] = &[1e-6, 1e-3];
        let name = "endocarp_test_latency_seconds";
        let a = latency(name, "a test", BOUNDS, &[("engine", "x\"y")]);
        let again = latency(name, "a test", BOUNDS, &[("engine", "x\"y")]);
        assert!(Arc::ptr_eq(&a, &again));
        a.record(Duration::from_nanos(1_000)); // on the first bound: in it
        a.record(Duration::from_nanos(1_001));
        a.record(Duration::from_millis(2)); // above every bound
        let b = latency(name, "a test", BOUNDS, &[("engine", "z")]);
        b.record(Duration::ZERO);
        assert_eq!(a.count(), 3);
        let mut out = String::new();
        render(&mut out);
        let lines: Vec<&str> = out.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(
            lines,
            [
                "# HELP endocarp_test_latency_seconds a test",
                "# TYPE endocarp_test_latency_seconds histogram",
                "endocarp_test_latency_seconds_bucket{engine=\"x\\\"y\",le=\"0.000001\"} 1",
                "endocarp_test_latency_seconds_bucket{engine=\"x\\\"y\",le=\"0.001\"} 2",
                "endocarp_test_latency_seconds_bucket{engine=\"x\\\"y\",le=\"+Inf\"} 3",
                "endocarp_test_latency_seconds_sum{engine=\"x\\\"y\"} 0.002002001",
                "endocarp_test_latency_seconds_count{engine=\"x\\\"y\"} 3",
                "endocarp_test_latency_seconds_bucket{engine=\"z\",le=\"0.000001\"} 1",
                "endocarp_test_latency_seconds_bucket{engine=\"z\",le=\"0.001\"} 1",
                "endocarp_test_latency_seconds_bucket{engine=\"z\",le=\"+Inf\"} 1",
                "endocarp_test_latency_seconds_sum{engine=\"z\"} 0",
                "endocarp_test_latency_seconds_count{engine=\"z\"} 1",
            ]
        );
    }
}
