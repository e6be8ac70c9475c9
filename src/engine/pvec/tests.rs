//! The persistent vector's own tests: old copies never change, phases, and a vector as
//! the reference across levels and shared copies.

use super::PVec;

#[test]
fn holds_what_was_pushed_and_old_copies_do_not_change() {
    let mut v = PVec::new();
    let mut copies = Vec::new();
    for i in 0..10_000u32 {
        v.push_back(i);
        if i % 997 == 0 {
            copies.push(v.clone());
        }
    }
    assert_eq!(v.len(), 10_000);
    assert!((0..10_000).all(|i| v.get(i as usize) == Some(&i)));
    assert_eq!(v.get(10_000), None);
    *v.get_mut(4_321).unwrap() = 7;
    assert_eq!(v.get(4_321), Some(&7));
    for c in &copies {
        assert!((0..c.len()).all(|i| c.get(i) == Some(&(i as u32))));
    }
    assert_eq!(v.iter().count(), 10_000);
}

/// A vector with a phase holds what a plain one holds, through shared copies and
/// writes, and its tail moves into the tree `phase` entries before a multiple of 64.
#[test]
fn a_phase_moves_the_tail_elsewhere_and_changes_nothing_else() {
    for phase in [0usize, 1, 21, 42, 63, 64, 65] {
        let mut v = PVec::with_phase(phase);
        assert_eq!((v.len(), v.get(0), v.get(usize::MAX)), (0, None, None));
        let mut model: Vec<u64> = Vec::new();
        let mut copies = Vec::new();
        let mut spills = Vec::new();
        for i in 0..9_000u64 {
            let before = v.tree_len;
            v.push_back(i * 3);
            model.push(i * 3);
            if v.tree_len != before {
                spills.push(v.len());
            }
            if i % 611 == 0 {
                copies.push((v.clone(), model.clone()));
                let at = (i as usize * 7) % v.len();
                let Some(entry) = v.get_mut(at) else {
                    panic!("phase {phase}: entry {at} of {} is missing", model.len())
                };
                *entry += 1;
                model[at] += 1;
            }
        }
        let first = 64 - phase % 64;
        assert_eq!(spills[0], first, "phase {phase}");
        assert!(
            spills.iter().all(|&n| n % 64 == first % 64),
            "phase {phase}: {spills:?}"
        );
        assert!(v.iter().eq(model.iter()));
        assert_eq!(v.get(model.len()), None);
        assert_eq!(v.get_mut(model.len()), None);
        for (c, m) in &copies {
            assert!(
                c.iter().eq(m.iter()) && c.len() == m.len(),
                "phase {phase}: a copy changed"
            );
        }
    }
}

/// Across every height up to three levels of inner nodes (past 64³ entries), with
/// copies kept at the edges where the tail moves into the tree and the tree grows a
/// level, and writes through `get_mut` into the tree and the tail of shared copies.
#[test]
fn matches_a_vector_across_levels_and_shared_copies() {
    // Where the tail moves into the tree (a multiple of 64) and where the tree grows a
    // level (the first leaf past 64, 64² and 64³ entries: at 128, 4,160 and 262,208).
    let edges = [
        63, 64, 65, 127, 128, 129, 4_095, 4_096, 4_097, 4_159, 4_160, 4_161, 262_143, 262_144, 262_145, 262_207,
        262_208, 262_209,
    ];
    let mut v = PVec::new();
    let mut model: Vec<u64> = Vec::new();
    let mut copies: Vec<(PVec<u64>, Vec<u64>)> = Vec::new();
    let mut x = 1u64;
    for i in 0..270_000usize {
        v.push_back(i as u64);
        model.push(i as u64);
        if edges.contains(&v.len()) {
            copies.push((v.clone(), model.clone()));
            // A write into the tree and one into the tail, on a shared vector.
            for _ in 0..4 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let at = (x >> 33) as usize % v.len();
                *v.get_mut(at).unwrap() = x;
                model[at] = x;
            }
            let last = v.len() - 1;
            *v.get_mut(last).unwrap() += 1;
            model[last] += 1;
        }
    }
    assert_eq!(v.len(), model.len());
    assert!(model.iter().enumerate().all(|(i, m)| v.get(i) == Some(m)));
    assert!(v.iter().eq(model.iter()));
    assert_eq!(v.get(model.len()), None);
    for (c, m) in &copies {
        assert_eq!(c.len(), m.len());
        assert!(c.iter().eq(m.iter()), "a copy of {} entries changed", m.len());
    }
}
