//! Citadel's own admin API for the audit trail: entries by actor, action, target and
//! time; the latest signed tree head; verification; inclusion proofs.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{int_param, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_citadel/admin/v1/audit", entries)
        .raw(Method::GET, "/_citadel/admin/v1/audit/head", head)
        .raw(Method::GET, "/_citadel/admin/v1/audit/verify", verify)
        .raw(Method::GET, "/_citadel/admin/v1/audit/proof", proof);
}

/// `GET /_citadel/admin/v1/audit?from&limit&dir&actor&action&target&since&until`
async fn entries(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let q = query(&req);
    let optional = |name: &str| -> Result<Option<u64>> {
        q.contains_key(name)
            .then(|| int_param(&q, name, 0))
            .transpose()
    };
    let backwards = match q.get("dir").map(String::as_str) {
        None | Some("f") => false,
        Some("b") => true,
        Some(_) => return Err(Error::invalid_param("dir must be f or b")),
    };
    let request = crate::audit::Query {
        from: int_param(&q, "from", if backwards { u64::MAX } else { 0 })?,
        backwards,
        limit: int_param(&q, "limit", 100)?.min(1000) as usize,
        actor: q.get("actor").cloned(),
        action: q.get("action").cloned(),
        target: q.get("target").cloned(),
        since: optional("since")?,
        until: optional("until")?,
    };
    let (entries, next) = crate::audit::query(&state, &request)?;
    let mut body = json!({ "entries": entries });
    if let Some(next) = next {
        body["next_token"] = json!(next.to_string());
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /_citadel/admin/v1/audit/head`: the newest signed tree head.
async fn head(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse> {
    let head = state.storage.audit.latest_head()?;
    Ok(HttpResponse::Ok().json(json!({ "tree_head": head })))
}

/// `GET /_citadel/admin/v1/audit/verify`
async fn verify(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse> {
    let report = crate::audit::verify(&state)?;
    Ok(HttpResponse::Ok().json(json!({
        "intact": report.problems.is_empty(),
        "entries": report.entries,
        "pruned": report.pruned,
        "tree_heads": report.tree_heads,
        "problems": report.problems,
    })))
}

/// `GET /_citadel/admin/v1/audit/proof?seq=N&tree_size=M`: the audit path of entry `N`
/// in the tree of the first `M` entries, and the entry's leaf hash.
async fn proof(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let q = query(&req);
    let seq = int_param(&q, "seq", 0)?;
    let size = match q.get("tree_size") {
        Some(_) => int_param(&q, "tree_size", 0)?,
        None => state.storage.audit.size()?,
    };
    let path = state
        .storage
        .audit
        .proof(seq, size)?
        .ok_or_else(|| Error::not_found("No such entry in a tree of that size"))?;
    let bytes = state
        .storage
        .audit
        .entry_bytes(seq)?
        .ok_or_else(|| Error::not_found("No such entry"))?;
    let hex = citadel_storage::audit::hex_of;
    Ok(HttpResponse::Ok().json(json!({
        "seq": seq,
        "tree_size": size,
        "leaf_hash": hex(&citadel_storage::audit::leaf_hash(&bytes)),
        "audit_path": path.iter().map(hex).collect::<Vec<_>>(),
    })))
}
