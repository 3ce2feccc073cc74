//! The audit trail: what admins and users did, appended to the storage's Merkle log
//! with a tree head signed by the server's key after every entry, so that
//! `citadel admin audit verify` can prove no entry was altered, reordered or removed.

use citadel_storage::audit::{AuditEntry, Hash, TreeHead, Verification, hex_of};
use citadel_storage::now_ms;
use ruma::CanonicalJsonObject;
use serde_json::{Value, json};

use crate::api::error::{Error, Result};
use crate::app::AppState;

/// Who did what to whom, from where.
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

impl<'a> Event<'a> {
    pub fn new(actor: &'a str, action: &'a str, target: Option<&'a str>) -> Self {
        Self {
            actor,
            action,
            target,
            ip: None,
            user_agent: None,
            details: Value::Null,
        }
    }

    pub fn from_address(mut self, ip: Option<String>, user_agent: Option<String>) -> Self {
        self.ip = ip;
        self.user_agent = user_agent;
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends an entry and its signed tree head, durably. A failure is logged and
/// returned: callers that must not fail for it (a login) ignore the error.
pub async fn record(state: &AppState, event: Event<'_>) -> Result<u64> {
    let entry = AuditEntry {
        ts: now_ms(),
        actor: event.actor.to_owned(),
        action: event.action.to_owned(),
        target: event.target.map(str::to_owned),
        ip: event.ip,
        user_agent: event.user_agent,
        details: event.details,
    };
    let mut batch = state.storage.batch();
    let size = state.storage.audit.append(
        &mut batch,
        &entry,
        |size, root| sign(state, size, root),
        |batch| {
            state.storage.apply(std::mem::take(batch))?;
            Ok(())
        },
    );
    if let Err(e) = &size {
        tracing::error!(error = %e, action = %entry.action, "cannot write the audit trail");
    }
    size?;
    state.storage.flush().await?;
    Ok(state.storage.audit.size()?)
}

/// Records something a user did to their own account. The request it belongs to has
/// already succeeded, so a failure to record is logged (by [`record`]), not returned.
pub async fn user_action(state: &AppState, user_id: &str, action: &str, target: Option<&str>) {
    let _ = record(state, Event::new(user_id, action, target)).await;
}

fn head_object(tree_size: u64, root_hash: &str, ts: u64) -> Value {
    json!({ "tree_size": tree_size, "root_hash": root_hash, "ts": ts })
}

fn sign(state: &AppState, tree_size: u64, root: &Hash) -> TreeHead {
    let ts = now_ms();
    let root_hash = hex_of(root);
    let mut object: CanonicalJsonObject =
        serde_json::from_value(head_object(tree_size, &root_hash, ts)).unwrap_or_default();
    if let Err(e) = state.signing_key.sign_json(&mut object) {
        tracing::error!(error = %e, "cannot sign an audit tree head");
    }
    let signatures = serde_json::to_value(object.get("signatures")).unwrap_or(Value::Null);
    TreeHead {
        tree_size,
        root_hash,
        ts,
        signatures,
    }
}

fn signature_holds(state: &AppState, head: &TreeHead) -> bool {
    let mut value = head_object(head.tree_size, &head.root_hash, head.ts);
    value["signatures"] = head.signatures.clone();
    match serde_json::from_value::<CanonicalJsonObject>(value) {
        Ok(object) => state.signing_key.verify_own_json(&object),
        Err(_) => false,
    }
}

/// Recomputes the log and checks every signed tree head.
pub fn verify(state: &AppState) -> Result<Verification> {
    Ok(state
        .storage
        .audit
        .verify(|head| signature_holds(state, head))?)
}

/// A line for `citadel admin audit verify`.
pub fn verification_summary(report: &Verification) -> String {
    if report.problems.is_empty() {
        format!(
            "audit trail intact: {} entries ({} pruned by retention), {} signed tree heads",
            report.entries, report.pruned, report.tree_heads
        )
    } else {
        format!(
            "AUDIT TRAIL DAMAGED ({} entries, {} signed tree heads):\n{}",
            report.entries,
            report.tree_heads,
            report.problems.join("\n")
        )
    }
}

/// Entries matching the filters, oldest first from `from` (or newest first before it).
pub struct Query {
    pub from: u64,
    pub limit: usize,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// Newest first, from just before `from`.
    pub backwards: bool,
}

pub fn query(state: &AppState, q: &Query) -> Result<(Vec<Value>, Option<u64>)> {
    let mut out = Vec::new();
    let mut next = q.from;
    loop {
        let page = if q.backwards {
            state.storage.audit.entries_before(next, 500)?
        } else {
            state.storage.audit.entries(next, 500)?
        };
        if page.is_empty() {
            return Ok((out, None));
        }
        for (seq, entry) in page {
            next = if q.backwards { seq } else { seq + 1 };
            let keep = q.actor.as_deref().is_none_or(|a| a == entry.actor)
                && q.action
                    .as_deref()
                    .is_none_or(|a| entry.action.starts_with(a))
                && q.target
                    .as_deref()
                    .is_none_or(|t| Some(t) == entry.target.as_deref())
                && q.since.is_none_or(|s| entry.ts >= s)
                && q.until.is_none_or(|u| entry.ts < u);
            if keep {
                if out.len() == q.limit {
                    // The next page starts with this entry.
                    return Ok((out, Some(if q.backwards { seq + 1 } else { seq })));
                }
                let mut value = serde_json::to_value(&entry).map_err(Error::internal)?;
                value["seq"] = json!(seq);
                out.push(value);
            }
        }
    }
}

/// Every entry as one JSON line each, for `citadel admin audit export`.
pub fn export(state: &AppState) -> Result<String> {
    let mut out = String::new();
    let mut from = 0;
    loop {
        let page = state.storage.audit.entries(from, 1000)?;
        if page.is_empty() {
            return Ok(out);
        }
        for (seq, entry) in page {
            from = seq + 1;
            let mut value = serde_json::to_value(&entry).map_err(Error::internal)?;
            value["seq"] = json!(seq);
            out.push_str(&value.to_string());
            out.push('\n');
        }
    }
}
