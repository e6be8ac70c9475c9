//! Batch checks and paged look-ups: one snapshot per batch, and every page of a look-up at
//! its first page's revision.
//!
//! A first page keeps the snapshot it was answered from for `lookup_page_ttl` (snapshots
//! are immutable and share structure, so keeping one costs only what later writes
//! replaced; at most [`MAX_KEPT`] distinct revisions are kept, the oldest dropped first).
//! The page token carries that revision, when the look-up started, a fingerprint of the
//! request and where the next page starts, sealed with HMAC-SHA-256 under a key that is
//! random per process, or derived from `lookup_token_secret` when replicas should accept
//! each other's tokens. A token that fails its MAC, is truncated or belongs to another
//! request is INVALID_ARGUMENT (never a wrong page); one that is too old, sealed by a key
//! this replica does not have, or at a revision it no longer holds is FAILED_PRECONDITION,
//! whose message says to restart the look-up.

use crate::app::service::{LookupPage, page};
use crate::app::{App, AppError, Consistency};
use crate::domain::{Action, Decision, DomainError, Id};
use crate::engine::{self, Check, Snapshot};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Most distinct revisions kept for paging at once.
pub const MAX_KEPT: usize = 64;

/// What a batch stops at (AuthZEN's `evaluations_semantic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchSemantics {
    #[default]
    ExecuteAll,
    /// Stop after the first item that is denied or fails.
    DenyOnFirstDeny,
    /// Stop after the first item that is allowed.
    PermitOnFirstPermit,
}

/// Which look-up a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    Targets = 1,
    Agents = 2,
    Actions = 3,
}

/// Which page of a look-up to answer: `size` items (0: the default) from where `token`
/// says (empty: the first page), only ids that start with `prefix` (empty: every id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageRequest<'a> {
    pub size: u32,
    pub token: &'a str,
    pub prefix: &'a str,
}

impl<'a> PageRequest<'a> {
    /// A page of `size` (0: the default) from `token`, every id.
    pub fn new(size: u32, token: &'a str) -> PageRequest<'a> {
        PageRequest {
            size,
            token,
            prefix: "",
        }
    }
}

/// Where a page starts, as decoded from a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub revision: u64,
    /// When the look-up's first page was answered (ms since the Unix epoch).
    pub started_ms: u64,
    /// The last item of the previous page.
    pub after: String,
}

/// A secret setting: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The page-token key: random per process unless a shared secret is configured.
pub struct TokenKey {
    key: ring::hmac::Key,
    /// Names the key in each token, so a token sealed elsewhere is told from a forged one.
    id: [u8; 8],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("id", &hex(&self.id))
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// From the shared secret, or 32 random bytes.
    pub fn new(secret: Option<&str>) -> TokenKey {
        let bytes: [u8; 32] = match secret {
            Some(s) => Sha256::digest([b"endocarp page tokens\0", s.as_bytes()].concat()).into(),
            None => {
                let mut b = [0u8; 32];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
                    .expect("the system's random source works");
                b
            }
        };
        let id: [u8; 32] = Sha256::digest([b"endocarp page token key id\0".as_slice(), &bytes].concat()).into();
        TokenKey {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
            id: first8(&id),
        }
    }
}

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;

/// A fingerprint of the request a token belongs to (its kind and every field but the page).
pub fn fingerprint(kind: LookupKind, fields: &[&str]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update([kind as u8]);
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    first8(&h.finalize())
}

/// Seals a cursor into an opaque token (hex).
pub fn encode(key: &TokenKey, kind: LookupKind, request: [u8; 8], cursor: &Cursor) -> String {
    let mut b = Vec::with_capacity(44 + cursor.after.len() + MAC_LEN);
    b.push(VERSION);
    b.push(kind as u8);
    b.extend_from_slice(&key.id);
    b.extend_from_slice(&request);
    b.extend_from_slice(&cursor.revision.to_be_bytes());
    b.extend_from_slice(&cursor.started_ms.to_be_bytes());
    b.extend_from_slice(cursor.after.as_bytes());
    let tag = ring::hmac::sign(&key.key, &b);
    b.extend_from_slice(&tag.as_ref()[..MAC_LEN]);
    hex(&b)
}

