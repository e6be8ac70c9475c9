//! `endocarp check`: one decision from a running server, as text or JSON.

use super::args::CheckArgs;
use super::client::ClientOptions;
use crate::grpc::pb;
use anyhow::Context;

pub async fn run(a: CheckArgs, opts: &ClientOptions) -> anyhow::Result<()> {
    let mut c = opts.decisions(&a.server).await?;
    let consistency = Some(pb::Consistency {
        at_least_revision: a.at_least_revision,
        fully_consistent: a.fully_consistent,
    });
    let d = match &a.account {
        None => {
            c.is_authorized(pb::IsAuthorizedRequest {
                agent_id: a.agent.clone(),
                action: a.action.clone(),
                target: a.target.clone(),
                consistency,
                explain: a.explain,
            })
            .await?
            .into_inner()
            .decision
        }
        Some(acc) => {
            c.is_authorized_in_account(pb::IsAuthorizedInAccountRequest {
                agent_id: a.agent.clone(),
                account_id: acc.clone(),
                action: a.action.clone(),
                target: a.target.clone(),
                consistency,
                explain: a.explain,
            })
            .await?
            .into_inner()
            .decision
        }
    };
    let d = d.context("the server returned no decision")?;
    if a.json {
        let v = serde_json::json!({
            "allowed": d.allowed,
            "reason": reason_name(d.reason),
            "revision": d.revision,
            "action": d.action,
            "deciding_rule": d.deciding_rule.as_ref().map(|r| serde_json::json!({
                "policy_id": r.policy_id, "kind": if r.kind == pb::RuleKind::Prohibition as i32 { "prohibition" } else { "permission" },
                "assignee": r.assignee, "action": r.action, "target": r.target })),
            "assignees": d.explanation.as_ref().map(|e| e.assignees.clone()),
            "other_rules": d.explanation.as_ref().map(|e| e.other_rules.iter().map(rule_text).collect::<Vec<_>>()),
        });
        println!("{v}");
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
            for r in &e.other_rules {
                println!("  also applied: {}", rule_text(r));
            }
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
    )
}
