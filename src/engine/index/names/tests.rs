//! The name tables' own tests: ids through compactions and background folds, old copies,
//! both hashers, bulk loads.

use super::*;

fn id(s: &str) -> Id {
    Id::from_trusted(s)
}

fn check_all(names: &Names, model: &[String]) {
    // Under the colliding hasher every look-up walks the whole cluster: sample.
    let step = if names.hasher.collide { 97 } else { 1 };
    for (i, n) in model.iter().enumerate().step_by(step) {
        assert_eq!(names.get(n), Some(i as u32), "{n}");
    }
    assert_eq!(names.get("absent"), None);
    assert_eq!(names.get(""), None);
    if step == 1 {
        names.validate().unwrap();
    }
}

/// The default hasher and one under which every name collides.
fn both_hashers() -> [IdHasher; 2] {
    [
        IdHasher::default(),
        IdHasher {
            seed: Default::default(),
            collide: true,
        },
    ]
}

#[test]
fn names_keep_their_ids_through_compactions_and_old_copies_stay_as_they_were() {
    for hasher in both_hashers() {
        let mut names = Names::new(&hasher);
        let mut model: Vec<String> = Vec::new();
        let mut kept = Vec::new();
        // Multi-byte names, names whose byte order differs from their ids', lengths
        // across the padding boundary.
        for i in 0..(COMPACT_AT * 3) {
            let n = format!("{}é{}", "x".repeat(i % 11), 99_999 - i);
            names.insert(&id(&n), model.len() as u32);
            model.push(n);
            if i % 1500 == 0 {
                kept.push((names.clone(), model.len()));
            }
        }
        check_all(&names, &model);
        names.finish_fold();
        assert!(names.base.len > 0, "a compaction happened");
        check_all(&names, &model);
        for (old, len) in &kept {
            check_all(old, &model[..*len]);
            assert_eq!(old.get(&model[*len]), None, "an old copy does not see later names");
        }
        names.compact();
        assert_eq!(names.delta_len(), 0);
        check_all(&names, &model);
    }
}

/// Adds `n` new names (multi-byte, ids in insertion order) to `names` and `model`.
fn add(names: &mut Names, model: &mut Vec<String>, n: usize) {
    for _ in 0..n {
        let name = format!("é-{}", 1_000_000 - model.len());
        names.insert(&id(&name), model.len() as u32);
        model.push(name);
    }
}

#[test]
fn a_background_fold_changes_no_id_and_copies_taken_during_it_keep_answering() {
    let mut names = Names::new(&IdHasher::default());
    let mut model = Vec::new();
    add(&mut names, &mut model, COMPACT_AT);
    assert!(names.folding.is_none() && names.base.len == 0);
    // The write that crosses the line freezes the delta and starts the fold.
    add(&mut names, &mut model, 1);
    assert!(names.folding.is_some());
    assert_eq!(names.frozen.len(), COMPACT_AT + 1);
    let during = (names.clone(), model.len());
    check_all(&names, &model);
    // Names added while it runs go to a fresh delta.
    add(&mut names, &mut model, 100);
    assert_eq!(names.delta.len(), 100);
    check_all(&names, &model);
    names.finish_fold();
    assert!(names.folding.is_none() && names.frozen.is_empty());
    assert_eq!((names.base.len, names.delta.len()), (COMPACT_AT + 1, 100));
    check_all(&names, &model);
    // The copy taken during the fold answers as of then, before and after it swaps the
    // same fold's base in.
    let (mut copy, len) = during;
    check_all(&copy, &model[..len]);
    assert_eq!(copy.get(&model[len]), None);
    copy.finish_fold();
    assert_eq!((copy.base.len, copy.delta_len()), (len, 0));
    check_all(&copy, &model[..len]);
    // The next fold starts only once the delta outgrows its share again.
    add(&mut names, &mut model, COMPACT_AT - 100);
    assert!(names.folding.is_none());
    add(&mut names, &mut model, 1);
    assert!(names.folding.is_some());
    names.compact();
    assert!(names.folding.is_none());
    assert_eq!(names.delta_len(), 0);
    check_all(&names, &model);
}

#[test]
fn a_fold_whose_thread_built_nothing_is_done_by_the_next_write() {
    let mut names = Names::new(&IdHasher::default());
    let mut model = Vec::new();
    add(&mut names, &mut model, 10);
    // The folding thread panics: it ends with nothing built.
    names.frozen = std::mem::take(&mut names.delta);
    let fold: Arc<Fold> =
        Background::start("endocarp-test-fold", || -> Arc<Flat> { panic!("a fold that fails") }).expect("a thread");
    fold.finish();
    assert!(fold.failed());
    names.folding = Some(fold);
    check_all(&names, &model);
    add(&mut names, &mut model, 1);
    assert!(names.folding.is_none());
    assert_eq!((names.base.len, names.delta_len()), (11, 0));
    check_all(&names, &model);
}

#[test]
fn a_bulk_load_compacts_once_at_its_end() {
    let mut names = Names::new(&IdHasher::default());
    names.begin_bulk();
    let model: Vec<String> = (0..(COMPACT_AT * 2)).map(|i| format!("n{i}")).collect();
    for (i, n) in model.iter().enumerate() {
        names.insert(&id(n), i as u32);
    }
    assert_eq!(names.delta_len(), model.len());
    check_all(&names, &model);
    names.end_bulk();
    assert_eq!(names.delta_len(), 0);
    check_all(&names, &model);
}

/// A bulk load's growing table: names found through every doubling of its slots, under
/// both hashers, after names already in the base and the delta (its ids follow theirs);
/// a copy taken during the load keeps answering as of then when the load goes on.
#[test]
fn a_bulk_load_finds_its_names_through_every_growth_and_copies_taken_during_it_stay() {
    for hasher in both_hashers() {
        let mut names = Names::new(&hasher);
        let mut model = Vec::new();
        add(&mut names, &mut model, COMPACT_AT + 40);
        names.finish_fold();
        add(&mut names, &mut model, 7);
        assert!(names.base.len > 0 && !names.delta.is_empty());
        names.begin_bulk();
        let mut kept = Vec::new();
        let total = if hasher.collide { 700 } else { 5_000 };
        for i in 0..total {
            // Lengths across the padding boundary, multi-byte, byte order unlike id order.
            let n = format!("{}ü{}", "y".repeat(i % 9), total - i);
            assert_eq!(names.get(&n), None);
            names.insert(&id(&n), model.len() as u32);
            model.push(n);
            if [0, 1, 31, 32, 33, 63, 64, 65, 700, 2_047, 2_048].contains(&i) {
                names.validate().unwrap();
                check_all(&names, &model);
                kept.push((names.clone(), model.len()));
            }
        }
        check_all(&names, &model);
        for (old, len) in &kept {
            check_all(old, &model[..*len]);
            if let Some(next) = model.get(*len) {
                assert_eq!(old.get(next), None, "a copy does not see later names");
            }
        }
        names.end_bulk();
        assert_eq!(names.delta_len(), 0);
        check_all(&names, &model);
    }
}