fn invalid(reason: &str) -> AppError {
    DomainError::new("page_token", reason).into()
}

/// Opens a token given back with a request of `kind` and `request` fingerprint.
pub fn decode(key: &TokenKey, kind: LookupKind, request: [u8; 8], token: &str) -> Result<Cursor, AppError> {
    let b = unhex(token).ok_or_else(|| invalid("is not a page token this service issued (not hex)"))?;
    if b.len() < 2 + 8 + 8 + 16 + MAC_LEN || b[0] != VERSION {
        return Err(invalid(
            "is not a page token this service issued (truncated or of another version)",
        ));
    }
    if b[2..10] != key.id {
        return Err(AppError::PageExpired(
            "the page token was issued by another replica or before a restart (its key is not this replica's); restart the look-up from the first page".into(),
        ));
    }
    let (body, tag) = b.split_at(b.len() - MAC_LEN);
    let expected = ring::hmac::sign(&key.key, body);
    // Constant time: fold the differences.
    let diff = expected.as_ref()[..MAC_LEN]
        .iter()
        .zip(tag)
        .fold(0u8, |d, (x, y)| d | (x ^ y));
    if diff != 0 {
        return Err(invalid("has been altered or truncated (its seal does not match)"));
    }
    if body[1] != kind as u8 || body[10..18] != request {
        return Err(invalid(
            "belongs to a different look-up; send it back with the same fields as the request that returned it",
        ));
    }
    let word = |at: usize| u64::from_be_bytes(first8(&body[at..]));
    let after = std::str::from_utf8(&body[34..])
        .map_err(|_| invalid("is not a page token this service issued"))?
        .to_string();
    Ok(Cursor {
        revision: word(18),
        started_ms: word(26),
        after,
    })
}

/// The first 8 bytes (callers pass at least 8).
fn first8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Milliseconds since the Unix epoch (tokens are compared across replicas).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Snapshots kept for the later pages of look-ups.
#[derive(Default)]
pub struct KeptSnapshots {
    kept: Mutex<VecDeque<(Arc<Snapshot>, Instant)>>,
}

impl KeptSnapshots {
    /// Keeps `snapshot` until `ttl` from now (longer if it is already kept for longer).
    pub fn keep(&self, snapshot: &Arc<Snapshot>, ttl: Duration) {
        let until = Instant::now() + ttl;
        let mut kept = self.kept.lock();
        let now = Instant::now();
        kept.retain(|(_, u)| *u > now);
        if let Some(entry) = kept.iter_mut().find(|(s, _)| s.revision() == snapshot.revision()) {
            entry.1 = entry.1.max(until);
            return;
        }
        if kept.len() == MAX_KEPT {
            kept.pop_front();
        }
        kept.push_back((snapshot.clone(), until));
    }

    /// The kept snapshot at `revision`, if any.
    pub fn get(&self, revision: u64) -> Option<Arc<Snapshot>> {
        let mut kept = self.kept.lock();
        let now = Instant::now();
        kept.retain(|(_, u)| *u > now);
        kept.iter()
            .find(|(s, _)| s.revision() == revision)
            .map(|(s, _)| s.clone())
    }

