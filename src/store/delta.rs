//! A batch's effect on the read model, folded in memory and written with a handful of
//! multi-row statements instead of a few statements per event.
//!
//! Relationship events are set operations, so a batch's effect on one fact is the last
//! operation on it: the fold keeps, per key, whether the fact ends on or off (a status:
//! set, or "active unless it has one" for `Policy.Created`; a policy's type: the last one
//! given). `Account.MemberRemoved` ends
//! every account edge of the agent in the account: edges stored before the batch are
//! wiped first, and the batch's own edges for that agent turn off at that point in the
//! fold, so a later assignment in the same batch still counts. Flushing writes the wipes,
//! then the net changes; the result equals applying the events one by one (the store
//! conformance suite checks it against a replay of the log).

use super::{Backend, StoreError};
use crate::domain::Change;
use sqlx::{Any, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Rows per multi-row statement: far under both databases' parameter limits (SQLite
/// 32,766, PostgreSQL 65,535) for the widest table (13 columns).
const ROWS_PER_STATEMENT: usize = 400;

/// A bound value of a multi-row statement.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// Positional placeholders as each database wants them in a long statement: PostgreSQL
/// numbers them (`$1`); SQLite gets anonymous `?`, because binding thousands of *named*
/// parameters (`$1` is a name to SQLite) costs time quadratic in their number.
pub fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => "?".to_string(),
    }
}

/// Runs `sql` once per chunk of `rows`, where `{rows}` in `sql` becomes `($1, $2), ($3,
/// $4), …` for the chunk (every row has the same width).
pub async fn for_rows(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    sql: &str,
    rows: &[Vec<Param<'_>>],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        if let Some(query) = chunk_query(backend, sql, chunk) {
            query.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// `sql` with `{rows}` made the chunk's tuples and its values bound; `None` for no rows.
fn chunk_query<'q>(
    backend: Backend,
    sql: &str,
    chunk: &'q [Vec<Param<'q>>],
) -> Option<sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>> {
    let width = chunk.first().map(Vec::len)?;
    let mut tuples = String::with_capacity(chunk.len() * width * 5);
    for r in 0..chunk.len() {
        if r > 0 {
            tuples.push_str(", ");
        }
        tuples.push('(');
        for c in 0..width {
            if c > 0 {
                tuples.push_str(", ");
            }
            tuples.push_str(&placeholder(backend, r * width + c + 1));
        }
        tuples.push(')');
    }
    let statement = sql.replace("{rows}", &tuples);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
    for row in chunk {
        for p in row {
            query = match *p {
                Param::Text(s) => query.bind(s),
                Param::Int(i) => query.bind(i),
            };
        }
    }
    Some(query)
}

