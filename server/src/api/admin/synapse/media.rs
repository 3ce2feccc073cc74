//! Synapse's media admin API: a user's media (list, delete), one item's information,
//! deletion and quarantine, and the log of quarantine changes.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_storage::media::MediaRecord;
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::users::{existing, int_param, local_user, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::GET,
            "/_synapse/admin/v1/media/quarantine_changes",
            quarantine_changes,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/users/{user_id}/media",
            list,
        )
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/users/{user_id}/media",
            delete_user_media,
        )
        .raw(
            Method::GET,
            "/_synapse/admin/v1/media/{server_name}/{media_id}",
            info,
        )
        .raw(
            Method::DELETE,
            "/_synapse/admin/v1/media/{server_name}/{media_id}",
            delete_one,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/media/quarantine/{server_name}/{media_id}",
            quarantine,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}",
            unquarantine,
        );
}

fn describe(media_id: &str, record: &MediaRecord) -> Value {
    json!({
        "media_id": media_id,
        "media_type": record.content_type,
        "media_length": record.size,
        "upload_name": record.file_name,
        "created_ts": record.created_ts,
        "last_access_ts": record.created_ts,
        "quarantined_by": if record.quarantined { json!("admin") } else { Value::Null },
        "safe_from_quarantine": record.protected,
    })
}

/// `GET /_synapse/admin/v1/users/{user_id}/media`: newest first unless asked otherwise.
async fn list(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "look up")?;
    existing(&state, &user_id)?;
    let q = query(&req);
    let from = int_param(&q, "from", 0)? as usize;
    let limit = int_param(&q, "limit", 100)? as usize;
    let order_by = q
        .get("order_by")
        .map(String::as_str)
        .unwrap_or("created_ts");
    const ORDERS: [&str; 8] = [
        "media_id",
        "upload_name",
        "created_ts",
        "last_access_ts",
        "media_length",
        "media_type",
        "quarantined_by",
        "safe_from_quarantine",
    ];
    if !ORDERS.contains(&order_by) {
        return Err(Error::invalid_param(format!(
            "Unknown value for order_by: {order_by:?}"
        )));
    }
    let backwards = match q.get("dir").map(String::as_str) {
        None | Some("f") => false,
        Some("b") => true,
        Some(_) => return Err(Error::invalid_param("dir must be f or b")),
    };
    let mut media = Vec::new();
    for media_id in state.storage.media.by_user(&user_id)? {
        if let Some(record) = state.storage.media.get(state.server_name(), &media_id)? {
            media.push(describe(&media_id, &record));
        }
    }
    media.sort_by(|a, b| {
        let key = |v: &Value| match &v[order_by] {
            Value::Number(n) => format!("{:020}", n.as_u64().unwrap_or(0)),
            Value::String(s) => s.clone(),
            Value::Bool(b) => u8::from(*b).to_string(),
            _ => String::new(),
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| a["media_id"].as_str().cmp(&b["media_id"].as_str()))
    });
    if backwards {
        media.reverse();
    }
    let total = media.len();
    let page: Vec<Value> = media.into_iter().skip(from).take(limit).collect();
    let mut body = json!({ "media": page, "total": total });
    if from + limit < total {
        body["next_token"] = json!(from + limit);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// `DELETE /_synapse/admin/v1/users/{user_id}/media`
async fn delete_user_media(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "delete media of")?;
    existing(&state, &user_id)?;
    let ids = state.storage.media.by_user(&user_id)?;
    for media_id in &ids {
        crate::admin::delete_media(&state, state.server_name(), media_id).await?;
    }
    tracing::info!(admin = %admin.0.user_id, %user_id, count = ids.len(), "user media deleted");
    super::audited(&state, &admin, "admin.media.delete_user", Some(&user_id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted_media": ids, "total": ids.len() })))
}

fn record(state: &AppState, server_name: &str, media_id: &str) -> Result<MediaRecord> {
    state
        .storage
        .media
        .get(server_name, media_id)?
        .ok_or_else(|| Error::not_found("Unknown media"))
}

/// `GET /_synapse/admin/v1/media/{server_name}/{media_id}`
async fn info(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (server_name, media_id) = path.into_inner();
    let record = record(&state, &server_name, &media_id)?;
    let mut info = describe(&media_id, &record);
    info["user_id"] = json!(record.uploader);
    info["sha256"] = json!(record.sha256);
    Ok(HttpResponse::Ok().json(json!({ "media_info": info })))
}

/// `DELETE /_synapse/admin/v1/media/{server_name}/{media_id}`: local media only.
async fn delete_one(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (server_name, media_id) = path.into_inner();
    if server_name != state.server_name() {
        return Err(Error::unknown(
            StatusCode::BAD_REQUEST,
            "Can only delete local media",
        ));
    }
    record(&state, &server_name, &media_id)?;
    crate::admin::delete_media(&state, &server_name, &media_id).await?;
    tracing::info!(admin = %admin.0.user_id, %media_id, "media deleted");
    let target = format!("mxc://{server_name}/{media_id}");
    super::audited(&state, &admin, "admin.media.delete", Some(&target)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted_media": [media_id], "total": 1 })))
}

/// `POST /_synapse/admin/v1/media/quarantine/{server_name}/{media_id}`
async fn quarantine(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (server_name, media_id) = path.into_inner();
    let answer = set_quarantine(&state, &server_name, &media_id, true).await?;
    let target = format!("mxc://{server_name}/{media_id}");
    super::audited(&state, &admin, "admin.media.quarantine", Some(&target)).await?;
    Ok(answer)
}

/// `POST /_synapse/admin/v1/media/unquarantine/{server_name}/{media_id}`
async fn unquarantine(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (server_name, media_id) = path.into_inner();
    let answer = set_quarantine(&state, &server_name, &media_id, false).await?;
    let target = format!("mxc://{server_name}/{media_id}");
    super::audited(&state, &admin, "admin.media.unquarantine", Some(&target)).await?;
    Ok(answer)
}

async fn set_quarantine(
    state: &AppState,
    server_name: &str,
    media_id: &str,
    quarantined: bool,
) -> Result<HttpResponse> {
    if !crate::admin::set_media_quarantine(state, server_name, media_id, quarantined).await? {
        return Err(Error::not_found("Unknown media"));
    }
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Changes listed per page, as Synapse does.
const CHANGES_PER_PAGE: usize = 100;

/// `GET /_synapse/admin/v1/media/quarantine_changes?from=`: quarantines set and lifted,
/// oldest first; `next_batch` is the `from` of the next page.
async fn quarantine_changes(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let from = int_param(&query(&req), "from", 0)?;
    // Nothing past a position still being written: a change committed later below it
    // would be skipped by a reader that went on from here.
    let upto = state.stream.safe_upto(&state.storage)?;
    if from > upto {
        return Err(Error::invalid_param(
            "The `from` token is past every change this server has made",
        ));
    }
    let page = state
        .storage
        .media
        .quarantine_changes(from, upto, CHANGES_PER_PAGE)?;
    let next_batch = page.last().map_or(upto, |(position, _)| *position);
    let changes: Vec<Value> = page
        .into_iter()
        .map(|(_, c)| json!({"origin": c.origin, "media_id": c.media_id, "quarantined": c.quarantined}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "next_batch": next_batch, "changes": changes })))
}
