//! `endocarp bench --batch-checks`: CheckBatch of 100 items against single calls over the
//! same channel, and the look-ups over gRPC one call at a time, as a Markdown report.

use crate::bench::fmt_ns;
use crate::bench::load::{self, Call};
use crate::grpc::pb;
use std::sync::Arc;
use std::time::Duration;

/// CheckBatch of 100 against single calls over one channel, and the look-ups over gRPC one
/// call at a time; a Markdown report.
pub async fn report(url: &str, calls: Arc<Vec<Call>>, duration: Duration) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    writeln!(
        out,
        "CheckBatch of 100 items against single IsAuthorized calls, one channel, the same checks:\n"
    )?;
    writeln!(
        out,
        "| in flight | single calls: checks/s | CheckBatch(100): checks/s | ratio | errors |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|")?;
    for n in [1usize, 8] {
        eprintln!("batch vs single, {n} in flight");
        let (single, e1) = load::checks_per_second(url, calls.clone(), n, None, duration).await?;
        let (batched, e2) = load::checks_per_second(url, calls.clone(), n, Some(100), duration).await?;
        writeln!(
            out,
            "| {n} | {single:.0} | {batched:.0} | **{:.1}×** | {} |",
            batched / single.max(1e-9),
            e1 + e2
        )?;
    }
    let agents: Vec<String> = calls.iter().map(|c| c.fields().0.to_string()).collect();
    let pairs: Vec<(String, String)> = calls
        .iter()
        .map(|c| (c.fields().0.to_string(), c.fields().3.to_string()))
        .collect();
    writeln!(out, "\nLook-ups over gRPC, one call at a time:\n")?;
    writeln!(out, "| call | p50 | p99 | p99.9 | calls | errors |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    let mut row = |name: &str, (p50, p99, p999, n, e): (u64, u64, u64, u64, u64)| {
        writeln!(
            out,
            "| {name} | {} | {} | {} | {n} | {e} |",
            fmt_ns(p50),
            fmt_ns(p99),
            fmt_ns(p999)
        )
    };
    eprintln!("look-ups over gRPC");
    let r = load::unary_latency(url, &agents, duration, |mut c, agent| async move {
        c.lookup_targets(pb::LookupTargetsRequest {
            agent_id: agent,
            action: "odrl:read".into(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .map(|_| ())
    })
    .await?;
    row("LookupTargets odrl:read, first page of 100", r)?;
    let r = load::unary_latency(url, &pairs, duration, |mut c, (agent, target)| async move {
        c.list_actions(pb::ListActionsRequest {
            agent_id: agent,
            target,
            ..Default::default()
        })
        .await
        .map(|_| ())
    })
    .await?;
    row("ListActions", r)?;
    let targets: Vec<String> = pairs.iter().map(|(_, t)| t.clone()).take(50).collect();
    let r = load::unary_latency(url, &targets, duration, |mut c, target| async move {
        c.lookup_agents(pb::LookupAgentsRequest {
            action: "odrl:read".into(),
            target,
            page_size: 100,
            ..Default::default()
        })
        .await
        .map(|_| ())
    })
    .await?;
    row("LookupAgents odrl:read, first page of 100", r)?;
    Ok(out)
}
