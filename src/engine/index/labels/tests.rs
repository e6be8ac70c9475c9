//! The labels' own tests: runs into one gap, two runs meeting, converging names,
//! folds and bulk loads, and labels rising with the names.

use super::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    // Few letters, lengths around the 16-byte head, shared prefixes and multi-byte
    // characters, so heads tie, pad and split characters.
    proptest::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("\u{1}"), Just("é"), Just("aaaaaaaa")],
        0..8,
    )
    .prop_map(|parts| format!("x{}", parts.concat()))
}

/// Adds `name` with the next id, sets the labels `insert` gives, and returns how many
/// names it labelled (1: only the new one).
fn add(labels: &mut Labels, by_id: &mut Vec<(Id, u64)>, name: String) -> usize {
    let id = Id::from_trusted(&name);
    by_id.push((id.clone(), 0));
    let placed = labels.insert(&id, by_id.len() as u32 - 1, |i| by_id[i as usize].1);
    // A spread's labels are on the progression it reports (the moved targets' blocks
    // keep them as ranks on it): the k-th is `base + step·(k + 1)`, clamped at the top.
    let prog = placed.progression();
    assert_eq!(prog.is_some(), matches!(placed, Placed::Spread { .. } | Placed::All));
    for (k, (i, label)) in placed.labels(labels).enumerate() {
        if let Some((base, step)) = prog {
            let want = u128::from(base) + u128::from(step) * (k as u128 + 1);
            assert_eq!(
                u128::from(label),
                want.min(u128::from(u64::MAX)),
                "label {k} of a spread"
            );
        }
        by_id[i as usize].1 = label;
    }
    placed.len(labels)
}

/// After a bulk load of names in ascending order:
/// - runs of names each added beside the one before (ascending into one gap,
///   descending into another, as imports of numbered agents or documents add them)
///   take one label each, thousands of them, where halving the gap ran out after ~40
///   and then relabelled hundreds of names at a time;
/// - so do two runs meeting in one gap, one rising and one falling, their names in
///   turn (each name beside the other run's last as well as its own): each goes to the
///   run whose last name it shares the longer prefix with, and a name that shares as
///   much with both gets the midpoint; and a run whose next name shares more with the
///   name on the far side of the gap;
/// - names converging on one gap where that prefix misleads (each rising name a prefix
///   of the falling ones: each is taken for the other run's) use the gap up faster than
///   halving it would: after a few dozen the names around the gap are relabelled.
#[test]
fn names_into_one_gap_after_a_bulk_load() {
    let mut labels = Labels::default();
    let mut by_id: Vec<(Id, u64)> = Vec::new();
    labels.begin_bulk();
    for i in 0..10_000 {
        add(&mut labels, &mut by_id, format!("doc:{i:08}"));
    }
    for (i, label) in labels.end_bulk() {
        by_id[i as usize].1 = label;
    }
    for i in 0..5_000 {
        let name = if i % 2 == 0 {
            format!("doc:00006666-b{}", "z".repeat(i / 2))
        } else {
            format!("doc:00006666-{}", "y".repeat(5_000 - i / 2))
        };
        let set = add(&mut labels, &mut by_id, name);
        assert_eq!(set, 1, "name {i} of two runs meeting relabelled others");
    }
    // Numbered runs meeting: at each ten-thousand (`…-010000` above `…-009999`, below
    // `…-089999`) the name shares as much with both, so the side decides, and the
    // name gets the midpoint (given to the wrong run with its step, it would leave
    // both a 65,536th of the gap, and after a few such the gap ran out).
    for k in 0..40_000 {
        for name in [
            format!("doc:00003333-{k:06}"),
            format!("doc:00003333-{:06}", 99_999 - k),
        ] {
            let set = add(&mut labels, &mut by_id, name);
            assert_eq!(set, 1, "name {k} of two numbered runs meeting relabelled others");
        }
    }
    // A single descending run whose next name shares more with the name below the gap
    // (`…-059999` below `…-060000`, above `…-050000`) stays the run it is.
    add(&mut labels, &mut by_id, "doc:00002222-050000".to_string());
    let label = |by_id: &[(Id, u64)], name: &str| by_id.iter().find(|(n, _)| n.as_str() == name).map(|n| n.1);
    let (floor, ceiling) = (label(&by_id, "doc:00002222-050000"), label(&by_id, "doc:00002223"));
    let gap = ceiling.unwrap() - floor.unwrap();
    for k in (50_001..70_000).rev() {
        let set = add(&mut labels, &mut by_id, format!("doc:00002222-{k:06}"));
        assert_eq!(
            set, 1,
            "name {k} of a run towards a name sharing its prefix relabelled others"
        );
    }
    // A good part of the gap is left below the run's last name (5% here): the run went
    // on as one. Restarted at each of those names, it halved what was left a few times
    // more each time (0.002% left).
    let left = label(&by_id, "doc:00002222-050001").unwrap() - floor.unwrap();
    assert!(left > gap / 64, "the run restarted: {left} of {gap} left");
    let mut relabelled = 0;
    for i in 0..100 {
        let name = if i % 2 == 0 {
            format!("doc:00007777-b{}", "z".repeat(i / 2))
        } else {
            format!("doc:00007777-b{}{}", "z".repeat(100), "y".repeat(100 - i / 2))
        };
        let set = add(&mut labels, &mut by_id, name);
        assert!(i >= 20 || set == 1, "converging name {i} relabelled others");
        relabelled = relabelled.max(set);
    }
    assert!(relabelled > 1, "converging names relabelled nothing");
    for k in 0..5_000 {
        let set = add(&mut labels, &mut by_id, format!("doc:00001233-{k:06}"));
        assert_eq!(set, 1, "ascending name {k} relabelled others");
    }
    for k in (0..5_000).rev() {
        let set = add(&mut labels, &mut by_id, format!("doc:00004321-{k:06}"));
        assert_eq!(set, 1, "descending name {k} relabelled others");
    }
    // Two runs interleaved in one gap (two imports side by side).
    for k in 0..5_000 {
        for stream in ["a", "b"] {
            let set = add(&mut labels, &mut by_id, format!("doc:00005555-{stream}{k:06}"));
            assert_eq!(set, 1, "name {k} of run {stream} relabelled others");
        }
    }
    labels
        .validate("name", by_id.len(), |i| by_id[i as usize].clone())
        .unwrap();
    // Outside a run the midpoint; in one, strictly between, near the run's last.
    assert_eq!(between(10, 20, 0, true), Some(15));
    assert_eq!(between(10, 11, 5, true), None);
    assert_eq!(between(10, 12, 9, false), Some(11));
    assert_eq!(between(0, 1 << 20, 3, true), Some(1 << 16));
    assert_eq!(between(0, 1 << 20, 3, false), Some((1 << 20) - (1 << 16)));
    assert_eq!(between(0, 1 << 40, u32::MAX, true), Some(1 << 24));
}