/// The rows `select` returns, every column text, run once per chunk of `rows` as
/// [`for_rows`] runs a statement (`{rows}` becomes the chunk's tuples).
pub async fn fetch_text_rows(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    select: &str,
    rows: &[Vec<Param<'_>>],
) -> Result<Vec<Vec<String>>, StoreError> {
    use sqlx::Row;
    let mut out = Vec::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let Some(query) = chunk_query(backend, select, chunk) else {
            continue;
        };
        for row in query.fetch_all(&mut **tx).await? {
            out.push(
                (0..row.len())
                    .map(|c| row.try_get::<String, _>(c))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
    }
    Ok(out)
}

/// How a batch leaves one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusOp {
    /// `Policy.Created` on a policy with no status: active.
    ActiveUnlessSet,
    Set(bool),
}

/// The net effect of a batch's changes on the read-model tables.
#[derive(Debug, Default)]
pub struct Delta<'a> {
    roles: BTreeSet<&'a str>,
    /// (account, agent) whose stored account edges a `MemberRemoved` ends.
    wipes: BTreeSet<(&'a str, &'a str)>,
    /// (account, node, role, source) → on; `account` is "" for a global edge.
    edges: BTreeMap<(&'a str, &'a str, &'a str, &'a str), bool>,
    /// (account, agent) → the member role, or `None` when the membership ends.
    members: BTreeMap<(&'a str, &'a str), Option<&'a str>>,
    /// (policy, kind, assignee, action, target, condition or "") → on.
    rules: BTreeMap<(&'a str, &'a str, &'a str, &'a str, &'a str, &'a str), bool>,
    /// (kind, id) → how the batch leaves it.
    statuses: BTreeMap<(&'static str, &'a str), StatusOp>,
    /// policy → the type the batch's last `Policy.Created` naming one gave it.
    policy_types: BTreeMap<&'a str, &'a str>,
    /// policy → the strategy the batch's last `Policy.Created` naming one gave it.
    policy_conflicts: BTreeMap<&'a str, &'static str>,
    /// (policy, duty, agent) discharges (facts that are never undone).
    discharges: BTreeSet<(&'a str, &'a str, &'a str)>,
    /// (asset, collection) → on.
    asset_collections: BTreeMap<(&'a str, &'a str), bool>,
}

impl<'a> Delta<'a> {
    /// Folds one change in, after every change before it in the batch.
    pub fn add(&mut self, change: &'a Change) {
        self.roles.extend(change.roles_marked().into_iter().map(|r| r.as_str()));
        match change {
            Change::GlobalEdge { source, node, role, on } => {
                self.edges
                    .insert(("", node.as_str(), role.as_str(), source.as_str()), *on);
            }
            Change::AccountEdge {
                account,
                node,
                role,
                on,
            } => {
                self.edges
                    .insert((account.as_str(), node.as_str(), role.as_str(), "account"), *on);
            }
            Change::MemberSet { account, agent, role } => {
                self.members
                    .insert((account.as_str(), agent.as_str()), Some(role.as_str()));
            }
            Change::MemberRemoved { account, agent } => {
                let (account, agent) = (account.as_str(), agent.as_str());
                self.members.insert((account, agent), None);
                self.wipes.insert((account, agent));
                for (key, on) in self.edges.range_mut((account, agent, "", "")..) {
                    if (key.0, key.1) != (account, agent) {
                        break;
                    }
                    *on = false;
                }
            }
            Change::Rule { rule, on } => {
                let key = (
                    rule.policy.as_str(),
                    rule.kind.as_str(),
                    rule.assignee.as_str(),
                    rule.action.as_str(),
                    rule.target.as_str(),
                    rule.condition.as_ref().map_or("", |c| &*c.text),
                );
                self.rules.insert(key, *on);
            }
            Change::PolicyCreated {
                policy,
                policy_type,
                conflict,
            } => {
                if let Some(c) = conflict {
                    self.policy_conflicts.insert(policy.as_str(), c.as_str());
                }
                self.statuses
                    .entry(("policy", policy.as_str()))
                    .or_insert(StatusOp::ActiveUnlessSet);
                if let Some(t) = policy_type {
                    self.policy_types.insert(policy.as_str(), t.as_str());
                }
            }
            Change::Status { kind, id, active } => {
                self.statuses
                    .insert((kind.as_str(), id.as_str()), StatusOp::Set(*active));
            }
            Change::DutyDischarged { policy, duty, agent } => {
                self.discharges.insert((policy.as_str(), duty.as_str(), agent.as_str()));
            }
            Change::AssetCollection { asset, collection, on } => {
                self.asset_collections
                    .insert((asset.as_str(), collection.as_str()), *on);
            }
            Change::MarkRole { .. } | Change::Ignored { .. } => {}
        }
    }

    /// The roles the batch marks (every id it makes a role, known or not).
    pub fn roles(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.roles.iter().copied()
    }

    /// Writes the net effect inside the append's transaction; `known_roles` are roles the
    /// `roles` table is known to hold already (they are not written again).
    pub async fn flush(
        &self,
        tx: &mut Transaction<'_, Any>,
        backend: Backend,
        known_roles: &HashSet<&str>,
    ) -> Result<(), StoreError> {
        use Param::{Int, Text};
        let discharges: Vec<_> = self
            .discharges
            .iter()
            .map(|&(p, d, a)| vec![Text(p), Text(d), Text(a)])
            .collect();
        for_rows(
            tx,
            backend,
            "INSERT INTO duty_discharges (policy, duty, agent) VALUES {rows} ON CONFLICT DO NOTHING",
            &discharges,
        )
        .await?;
        let pair = |&(a, c): &(&'a str, &'a str)| vec![Text(a), Text(c)];
        let (on, off) = on_and_off(&self.asset_collections, pair);
        for_rows(
            tx,
            backend,
            "DELETE FROM asset_collections WHERE (asset, collection) IN (VALUES {rows})",
            &off,
        )
        .await?;
        for_rows(
            tx,
            backend,
            "INSERT INTO asset_collections (asset, collection) VALUES {rows} ON CONFLICT DO NOTHING",
            &on,
        )
        .await?;
        let roles: Vec<_> = self
            .roles
            .iter()
            .filter(|r| !known_roles.contains(**r))
            .map(|r| vec![Text(r)])
            .collect();
        for_rows(
            tx,
            backend,
            "INSERT INTO roles (id) VALUES {rows} ON CONFLICT DO NOTHING",
            &roles,
        )
        .await?;
        // Wipes first: they end what was stored before the batch.
        let wipes: Vec<_> = self.wipes.iter().map(|(a, n)| vec![Text(a), Text(n)]).collect();
        for_rows(
            tx,
            backend,
            "DELETE FROM role_edges WHERE (account, node) IN (VALUES {rows})",
            &wipes,
        )
        .await?;
        let edge = |&(a, n, r, s): &(&'a str, &'a str, &'a str, &'a str)| vec![Text(a), Text(n), Text(r), Text(s)];
        let (on, off) = on_and_off(&self.edges, edge);
        for_rows(
            tx,
            backend,
            "DELETE FROM role_edges WHERE (account, node, role, source) IN (VALUES {rows})",
            &off,
        )
        .await?;
        for_rows(
            tx,
            backend,
            "INSERT INTO role_edges (account, node, role, source) VALUES {rows} ON CONFLICT DO NOTHING",
            &on,
        )
        .await?;
        let (set, ended): (Vec<_>, Vec<_>) = self.members.iter().partition(|(_, role)| role.is_some());
        let ended: Vec<_> = ended.into_iter().map(|((a, g), _)| vec![Text(a), Text(g)]).collect();
        let set: Vec<_> = set
            .into_iter()
            .filter_map(|((a, g), r)| r.map(|r| vec![Text(a), Text(g), Text(r)]))
            .collect();
        for_rows(
            tx,
            backend,
            "DELETE FROM memberships WHERE (account, agent) IN (VALUES {rows})",
            &ended,
        )
        .await?;
        for_rows(
            tx,
            backend,
            "INSERT INTO memberships (account, agent, role) VALUES {rows} \
             ON CONFLICT (account, agent) DO UPDATE SET role = excluded.role",
            &set,
        )
        .await?;
        let rule = |&(p, k, a, c, t, cond): &(&'a str, &'a str, &'a str, &'a str, &'a str, &'a str)| {
            vec![Text(p), Text(k), Text(a), Text(c), Text(t), Text(cond)]
        };
        let (on, off) = on_and_off(&self.rules, rule);
        for_rows(
            tx,
            backend,
            "DELETE FROM rules WHERE (policy, kind, assignee, action, target, condition_json) IN (VALUES {rows})",
            &off,
        )
        .await?;
        for_rows(
            tx,
            backend,
            "INSERT INTO rules (policy, kind, assignee, action, target, condition_json) VALUES {rows} \
             ON CONFLICT DO NOTHING",
            &on,
        )
        .await?;
        let (created, set): (Vec<_>, Vec<_>) = self
            .statuses
            .iter()
            .partition(|(_, op)| **op == StatusOp::ActiveUnlessSet);
        let created: Vec<_> = created
            .into_iter()
            .map(|((k, id), _)| vec![Text(k), Text(id), Int(1)])
            .collect();
        let set: Vec<_> = set
            .into_iter()
            .map(|((k, id), op)| vec![Text(k), Text(id), Int(i64::from(*op == StatusOp::Set(true)))])
            .collect();
        for_rows(
            tx,
            backend,
            "INSERT INTO statuses (kind, id, active) VALUES {rows} ON CONFLICT DO NOTHING",
            &created,
        )
        .await?;
        for_rows(
            tx,
            backend,
            "INSERT INTO statuses (kind, id, active) VALUES {rows} \
             ON CONFLICT (kind, id) DO UPDATE SET active = excluded.active",
            &set,
        )
        .await?;
        // Per policy, the last value the batch gave.
        let types: Vec<_> = self.policy_types.iter().map(|(p, t)| vec![Text(p), Text(t)]).collect();
        let conflicts: Vec<_> = self
            .policy_conflicts
            .iter()
            .map(|(p, c)| vec![Text(p), Text(c)])
            .collect();
        for (table, column, rows) in [
            ("policy_types", "policy_type", types),
            ("policy_conflicts", "conflict", conflicts),
        ] {
            let sql = format!(
                "INSERT INTO {table} (policy, {column}) VALUES {{rows}} \
                 ON CONFLICT (policy) DO UPDATE SET {column} = excluded.{column}"
            );
            for_rows(tx, backend, &sql, &rows).await?;
        }
        Ok(())
    }
}

/// The rows of the facts a batch leaves on, and of those it leaves off.
fn on_and_off<'a, K>(
    facts: &BTreeMap<K, bool>,
    row: impl Fn(&K) -> Vec<Param<'a>>,
) -> (Vec<Vec<Param<'a>>>, Vec<Vec<Param<'a>>>) {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for (key, is_on) in facts {
        if *is_on { on.push(row(key)) } else { off.push(row(key)) }
    }
    (on, off)
}
