//! `endocarp lookup targets|agents|actions`: the look-ups of a running server, every page
//! fetched for the user (all at the first page's revision), as lines or one JSON object.

use super::args::{LookupArgs, LookupWhat};
use super::client::ClientOptions;
use crate::grpc::pb;

pub async fn run(a: LookupArgs, opts: &ClientOptions) -> anyhow::Result<()> {
    let mut c = opts.decisions(&a.server).await?;
    let consistency = Some(pb::Consistency {
        at_least_revision: a.at_least_revision,
        fully_consistent: a.fully_consistent,
    });
    let account = a.account.clone().unwrap_or_default();
    let limit = if a.limit == 0 { usize::MAX } else { a.limit };
    // (items, every_target, revision, cut short by --limit)
    let (items, every_target, revision, truncated) = match &a.what {
        LookupWhat::Actions { agent, target } => {
            let r = c
                .list_actions(pb::ListActionsRequest {
                    agent_id: agent.clone(),
                    account_id: account,
                    target: target.clone(),
                    consistency,
                })
                .await?
                .into_inner();
            let truncated = r.actions.len() > limit;
            let mut items = r.actions;
            items.truncate(limit);
            (items, None, r.revision, truncated)
        }
        LookupWhat::Targets { agent, action } => {
            let (mut items, mut token) = (Vec::new(), String::new());
            let (every, revision) = loop {
                let r = c
                    .lookup_targets(pb::LookupTargetsRequest {
                        agent_id: agent.clone(),
                        account_id: account.clone(),
                        action: action.clone(),
                        consistency,
                        page_size: a.page_size,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                items.extend(if r.every_target { r.except } else { r.targets });
                token = r.next_page_token;
                if token.is_empty() || items.len() >= limit {
                    break (r.every_target, r.revision);
                }
            };
            let truncated = items.len() > limit || (!token.is_empty() && items.len() >= limit);
            items.truncate(limit);
            (items, Some(every), revision, truncated)
        }
        LookupWhat::Agents { action, target } => {
            let (mut items, mut token) = (Vec::new(), String::new());
            let revision = loop {
                let r = c
                    .lookup_agents(pb::LookupAgentsRequest {
                        action: action.clone(),
                        target: target.clone(),
                        account_id: account.clone(),
                        consistency,
                        page_size: a.page_size,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                items.extend(r.agents);
                token = r.next_page_token;
                if token.is_empty() || items.len() >= limit {
                    break r.revision;
                }
            };
            let truncated = items.len() > limit || (!token.is_empty() && items.len() >= limit);
            items.truncate(limit);
            (items, None, revision, truncated)
        }
    };
    if a.json {
        let mut v = serde_json::json!({ "revision": revision, "truncated": truncated });
        let key = match &a.what {
            LookupWhat::Targets { .. } => "targets",
            LookupWhat::Agents { .. } => "agents",
            LookupWhat::Actions { .. } => "actions",
        };
        match every_target {
            Some(true) => {
                v["every_target"] = true.into();
                v["except"] = items.into();
                v[key] = serde_json::json!([]);
            }
            Some(false) => {
                v["every_target"] = false.into();
                v[key] = items.into();
            }
            None => v[key] = items.into(),
        }
        println!("{v}");
        return Ok(());
    }
    if every_target == Some(true) {
        println!("every target except the {} below", items.len());
    }
    for i in &items {
        println!("{i}");
    }
    eprintln!(
        "{} at revision {revision}{}",
        items.len(),
        if truncated {
            " (more exist: stopped at --limit)"
        } else {
            ""
        }
    );
    Ok(())
}
