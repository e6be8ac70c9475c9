//! `endocarp check`: one decision from a running server, as text or JSON; with `--batch`,
//! every line of a JSON-lines file through CheckBatch, one result a line.

use super::args::{CheckArgs, StopAt};
use super::client::ClientOptions;
use crate::grpc::pb;
use anyhow::{Context, bail};
use std::collections::HashMap;
use std::io::BufRead;

/// One line of a `--batch` file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    id: Option<String>,
    agent: String,
    #[serde(default)]
    account: Option<String>,
    action: String,
    target: String,
    #[serde(default)]
    context: Option<serde_json::Value>,
}

/// A `--context` object (or a batch line's `"context"`) as the request's context map:
/// keys are left operands, values as [`crate::domain::constraint::context_from_json`]
/// reads them.
pub fn context_map(json: &serde_json::Value) -> anyhow::Result<HashMap<String, pb::ContextValue>> {
    let serde_json::Value::Object(map) = json else {
        bail!("the context must be a JSON object keyed by left operand");
    };
    let mut ctx = crate::domain::constraint::Context::default();
    for (k, v) in map {
        let (value, unit) = crate::domain::constraint::context_from_json(k, v)?;
        ctx.insert(k, value, unit.as_deref())?;
    }
    Ok(crate::grpc::convert::context_to_pb(&ctx))
}

/// Reads a `--batch` file (`-`: standard input); a bad line refuses the whole file.
fn read_batch(path: &std::path::Path) -> anyhow::Result<Vec<pb::BatchItem>> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ))
    };
    let mut items = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("{}: line {}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}: line {}: expected {{\"agent\", \"action\", \"target\"}} with optional \"account\" and \"id\"",
                path.display(),
                n + 1
            )
        })?;
        items.push(pb::BatchItem {
            correlation_id: l.id.unwrap_or_else(|| format!("line {}", n + 1)),
            agent_id: l.agent,
            account_id: l.account.unwrap_or_default(),
            action: l.action,
            target: l.target,
            context: match &l.context {
                Some(c) => context_map(c).with_context(|| format!("{}: line {}", path.display(), n + 1))?,
                None => HashMap::new(),
            },
        });
    }
    if items.is_empty() {
        bail!("{}: no checks in the file", path.display());
    }
    Ok(items)
}

async fn run_batch(a: &CheckArgs, path: &std::path::Path, opts: &ClientOptions) -> anyhow::Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let items = read_batch(path)?;
    let mut c = opts.decisions(&a.server).await?;
    let semantics = match a.stop_at {
        StopAt::Never => pb::BatchSemantics::ExecuteAll,
        StopAt::FirstDeny => pb::BatchSemantics::DenyOnFirstDeny,
        StopAt::FirstPermit => pb::BatchSemantics::PermitOnFirstPermit,
    };
    let (mut allowed, mut denied, mut failed) = (0, 0, 0);
    for chunk in items.chunks(a.batch_size) {
        let r = c
            .check_batch(pb::CheckBatchRequest {
                items: chunk.to_vec(),
                consistency: Some(pb::Consistency {
                    at_least_revision: a.at_least_revision,
                    fully_consistent: a.fully_consistent,
                }),
                explain: a.explain,
                semantics: semantics as i32,
                explain_limit: a.explain_limit,
            })
            .await?
            .into_inner();
        let stopped = r.results.len() < chunk.len();
        for res in &r.results {
            match &res.outcome {
                Some(pb::batch_result::Outcome::Decision(d)) => {
                    if d.allowed {
                        allowed += 1;
                    } else {
                        denied += 1;
                    }
                    print_decision(&res.correlation_id, d, a.json);
                }
                Some(pb::batch_result::Outcome::Error(e)) => {
                    failed += 1;
                    let code = crate::grpc::code_name(tonic::Code::from_i32(e.code));
                    if a.json {
                        let v = serde_json::json!({"id": res.correlation_id, "error": {"code": code, "field": e.field, "message": e.message}});
                        println!("{v}");
                    } else {
                        println!("{}\tERROR {code}: {}", res.correlation_id, e.message);
                    }
                }
                None => bail!("the server returned a result with no outcome"),
            }
        }
        let last_stops = match (a.stop_at, r.results.last().and_then(|x| x.outcome.as_ref())) {
            (StopAt::FirstDeny, Some(pb::batch_result::Outcome::Decision(d))) => !d.allowed,
            (StopAt::FirstDeny, Some(pb::batch_result::Outcome::Error(_))) => true,
            (StopAt::FirstPermit, Some(pb::batch_result::Outcome::Decision(d))) => d.allowed,
            _ => false,
        };
        if stopped || last_stops {
            break;
        }
    }
    eprintln!("{allowed} allowed, {denied} denied, {failed} failed");
    Ok(())
}

/// One decision as a line of `check --batch` output.
fn print_decision(id: &str, d: &pb::Decision, json: bool) {
    if json {
        let mut v = decision_json(d);
        v["id"] = serde_json::json!(id);
        println!("{v}");
    } else {
        println!(
            "{id}\t{} ({}) at revision {}",
            if d.allowed { "ALLOW" } else { "DENY" },
            reason_name(d.reason),
            d.revision
        );
    }
}