    /// How many snapshots are kept now.
    pub fn len(&self) -> usize {
        self.kept.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl App {
    /// Many checks on one snapshot (consistency waited for once), results in order; an
    /// item that cannot be decided gets its own error. `semantics` may stop the batch
    /// after the first deny (or failure) or the first permit: the results are then the
    /// prefix up to and including it.
    pub async fn check_batch(
        &self,
        items: &[Result<Check, DomainError>],
        consistency: Consistency,
        semantics: BatchSemantics,
        deadline: Option<Instant>,
    ) -> Result<(Vec<Result<Decision, AppError>>, u64), AppError> {
        if items.is_empty() {
            return Err(DomainError::new("items", "must not be empty").into());
        }
        if items.len() > self.settings.max_batch_checks {
            return Err(DomainError::new(
                "items",
                format!(
                    "has {} items; the limit is {} (max_batch_checks)",
                    items.len(),
                    self.settings.max_batch_checks
                ),
            )
            .into());
        }
        let snapshot = self.fresh_snapshot(consistency, deadline).await?;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let result = match item {
                Ok(check) => self.decide_on(&snapshot, check),
                Err(e) => Err(AppError::Invalid(e.clone())),
            };
            let stop = match (semantics, &result) {
                (BatchSemantics::ExecuteAll, _) => false,
                (BatchSemantics::DenyOnFirstDeny, r) => !r.as_ref().is_ok_and(|d| d.allowed),
                (BatchSemantics::PermitOnFirstPermit, r) => r.as_ref().is_ok_and(|d| d.allowed),
            };
            results.push(result);
            if stop {
                break;
            }
        }
        Ok((results, snapshot.revision()))
    }

    /// The snapshot of a look-up's page and where the page starts: a fresh one for a first
    /// page (kept for the later pages), the first page's for a token.
    async fn lookup_snapshot(
        &self,
        kind: LookupKind,
        request: [u8; 8],
        token: &str,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<(Arc<engine::Snapshot>, Cursor), AppError> {
        if token.is_empty() {
            let snapshot = self.fresh_snapshot(consistency, deadline).await?;
            self.kept.keep(&snapshot, self.settings.lookup_page_ttl);
            let cursor = Cursor {
                revision: snapshot.revision(),
                started_ms: now_ms(),
                after: String::new(),
            };
            return Ok((snapshot, cursor));
        }
        let cursor = decode(&self.tokens, kind, request, token)?;
        let ttl = self.settings.lookup_page_ttl;
        if now_ms().saturating_sub(cursor.started_ms) > ttl.as_millis() as u64 {
            return Err(AppError::PageExpired(format!(
                "the page token is older than lookup_page_ttl ({} s); restart the look-up from the first page",
                ttl.as_secs()
            )));
        }
        let current = self.projector().snapshot();
        let snapshot = if current.revision() == cursor.revision {
            Some(current)
        } else {
            self.kept.get(cursor.revision)
        };
        let snapshot = snapshot.ok_or_else(|| {
            AppError::PageExpired(format!(
                "this replica no longer holds revision {} that the look-up started at; restart the look-up from the first page",
                cursor.revision
            ))
        })?;
        Ok((snapshot, cursor))
    }

    /// The next page's token after `last` (empty when there is no next page).
    fn next_token(
        &self,
        kind: LookupKind,
        request: [u8; 8],
        cursor: &Cursor,
        last: Option<&str>,
        more: bool,
    ) -> String {
        match (more, last) {
            (true, Some(last)) => encode(
                &self.tokens,
                kind,
                request,
                &Cursor {
                    after: last.to_string(),
                    ..cursor.clone()
                },
            ),
            _ => String::new(),
        }
    }

    /// One page of a look-up of `kind` over `fields`: its snapshot (fresh, or the first
    /// page's for a token), `find` in the page's window, and the next page's token. `find`
    /// returns the page, its last item and whether more follow. The prefix is part of the
    /// request a token belongs to.
    async fn lookup_page<P>(
        &self,
        kind: LookupKind,
        fields: &[&str],
        paging: PageRequest<'_>,
        consistency: Consistency,
        deadline: Option<Instant>,
        find: impl FnOnce(&Snapshot, engine::lookup::Window) -> Result<(P, Option<String>, bool), AppError>,
    ) -> Result<LookupPage<P>, AppError> {
        let size = page(paging.size)? as usize;
        let mut all_fields = fields.to_vec();
        all_fields.push(paging.prefix);
        let request = fingerprint(kind, &all_fields);
        let (snapshot, cursor) = self
            .lookup_snapshot(kind, request, paging.token, consistency, deadline)
            .await?;
        let after = (!cursor.after.is_empty()).then_some(cursor.after.as_str());
        let window = engine::lookup::Window::page(after, size).with_prefix(paging.prefix);
        let (page, last, more) = find(&snapshot, window)?;
        let next_token = self.next_token(kind, request, &cursor, last.as_deref(), more);
        Ok(LookupPage {
            revision: snapshot.revision(),
            page,
            next_token,
        })
    }

    /// The targets `agent` (inside `account`) may perform `action` on, one page.
    pub async fn lookup_targets(
        &self,
        agent: &Id,
        account: Option<&Id>,
        action: &Action,
        paging: PageRequest<'_>,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<LookupPage<engine::lookup::TargetsPage>, AppError> {
        let fields = [agent.as_str(), account.map_or("", |a| a.as_str()), action.as_str()];
        let opts = &self.settings.engine;
        self.lookup_page(
            LookupKind::Targets,
            &fields,
            paging,
            consistency,
            deadline,
            |snapshot, window| {
                let p = engine::lookup::targets(&snapshot.index, agent, account, action, opts, window)?;
                let last = p.items.last().map(|t| t.to_string());
                let more = p.more;
                Ok((p, last, more))
            },
        )
        .await
    }

    /// The agents that may perform `action` on `target` (inside `account`), one page.
    pub async fn lookup_agents(
        &self,
        action: &Action,
        target: &Id,
        account: Option<&Id>,
        paging: PageRequest<'_>,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<LookupPage<engine::lookup::AgentsPage>, AppError> {
        let fields = [action.as_str(), target.as_str(), account.map_or("", |a| a.as_str())];
        let opts = &self.settings.engine;
        self.lookup_page(
            LookupKind::Agents,
            &fields,
            paging,
            consistency,
            deadline,
            |snapshot, window| {
                let p = engine::lookup::agents(&snapshot.index, action, target, account, opts, window)?;
                let last = p.items.last().map(|a| a.to_string());
                let more = p.more;
                Ok((p, last, more))
            },
        )
        .await
    }

    /// The actions `agent` (inside `account`) may perform on `target`, one page in IRI
    /// order (AuthZEN's action search pages them; ListActions answers them all at once).
    pub async fn list_actions_page(
        &self,
        agent: &Id,
        account: Option<&Id>,
        target: &Id,
        paging: PageRequest<'_>,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<LookupPage<Vec<Action>>, AppError> {
        let fields = [agent.as_str(), account.map_or("", |a| a.as_str()), target.as_str()];
        let opts = &self.settings.engine;
        self.lookup_page(
            LookupKind::Actions,
            &fields,
            paging,
            consistency,
            deadline,
            |snapshot, window| {
                let mut all = engine::lookup::actions(&snapshot.index, agent, account, target, opts)?;
                all.retain(|a| a.as_str().starts_with(window.prefix) && a.as_str().len() > window.prefix.len());
                let start = window.after.map_or(0, |a| all.partition_point(|x| x.as_str() <= a));
                let rest = &all[start..];
                let page: Vec<Action> = rest.iter().take(window.limit).cloned().collect();
                let more = rest.len() > page.len();
                let last = page.last().map(|a| a.to_string());
                Ok((page, last, more))
            },
        )
        .await
    }

    /// Every action `agent` (inside `account`) may perform on `target`, and the revision.
    pub async fn list_actions(
        &self,
        agent: &Id,
        account: Option<&Id>,
        target: &Id,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<(Vec<Action>, u64), AppError> {
        let snapshot = self.fresh_snapshot(consistency, deadline).await?;
        let actions = engine::lookup::actions(&snapshot.index, agent, account, target, &self.settings.engine)?;
        Ok((actions, snapshot.revision()))
    }

    /// How many snapshots are kept for look-up pages now.
    pub fn kept_snapshots(&self) -> usize {
        self.kept.len()
    }
}

#[cfg(test)]
mod tests;
