//! Laws of the event store and the projection, checked on random histories:
//! - applying events one by one gives the same index as loading the read model after a
//!   restart (and as the projector's tailing, and as a repack, built before or after
//!   the last writes);
//! - appending the same batch twice changes nothing the second time;
//! - a rejected batch leaves the log, the read model and the revision untouched.

use crate::common;

use endocarp::app::Projector;
use endocarp::domain::event::Triple;
use endocarp::domain::{Action, NewEvent};
use endocarp::engine::{self, Check, EngineOptions, Index};
use endocarp::store::{Store, StoreError};
use proptest::prelude::*;
use std::collections::BTreeMap;

use common::history::{ACTIONS, AGENTS, any_triple, t};

fn event(id: String, triple: &Triple) -> NewEvent {
    NewEvent::parse(&id, triple, None, None, BTreeMap::new()).expect("generated events are valid")
}

async fn fresh_store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let store = Store::connect(&url, true).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

async fn loaded_index(store: &Store) -> Index {
    let mut index = Index::default();
    let rev = store.load_read_model(|c| index.apply(&c)).await.expect("load");
    index.set_revision(rev);
    index
}

/// Every check of the histories' universe on target `t1`, globally and in `acc1`, explained.
fn every_check() -> Vec<Check> {
    let mut out = Vec::new();
    for agent in AGENTS {
        for account in [None, Some("acc1")] {
            for action in ACTIONS {
                out.push(Check {
                    agent: endocarp::domain::Id::parse("a", agent).unwrap(),
                    account: account.map(|a| endocarp::domain::Id::parse("acc", a).unwrap()),
                    action: Action::parse("action", action).unwrap(),
                    target: endocarp::domain::Id::parse("t", "t1").unwrap(),
                    explain: true,
                    explain_limit: usize::MAX,
                    context: Default::default(),
                });
            }
        }
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn replay_equals_restart(
        history in proptest::collection::vec(any_triple(), 1..60),
        batch in 1usize..5,
        rebuild_at in 0usize..30,
    ) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = fresh_store(&dir).await;
            // A projector started on the empty log tails every append below.
            let projector = Projector::start(store.clone(), None, 0).await.expect("projector");
            let never = tokio_util::sync::CancellationToken::new();
            let mut one_by_one = Index::default();
            let mut n = 0u64;
            // A repack's build part way through the history: the writes after it are
            // applied to it when it is published.
            let mut rebuilt = None;
            for (i, chunk) in history.chunks(batch).enumerate() {
                if i == rebuild_at {
                    // The read model is ahead of the projector, which has applied nothing yet.
                    let r = projector.rebuild(&never).await.expect("rebuild").expect("not stopped");
                    assert_eq!(r.revision(), n);
                    rebuilt = Some(r);
                }
                let events: Vec<NewEvent> = chunk.iter().map(|t| event(String::new(), t)).collect();
                for e in &events {
                    one_by_one.apply(&e.change);
                }
                n += events.len() as u64;
                let out = store.append(events, None).await.expect("append");
                assert_eq!(out.revision, n);
            }
            one_by_one.set_revision(n);
            let restarted = loaded_index(&store).await;
            assert_eq!(&restarted, &one_by_one, "the read model must rebuild the same index");
            // And the same decisions on every check of the universe.
            let o = EngineOptions::default();
            for check in every_check() {
                assert_eq!(engine::decide(&restarted, &check, &o), engine::decide(&one_by_one, &check, &o));
            }
            // A repack of a replica behind the read model catches the replica up first and
            // publishes the same state (the projector has applied nothing yet)…
            assert_eq!(projector.applied(), 0);
            let r = projector.repack(&never).await.expect("repack").expect("not stopped");
            assert_eq!((r.revision, r.built_at), (n, n));
            assert_eq!(projector.applied(), n);
            assert_eq!(&projector.snapshot().index, &one_by_one);
            // …and one built part way through applies the writes since and publishes it too.
            if let Some(rebuilt) = rebuilt {
                let at = rebuilt.revision();
                let r = projector.publish(rebuilt).await.expect("publish");
                assert_eq!((r.revision, r.built_at), (n, at));
                assert_eq!(projector.built().revision, at);
                let repacked = projector.snapshot();
                assert_eq!(&repacked.index, &one_by_one);
                let o = EngineOptions::default();
                for check in every_check() {
                    assert_eq!(engine::decide(&repacked.index, &check, &o), engine::decide(&one_by_one, &check, &o));
                }
            }
            // The projector, tailing the log, stays in the same state.
            assert_eq!(projector.catch_up().await.expect("tail"), n);
            assert_eq!(&projector.snapshot().index, &one_by_one);
            store.close().await;
        });
    }

    #[test]
    fn appending_the_same_batch_twice_changes_nothing(history in proptest::collection::vec(any_triple(), 1..20)) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = fresh_store(&dir).await;
            let batch: Vec<NewEvent> = history.iter().enumerate().map(|(i, t)| event(format!("ev-{i}"), t)).collect();
            let first = store.append(batch.clone(), None).await.expect("first");
            let before = loaded_index(&store).await;
            let log_before = store.read_events(0, 1000, None).await.unwrap();
            let second = store.append(batch, None).await.expect("second");
            assert_eq!(second.revision, first.revision);
            assert_eq!(second.appended, 0);
            assert_eq!(second.ids, first.ids);
            assert_eq!(store.head().await.unwrap(), first.revision);
            assert_eq!(loaded_index(&store).await, before);
            assert_eq!(store.read_events(0, 1000, None).await.unwrap(), log_before);
            store.close().await;
        });
    }

    #[test]
    fn a_rejected_batch_leaves_everything_untouched(
        history in proptest::collection::vec(any_triple(), 1..20),
        extra in proptest::collection::vec(any_triple(), 0..10),
        conflict in any::<bool>(),
    ) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = fresh_store(&dir).await;
            let batch: Vec<NewEvent> = history.iter().enumerate().map(|(i, t)| event(format!("ev-{i}"), t)).collect();
            store.append(batch.clone(), None).await.expect("history");
            let head = store.head().await.unwrap();
            let index = loaded_index(&store).await;
            let log = store.read_events(0, 1000, None).await.unwrap();

            // Good events first, then the one that sinks the batch.
            let mut bad: Vec<NewEvent> = extra.iter().enumerate().map(|(i, t)| event(format!("new-{i}"), t)).collect();
            let poison = if conflict {
                let mut e = event("new-conflict".into(), &history[0]);
                e.expected_version = Some(999);
                e
            } else {
                // Reuses a stored id with different content.
                let other = t("Agent.RoleAssigned", "zz", "zz", "org:hasRole", "rz", &[]);
                event("ev-0".into(), &other)
            };
            bad.push(poison);
            let err = store.append(bad, None).await.expect_err("must be rejected");
            match (conflict, &err) {
                (true, StoreError::VersionConflict { .. }) | (false, StoreError::AlreadyExists { .. }) => {}
                _ => panic!("wrong error: {err:?}"),
            }
            assert_eq!(store.head().await.unwrap(), head);
            assert_eq!(loaded_index(&store).await, index);
            assert_eq!(store.read_events(0, 1000, None).await.unwrap(), log);
            store.close().await;
        });
    }
}

