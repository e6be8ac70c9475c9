//! Every shared scenario end to end: a real `endocarp serve` process per scenario on
//! loopback ports, the events appended over gRPC (EventService.AppendEvents), the checks
//! asked over gRPC one by one, then all at once as one CheckBatch whose every result must
//! be the single call's decision; and each check's answer is what the look-ups say
//! (ListActions, LookupTargets, LookupAgents list exactly what is allowed), with every
//! engine.

use crate::common;

use common::{Server, grpc_check, pb_event, reason_name};
use endocarp::grpc::pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_end_to_end_with_the_odrl_engine() {
    run("odrl").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_end_to_end_with_the_casbin_engine() {
    run("casbin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_end_to_end_in_shadow_mode_with_no_disagreement() {
    run("shadow").await;
}

async fn run(engine: &str) {
    let mut failures = Vec::new();
    let mut checks = 0;
    for (file, s) in common::scenarios() {
        let server = Server::start(&["--engine", engine]);
        let mut events = server.events().await;
        let mut revision = 0;
        for (i, e) in s.events.iter().enumerate() {
            let t = common::triple(e);
            let r = events
                .append_events(pb::AppendEventsRequest {
                    events: vec![pb_event(&t)],
                })
                .await
                .unwrap_or_else(|st| panic!("{file} / {}: event {i} refused: {st}", s.name))
                .into_inner();
            assert_eq!(r.revision, revision + 1, "positions have no gaps");
            revision = r.revision;
        }
        let mut decisions = server.decisions().await;
        let mut singles = Vec::new();
        for (n, c) in s.checks.iter().enumerate() {
            checks += 1;
            // Alternate the consistency modes; every one must see every write.
            let consistency = match n % 3 {
                0 => None,
                1 => Some(pb::Consistency {
                    at_least_revision: revision,
                    fully_consistent: false,
                }),
                _ => Some(pb::Consistency {
                    at_least_revision: 0,
                    fully_consistent: true,
                }),
            };
            let d = common::grpc_check_in(
                &mut decisions,
                &c.agent,
                c.account.as_deref(),
                &c.action,
                &c.target,
                consistency,
                c.pb_context(),
            )
            .await
            .unwrap_or_else(|st| panic!("{file} / {}: {c:?} failed: {st}", s.name));
            let reason_ok = c.reason.as_deref().is_none_or(|r| r == reason_name(d.reason));
            if d.allowed != c.allowed || !reason_ok {
                failures.push(format!(
                    "{file} / {}: {c:?} → allowed={} reason={}",
                    s.name,
                    d.allowed,
                    reason_name(d.reason)
                ));
            }
            assert_eq!(d.revision, revision, "a write's reply means this replica applied it");
            singles.push(d);
        }
        if !s.checks.is_empty() {
            let items = s
                .checks
                .iter()
                .enumerate()
                .map(|(n, c)| pb::BatchItem {
                    correlation_id: format!("c{n}"),
                    agent_id: c.agent.clone(),
                    account_id: c.account.clone().unwrap_or_default(),
                    action: c.action.clone(),
                    target: c.target.clone(),
                    context: c.pb_context(),
                })
                .collect();
            let batch = decisions
                .check_batch(pb::CheckBatchRequest {
                    items,
                    explain: true,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|st| panic!("{file} / {}: CheckBatch failed: {st}", s.name))
                .into_inner();
            assert_eq!(batch.revision, revision);
            assert_eq!(batch.results.len(), singles.len());
            for (n, (r, single)) in batch.results.iter().zip(&singles).enumerate() {
                assert_eq!(r.correlation_id, format!("c{n}"));
                assert_eq!(
                    r.outcome,
                    Some(pb::batch_result::Outcome::Decision(single.clone())),
                    "{file} / {}: batch item {n} differs from IsAuthorized",
                    s.name
                );
            }
        }
        let mut extra = 0u64;
        for (c, d) in s.checks.iter().zip(&singles) {
            let account = c.account.clone().unwrap_or_default();
            let at = format!("{file} / {}: {c:?}", s.name);
            // A look-up has no context: it answers as the same check without one.
            let without;
            let d = if c.context.is_some() {
                extra += 1;
                without = grpc_check(
                    &mut decisions,
                    &c.agent,
                    c.account.as_deref(),
                    &c.action,
                    &c.target,
                    None,
                )
                .await
                .unwrap_or_else(|st| panic!("{at}: without its context: {st}"));
                &without
            } else {
                d
            };
            let actions = decisions
                .list_actions(pb::ListActionsRequest {
                    agent_id: c.agent.clone(),
                    account_id: account.clone(),
                    target: c.target.clone(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|st| panic!("{at}: ListActions: {st}"))
                .into_inner();
            assert_eq!(
                actions.actions.contains(&d.action),
                d.allowed,
                "{at}: ListActions {actions:?}"
            );
            let targets = decisions
                .lookup_targets(pb::LookupTargetsRequest {
                    agent_id: c.agent.clone(),
                    account_id: account.clone(),
                    action: c.action.clone(),
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|st| panic!("{at}: LookupTargets: {st}"))
                .into_inner();
            let listed = if targets.every_target {
                !targets.except.contains(&c.target)
            } else {
                targets.targets.contains(&c.target)
            };
            assert_eq!(listed, d.allowed, "{at}: LookupTargets {targets:?}");
            let agents = decisions
                .lookup_agents(pb::LookupAgentsRequest {
                    action: c.action.clone(),
                    target: c.target.clone(),
                    account_id: account,
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|st| panic!("{at}: LookupAgents: {st}"))
                .into_inner();
            assert_eq!(
                agents.agents.contains(&c.agent),
                d.allowed,
                "{at}: LookupAgents {agents:?}"
            );
        }
        let status = common::server_status(&server).await;
        assert_eq!(status.engine, engine);
        if engine == "shadow" {
            assert_eq!(status.shadow_disagreements, 0, "{file} / {}", s.name);
            // Every check twice: alone, then in the batch (and once more without its
            // context, when it has one).
            assert_eq!(
                status.shadow_agreements,
                2 * s.checks.len() as u64 + extra,
                "{file} / {}",
                s.name
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
