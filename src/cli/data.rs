//! The commands that move data: `import` (Pericarp or casbin files, through a server or
//! offline into a database), `export casbin`, and `verify` (the log replayed against the
//! read model and a live index).

use super::client::ClientOptions;
use super::import;
use crate::grpc::pb;
use crate::store::{AuditRecord, Store};
use anyhow::{Context, bail};

pub async fn import(
    file: import::ImportFile,
    database_url: Option<&str>,
    batch: usize,
    admin: &str,
    opts: &ClientOptions,
) -> anyhow::Result<()> {
    if batch == 0 || batch > crate::app::service::MAX_BATCH {
        bail!("--batch must be 1..={}", crate::app::service::MAX_BATCH);
    }
    // Every event was checked when the file was parsed, before anything is written.
    let import::ImportFile { envelopes, events } = file;
    let total = events.len();
    let mut revision = 0;
    let mut progress = Progress::new(total);
    match database_url {
        Some(url) => {
            let store = Store::connect(url, true).await?;
            store.migrate().await?;
            let audit = AuditRecord {
                actor: "offline-import".into(),
                action: "Import".into(),
                correlation_id: ulid::Ulid::generate().to_string(),
            };
            for chunk in events.chunks(batch) {
                revision = store.append(chunk.to_vec(), Some(&audit)).await?.revision.max(revision);
                progress.done(chunk.len());
            }
            store.close().await;
        }
        None => {
            let mut c = opts.events(admin).await?;
            for chunk in envelopes.chunks(batch) {
                let events = chunk
                    .iter()
                    .map(|e| {
                        let timestamp = e.timestamp.as_ref();
                        crate::grpc::convert::event_to_append(&e.id, &e.triple, timestamp, &e.metadata)
                    })
                    .collect();
                let r = c.append_events(pb::AppendEventsRequest { events }).await?.into_inner();
                revision = revision.max(r.revision);
                progress.done(chunk.len());
            }
        }
    }
    let took = progress.started.elapsed();
    println!(
        "imported {total} events in {:.1} s ({:.0} events/s); visible at revision {revision}",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// A progress line on stderr at most once a second: done, rate, time left.
struct Progress {
    total: usize,
    done: usize,
    started: std::time::Instant,
    shown: std::time::Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        let now = std::time::Instant::now();
        Progress {
            total,
            done: 0,
            started: now,
            shown: now,
        }
    }

    fn done(&mut self, n: usize) {
        self.done += n;
        if self.shown.elapsed() < std::time::Duration::from_secs(1) || self.done >= self.total {
            return;
        }
        self.shown = std::time::Instant::now();
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let left = (self.total - self.done) as f64 / rate.max(1e-9);
        eprintln!(
            "imported {}/{} events ({:.0}%), {:.0} events/s, about {:.0} s left",
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64,
            rate,
            left
        );
    }
}

/// The README written beside an exported casbin policy.
const EXPORT_README: &str = "# Endocarp casbin export

`model.conf` is Pericarp's deny-override model; `policy.csv` holds every row, one per line,
with RFC 4180 quoting (a field with a comma, a quote or leading or trailing spaces is quoted
and its quotes doubled).

Loading it:

1. Register a domain-matching function on `g` under which a stored domain `*` matches every
   request domain. In casbin-rs:
   `e.get_role_manager().write().matching_fn(None, Some(|request_dom: &str, stored_dom: &str| stored_dom == \"*\" || request_dom == stored_dom));`
   In Go casbin: `e.AddNamedDomainMatchingFunc(\"g\", \"global\", func(req, stored string) bool { return stored == \"*\" || req == stored })`.
   Without it a global role (`g, alice, editor, *`) is invisible inside accounts.
2. Raise the role manager's hierarchy limit (casbin-rs defaults to 10 levels, which cuts
   deep role hierarchies short: `DefaultRoleManager::new(1_000_000)`).
3. Parse `policy.csv` as RFC 4180. casbin's built-in CSV loaders trim spaces and do not
   unescape doubled quotes, so identifiers with quotes or edge spaces need a real CSV parser
   (then `add_policies` / `add_grouping_policies`).
4. Enforce global checks as `(agent, \"*\", action, target)` and account checks as
   `(agent, account, action, target)`. Actions are full IRIs.

Left out on purpose: rows of deactivated policies. **The status gate is outside Casbin**:
Endocarp denies a deactivated agent (AGENT_INACTIVE) or a deactivated account
(ACCOUNT_INACTIVE) before any engine runs, and refuses checks whose agent id is a role. A
plain enforcer loaded from these files does neither; apply those gates yourself.