#[test]
fn expected_version_counts_earlier_events_of_the_batch() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh_store(&dir).await;
        let a = t("Agent.RoleAssigned", "a1", "a1", "org:hasRole", "r1", &[]);
        let b = t("Agent.RoleAssigned", "a1", "a1", "org:hasRole", "r2", &[]);
        let mut e1 = event(String::new(), &a);
        e1.expected_version = Some(0);
        let mut e2 = event(String::new(), &b);
        e2.expected_version = Some(1);
        store.append(vec![e1, e2], None).await.expect("running versions");
        let mut e3 = event(String::new(), &a);
        e3.expected_version = Some(1);
        assert!(matches!(
            store.append(vec![e3], None).await,
            Err(StoreError::VersionConflict { actual: 2, .. })
        ));
        // De-duplication runs before the version check: a stored duplicate is skipped.
        let mut dup = event("fixed".into(), &a);
        store.append(vec![dup.clone()], None).await.unwrap();
        dup.expected_version = Some(0);
        let again = store
            .append(vec![dup], None)
            .await
            .expect("duplicate skipped before its version is checked");
        assert_eq!(again.appended, 0);
        // The same id twice in one batch with different content.
        let x = event("twice".into(), &a);
        let y = event("twice".into(), &b);
        assert!(matches!(
            store.append(vec![x, y], None).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        let events = store.read_events(0, 100, Some("a1")).await.unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e.sequence_no).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        store.close().await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// No string crashes the parsers, and what they accept keeps the contract.
    #[test]
    fn parsers_never_panic_and_accept_only_valid_input(s in ".{0,600}", t in "(odrl|cc|foaf|org|schema|urn|http|https|x)[:/a-zA-Z]{0,20}") {
        use endocarp::domain::{Id, Target};
        if let Ok(id) = Id::parse("f", &s) {
            prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= 512);
            prop_assert!(id.as_str() != "*" && !id.as_str().chars().any(char::is_control));
        }
        if let Ok(Target::One(id)) = Target::parse("f", &s) {
            prop_assert!(id.as_str() != "*");
        }
        for candidate in [&s, &t] {
            if let Ok(a) = Action::parse("action", candidate) {
                let iri = a.as_str();
                prop_assert!(iri.starts_with("http://") || iri.starts_with("https://") || iri.starts_with("urn:"), "{}", iri);
                // Canonical forms are fixed points.
                prop_assert_eq!(Action::parse("action", iri).unwrap(), a.clone());
            }
        }
        let triple = Triple { event_type: t.clone(), aggregate_id: s.clone(), subject: s.clone(), predicate: t.clone(), object: s.clone(), payload: BTreeMap::new() };
        let _ = triple.interpret();
    }
}