fn decision_json(d: &pb::Decision) -> serde_json::Value {
    serde_json::json!({
        "allowed": d.allowed,
        "reason": reason_name(d.reason),
        "revision": d.revision,
        "action": d.action,
        "deciding_rule": d.deciding_rule.as_ref().map(|r| serde_json::json!({
            "policy_id": r.policy_id, "kind": if r.kind == pb::RuleKind::Prohibition as i32 { "prohibition" } else { "permission" },
            "assignee": r.assignee, "action": r.action, "target": r.target, "constraint": r.constraint, "refinement": r.refinement })),
        "assignees": d.explanation.as_ref().map(|e| e.assignees.clone()),
        "other_rules": d.explanation.as_ref().map(|e| e.other_rules.iter().map(rule_text).collect::<Vec<_>>()),
        "unenforced_rules": d.explanation.as_ref().map(|e| e.unenforced_rules.iter().map(rule_text).collect::<Vec<_>>()),
        "conditions": d.explanation.as_ref().map(|e| e.conditions.iter().map(|n| serde_json::json!({
            "rule": n.rule.as_ref().map(rule_text),
            "applies": n.applies,
            "why": n.why,
        })).collect::<Vec<_>>()),
        "totals": d.explanation.as_ref().map(|e| serde_json::json!({
            "assignees": e.assignees_total,
            "other_rules": e.other_rules_total,
            "unenforced_rules": e.unenforced_rules_total,
            "conditions": e.conditions_total,
        })),
    })
}

/// "  … and N more (explain_limit)" when a list of an explanation was cut short.
fn left_out(shown: usize, total: u32) {
    let total = total as usize;
    if total > shown {
        println!("  … and {} more (raise --explain-limit to see them)", total - shown);
    }
}

pub async fn run(a: CheckArgs, opts: &ClientOptions) -> anyhow::Result<()> {
    if let Some(path) = &a.batch {
        return run_batch(&a, path, opts).await;
    }
    let (Some(agent), Some(action), Some(target)) = (a.agent.clone(), a.action.clone(), a.target.clone()) else {
        bail!("check needs AGENT ACTION TARGET, or --batch FILE");
    };
    let context = match &a.context {
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text).context("--context is not JSON")?;
            context_map(&json).context("--context")?
        }
        None => HashMap::new(),
    };
    let mut c = opts.decisions(&a.server).await?;
    let consistency = Some(pb::Consistency {
        at_least_revision: a.at_least_revision,
        fully_consistent: a.fully_consistent,
    });
    let d = match &a.account {
        None => {
            c.is_authorized(pb::IsAuthorizedRequest {
                agent_id: agent.clone(),
                action: action.clone(),
                target: target.clone(),
                consistency,
                explain: a.explain,
                explain_limit: a.explain_limit,
                context: context.clone(),
            })
            .await?
            .into_inner()
            .decision
        }
        Some(acc) => {
            c.is_authorized_in_account(pb::IsAuthorizedInAccountRequest {
                agent_id: agent,
                account_id: acc.clone(),
                action,
                target,
                consistency,
                explain: a.explain,
                explain_limit: a.explain_limit,
                context,
            })
            .await?
            .into_inner()
            .decision
        }
    };
    let d = d.context("the server returned no decision")?;
    if a.json {
        println!("{}", decision_json(&d));
    } else {
        println!(
            "{} ({}) at revision {}",
            if d.allowed { "ALLOW" } else { "DENY" },
            reason_name(d.reason),
            d.revision
        );
        if let Some(r) = &d.deciding_rule {
            println!("  decided by {}", rule_text(r));
        }
        if let Some(e) = &d.explanation {
            println!("  assignees: {}", e.assignees.join(", "));
            left_out(e.assignees.len(), e.assignees_total);
            for r in &e.other_rules {
                println!("  also applied: {}", rule_text(r));
            }
            left_out(e.other_rules.len(), e.other_rules_total);
            for r in &e.unenforced_rules {
                println!(
                    "  did not count (its policy's type or conflict strategy): {}",
                    rule_text(r)
                );
            }
            left_out(e.unenforced_rules.len(), e.unenforced_rules_total);
            for n in &e.conditions {
                let rule = n.rule.as_ref().map(rule_text).unwrap_or_default();
                let verb = if n.applies { "applied" } else { "did not apply" };
                println!("  {verb} ({}): {rule}", n.why);
            }
            left_out(e.conditions.len(), e.conditions_total);
        }
    }
    Ok(())
}

pub(super) fn reason_name(r: i32) -> &'static str {
    match pb::Reason::try_from(r).unwrap_or(pb::Reason::Unspecified) {
        pb::Reason::Permitted => "PERMITTED",
        pb::Reason::Prohibited => "PROHIBITED",
        pb::Reason::NotPermitted => "NOT_PERMITTED",
        pb::Reason::AgentInactive => "AGENT_INACTIVE",
        pb::Reason::AccountInactive => "ACCOUNT_INACTIVE",
        pb::Reason::NotAMember => "NOT_A_MEMBER",
        pb::Reason::Unspecified => "UNSPECIFIED",
    }
}

pub(super) fn rule_text(r: &pb::RuleRef) -> String {
    let kind = if r.kind == pb::RuleKind::Prohibition as i32 {
        "prohibition"
    } else {
        "permission"
    };
    format!(
        "{kind} in policy {:?}: {:?} may{} {} on {:?}",
        r.policy_id,
        r.assignee,
        if kind == "prohibition" { " not" } else { "" },
        crate::domain::action::compact_iri(&r.action),
        r.target
    ) + if r.constraint.is_empty() { "" } else { " when " }
        + r.constraint.as_str()
        + if r.refinement.is_empty() { "" } else { " refined by " }
        + r.refinement.as_str()
}