The action hierarchy is expanded into rows: a permission on `odrl:use` is written as allow
rows for `odrl:use` and every action it includes; a prohibition on X as deny rows for X,
what X includes and what includes X.
";

/// One policy's rules (every page of ListRules) as an ODRL JSON-LD document.
pub async fn export_odrl(out: &std::path::Path, policy: &str, admin: &str, opts: &ClientOptions) -> anyhow::Result<()> {
    use crate::odrl::export::{PolicyText, RuleText, document};
    let mut client = opts.admin(admin).await?;
    let mut p = PolicyText {
        id: policy.to_string(),
        ..Default::default()
    };
    let mut token = String::new();
    loop {
        let page = client
            .list_rules(pb::ListRulesRequest {
                policy_id: policy.into(),
                assignee: String::new(),
                page_size: 1000,
                page_token: token,
            })
            .await?
            .into_inner();
        for rule in page.rules {
            p.policy_type = rule.policy_type;
            p.conflict = rule.policy_conflict;
            let Some(r) = rule.rule else { continue };
            p.rules.push(RuleText {
                kind: if r.kind == pb::RuleKind::Prohibition as i32 {
                    crate::domain::RuleKind::Prohibition
                } else {
                    crate::domain::RuleKind::Permission
                },
                assignee: r.assignee,
                action: r.action,
                target: r.target,
                constraint: r.constraint,
                refinement: r.refinement,
                duty: r.duty,
                remedy: r.remedy,
            });
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    if p.rules.is_empty() {
        bail!("policy {policy:?} has no rules");
    }
    let (doc, notes) = document(&p).map_err(|e| anyhow::anyhow!("{e}"))?;
    for note in notes {
        eprintln!("note: {note}");
    }
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    if out.as_os_str() == "-" {
        print!("{text}");
    } else {
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("exported {} rules of {policy} to {}", p.rules.len(), out.display());
    }
    Ok(())
}

pub async fn export_casbin(out: &std::path::Path, admin: &str, opts: &ClientOptions) -> anyhow::Result<()> {
    let mut stream = opts
        .admin(admin)
        .await?
        .export_casbin(pb::ExportCasbinRequest {})
        .await?
        .into_inner();
    let mut model = String::new();
    let mut revision = 0;
    let (mut p, mut g) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream.message().await? {
        if !chunk.model.is_empty() {
            model = chunk.model;
            revision = chunk.revision;
        }
        for row in chunk.rows {
            match (row.ptype.as_str(), row.values.as_slice()) {
                ("p", [a, b, c, d, e]) => p.push([a.clone(), b.clone(), c.clone(), d.clone(), e.clone()]),
                ("g", [a, b, c]) => g.push([a.clone(), b.clone(), c.clone()]),
                _ => bail!("the server sent a malformed row: {row:?}"),
            }
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("model.conf"), &model)?;
    std::fs::write(out.join("policy.csv"), super::casbin_file::policy_csv(&p, &g))?;
    std::fs::write(out.join("README.md"), EXPORT_README)?;
    println!(
        "exported {} p rows and {} g rows at revision {revision} to {}",
        p.len(),
        g.len(),
        out.display()
    );
    Ok(())
}

pub async fn verify(database_url: &str, admin: Option<&str>, opts: &ClientOptions) -> anyhow::Result<()> {
    let store = Store::connect(database_url, false).await?;
    let report = crate::app::verify::verify_store(&store)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut differences = report.missing.len() + report.extra.len();
    println!(
        "read model at revision {}: {} facts replayed from the log, {} missing, {} extra",
        report.revision,
        report.replayed.facts().len(),
        report.missing.len(),
        report.extra.len()
    );
    for f in report.missing.iter().take(20) {
        println!("  missing from the read model: {f}");
    }
    for f in report.extra.iter().take(20) {
        println!("  not implied by the log: {f}");
    }
    if let Some(url) = admin {
        let mut c = opts.admin(url).await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let s = loop {
            let s = c
                .get_status(pb::GetStatusRequest {
                    with_index_digest: true,
                })
                .await?
                .into_inner();
            if s.revision >= report.revision || std::time::Instant::now() > deadline {
                break s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        if s.revision < report.revision {
            bail!(
                "the server is at revision {}, behind the read model's {}",
                s.revision,
                report.revision
            );
        }
        let replayed = crate::app::verify::replay(&store, report.replayed, s.revision)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if replayed.facts_digest() == s.index_digest {
            println!("server index at revision {}: identical to the log", s.revision);
        } else {
            differences += 1;
            println!("server index at revision {}: DIFFERS from the log", s.revision);
        }
    }
    store.close().await;
    if differences > 0 {
        bail!("verify found {differences} difference(s)");
    }
    println!("ok");
    Ok(())
}