/// The projector keeps the role summaries current: the start-up load builds them, a write
/// that can change them drops them from the next snapshot, and a background build is
/// published (same revision) once the projector finds it finished, with every check
/// answering as before.
#[test]
fn the_projector_rebuilds_role_summaries_after_a_write_drops_them() {
    use common::history::permission;
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh_store(&dir).await;
        let role = |s: &str, o: &str| t("Role.RoleAssigned", s, s, "org:hasRole", o, &[]);
        let agent_role = |s: &str, o: &str| t("Agent.RoleAssigned", s, s, "org:hasRole", o, &[]);
        let initial = vec![
            event("e1".into(), &agent_role("agent:1", "role:r1")),
            event("e2".into(), &role("role:r1", "role:r2")),
            event("e3".into(), &permission(true, "policy:p", "role:r2", "odrl:read", "*")),
        ];
        store.append(initial, None).await.expect("append");
        let projector = Projector::start(store.clone(), None, 0).await.expect("projector");
        assert!(projector.snapshot().index.summarized(), "the start-up load builds them");
        let check = |act: &str| Check {
            agent: endocarp::domain::Id::parse("a", "agent:1").unwrap(),
            account: None,
            action: Action::parse("action", act).unwrap(),
            target: endocarp::domain::Id::parse("t", "doc:1").unwrap(),
            explain: false,
            explain_limit: usize::MAX,
            context: Default::default(),
        };
        let o = EngineOptions::default();
        assert!(
            engine::decide(&projector.snapshot().index, &check("odrl:read"), &o)
                .unwrap()
                .allowed
        );
        // A role-to-role edge drops them; the projector starts a build.
        let more = vec![
            event("e4".into(), &role("role:r2", "role:r3")),
            event(
                "e5".into(),
                &permission(true, "policy:p", "role:r3", "odrl:modify", "*"),
            ),
        ];
        store.append(more, None).await.expect("append");
        assert_eq!(projector.catch_up().await.expect("tail"), 5);
        let walked = projector.snapshot();
        assert!(!walked.index.summarized());
        assert!(
            engine::decide(&walked.index, &check("odrl:modify"), &o)
                .unwrap()
                .allowed
        );
        // Idle catch-ups publish the build once it has finished.
        let mut tries = 0;
        while !projector.snapshot().index.summarized() {
            tries += 1;
            assert!(tries < 3000, "the background build was never published");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            assert_eq!(projector.catch_up().await.expect("tail"), 5);
        }
        let summarized = projector.snapshot();
        assert_eq!(summarized.index.revision(), 5);
        summarized.index.validate().unwrap();
        for act in ["odrl:read", "odrl:modify", "odrl:play"] {
            assert_eq!(
                engine::decide(&summarized.index, &check(act), &o),
                engine::decide(&walked.index, &check(act), &o)
            );
        }
        store.close().await;
    });
}
