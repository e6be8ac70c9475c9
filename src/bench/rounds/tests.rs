//! Tests of the interleaved rounds' summary (medians, ranges, rounds meeting the target).

use super::*;
use std::time::Duration;

fn run(in_flight: usize, calls: u64, p99_ns: u64) -> LoadResult {
    // Every server used 10 ms of CPU per run.
    LoadResult {
        in_flight,
        calls,
        errors: 0,
        allowed: 0,
        elapsed: Duration::from_secs(1),
        p50_ns: p99_ns / 2,
        p99_ns,
        p999_ns: p99_ns * 2,
        server_cpu: Some(Duration::from_millis(10)),
        client_cpu: Some(Duration::from_millis(990)),
    }
}

#[test]
fn a_spread_is_the_median_and_the_range() {
    let odd = Spread::of(&[0.9, 0.7, 0.8]).unwrap();
    assert_eq!((odd.median, odd.min, odd.max), (0.8, 0.7, 0.9));
    let even = Spread::of(&[1.0, 0.5, 0.75, 0.25]).unwrap();
    assert_eq!((even.median, even.min, even.max), (0.625, 0.25, 1.0));
    assert_eq!(Spread::of(&[]), None);
    assert_eq!(Spread::of(&[1.0, f64::NAN]), None);
}

#[test]
fn the_report_gives_each_in_flight_value_its_median_and_the_rounds_that_met_the_target() {
    // 8 in flight: 90% (p99 1.1×), 70% (1.0×), 85% (1.3×): one round meets both.
    // 64 in flight: 100% (1.2×) twice and one at 50% (2.0×): two meet both.
    let rows = vec![
        (run(8, 1000, 100), run(8, 900, 110)),
        (run(8, 1000, 100), run(8, 700, 100)),
        (run(8, 1000, 100), run(8, 850, 130)),
        (run(64, 1000, 100), run(64, 1000, 120)),
        (run(64, 1000, 100), run(64, 500, 200)),
        (run(64, 1000, 100), run(64, 1000, 120)),
    ];
    // The client's thread busy 99% of each run but 80% in the server's runs at 8 in flight.
    let mut rows = rows;
    for (_, s) in rows.iter_mut().filter(|(e, _)| e.in_flight == 8) {
        s.client_cpu = Some(Duration::from_millis(800));
    }
    let text = report(3, &[8, 64], &rows, &[]);
    // CPU per call: 10 ms over 1000 calls for the echo, over 900/700/850 for the server.
    assert!(
        text.contains(
            "| tonic (ours) | 8 | **85%** (70–90%) | **1.10×** (1.00–1.30×) | **1.18×** (1.11–1.43×) | 99% / 80% | 1 of 3 |"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "| tonic (ours) | 64 | **100%** (50–100%) | **1.20×** (1.20–2.00×) | **1.00×** (1.00–2.00×) | 99% / 99% | 2 of 3 |"
        ),
        "{text}"
    );
    assert!(!text.contains("h2load |"), "no h2load rows were measured: {text}");
}