proptest! {
    #[test]
    fn keys_order_as_their_names(a in name(), b in name()) {
        let (ka, kb) = (Key::new(&Id::from_trusted(&a)), Key::new(&Id::from_trusted(&b)));
        prop_assert_eq!(ka.cmp(&kb), a.as_bytes().cmp(b.as_bytes()));
    }

    #[test]
    fn labels_rise_with_the_names(names in proptest::collection::vec((name(), 0..12u8), 1..200), bulk: bool) {
        // Folds forced at random points (at once, started, finished), and a bulk load.
        let mut labels = Labels::default();
        if bulk {
            labels.begin_bulk();
        }
        let mut by_id: Vec<(Id, u64)> = Vec::new();
        for (n, fold) in names {
            match fold {
                0 => labels.compact(),
                1 => labels.fold_in_background(),
                2 => labels.finish_fold(),
                _ => {}
            }
            if by_id.iter().any(|(m, _)| m.as_str() == n) {
                continue;
            }
            add(&mut labels, &mut by_id, n);
            labels.validate("name", by_id.len(), |i| by_id[i as usize].clone()).map_err(TestCaseError::fail)?;
        }
        for (i, label) in labels.end_bulk() {
            by_id[i as usize].1 = label;
        }
        labels.finish_fold();
        labels.validate("name", by_id.len(), |i| by_id[i as usize].clone()).map_err(TestCaseError::fail)?;
        prop_assert!(labels.delta.is_empty() || !bulk);
        if bulk {
            // Spread evenly over the middle half: equal gaps, a quarter of the space
            // left at each end.
            let mut spread: Vec<u64> = by_id.iter().map(|&(_, l)| l).collect();
            spread.sort_unstable();
            let step = (SPREAD / (spread.len() as u128 + 1)) as u64;
            prop_assert_eq!(spread[0], (SPREAD_FROM as u64) + step);
            prop_assert!(spread.windows(2).all(|w| w[1] - w[0] == step));
        }
    }
}
