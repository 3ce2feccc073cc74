//! Synapse's media admin API on many items at once: a room's media (list, quarantine),
//! a user's media quarantine, protecting items from those, deleting local media by age
//! and size, and purging the cache of remote media.

use std::collections::BTreeSet;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::admin::synapse::rooms::room;
use crate::api::admin::synapse::users::{bool_param, existing, local_user, query};
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(
            Method::GET,
            "/_synapse/admin/v1/room/{room_id}/media",
            room_media,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/room/{room_id}/media/quarantine",
            quarantine_room_media,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/quarantine_media/{room_id}",
            quarantine_room_media,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/user/{user_id}/media/quarantine",
            quarantine_user_media,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/media/protect/{media_id}",
            protect,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/media/unprotect/{media_id}",
            unprotect,
        )
        .raw(Method::POST, "/_synapse/admin/v1/media/delete", delete_old)
        .raw(
            Method::POST,
            "/_synapse/admin/v1/purge_media_cache",
            purge_media_cache,
        )
        .raw(
            Method::POST,
            "/_synapse/admin/v1/media/{server_name}/delete",
            delete_old_on,
        );
}

/// The `mxc://` URIs a room's unencrypted events point at: attachments and their
/// thumbnails.
fn mxc_in_room(state: &AppState, raw_room: &str) -> Result<BTreeSet<(String, String)>> {
    let room = room(state, raw_room)?;
    let mut found = BTreeSet::new();
    crate::rooms::walk::each_event(state, room.short, |_, pdu| {
        let content: Value = serde_json::from_str(pdu.content.get()).unwrap_or_default();
        for uri in [&content["url"], &content["info"]["thumbnail_url"]] {
            if let Some((server, id)) = uri
                .as_str()
                .and_then(|u| u.strip_prefix("mxc://"))
                .and_then(|u| u.split_once('/'))
            {
                found.insert((server.to_owned(), id.to_owned()));
            }
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    Ok(found)
}

/// `GET /_synapse/admin/v1/room/{room_id}/media`
async fn room_media(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for (server, id) in mxc_in_room(&state, &path)? {
        let uri = format!("mxc://{server}/{id}");
        if server == state.server_name() {
            local.push(uri);
        } else {
            remote.push(uri);
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "local": local, "remote": remote })))
}

/// Quarantines the items not protected and not quarantined yet; returns how many.
async fn quarantine_all(
    state: &AppState,
    items: impl IntoIterator<Item = (String, String)>,
) -> Result<usize> {
    let mut count = 0;
    for (server, id) in items {
        let Some(record) = state.storage.media.get(&server, &id)? else {
            continue;
        };
        if record.protected || record.quarantined {
            continue;
        }
        if crate::admin::set_media_quarantine(state, &server, &id, true).await? {
            count += 1;
        }
    }
    Ok(count)
}

/// `POST /_synapse/admin/v1/room/{room_id}/media/quarantine`
async fn quarantine_room_media(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let items = mxc_in_room(&state, &path)?;
    let count = quarantine_all(&state, items).await?;
    super::audited(&state, &admin, "admin.media.quarantine_room", Some(&path)).await?;
    Ok(HttpResponse::Ok().json(json!({ "num_quarantined": count })))
}

/// `POST /_synapse/admin/v1/user/{user_id}/media/quarantine`
async fn quarantine_user_media(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let user_id = local_user(&state, &path, "quarantine media of")?;
    existing(&state, &user_id)?;
    let server = state.server_name().to_owned();
    let items = state
        .storage
        .media
        .by_user(&user_id)?
        .into_iter()
        .map(|id| (server.clone(), id));
    let count = quarantine_all(&state, items).await?;
    super::audited(
        &state,
        &admin,
        "admin.media.quarantine_user",
        Some(&user_id),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "num_quarantined": count })))
}

async fn set_protected(state: &AppState, media_id: &str, protected: bool) -> Result<()> {
    let server = state.server_name();
    let mut record = state
        .storage
        .media
        .get(server, media_id)?
        .ok_or_else(|| Error::not_found("Unknown media"))?;
    record.protected = protected;
    let mut batch = state.storage.batch();
    state
        .storage
        .media
        .put(&mut batch, server, media_id, &record);
    state.storage.commit(batch).await?;
    Ok(())
}

/// `POST /_synapse/admin/v1/media/protect/{media_id}` (local media)
async fn protect(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    set_protected(&state, &path, true).await?;
    super::audited(&state, &admin, "admin.media.protect", Some(&path)).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `POST /_synapse/admin/v1/media/unprotect/{media_id}`
async fn unprotect(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    set_protected(&state, &path, false).await?;
    super::audited(&state, &admin, "admin.media.unprotect", Some(&path)).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `POST /_synapse/admin/v1/media/delete?before_ts=&size_gt=&keep_profiles=`
async fn delete_old(
    state: web::Data<AppState>,
    admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let server = state.server_name().to_owned();
    delete_older(&state, &admin, &req, &server).await
}

/// `POST /_synapse/admin/v1/media/{server_name}/delete` (the older form; only this
/// server's name is accepted)
async fn delete_old_on(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse> {
    if path.as_str() != state.server_name() {
        return Err(Error::unknown(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Can only delete local media",
        ));
    }
    delete_older(&state, &admin, &req, &path).await
}

/// Local media created before `before_ts` and larger than `size_gt`, except protected
/// items and (with `keep_profiles`, the default) users' avatars.
async fn delete_older(
    state: &AppState,
    admin: &Admin,
    req: &HttpRequest,
    server: &str,
) -> Result<HttpResponse> {
    let q = query(req);
    let before_ts = before_ts_param(&q)?;
    let size_gt: u64 = match q.get("size_gt") {
        Some(text) => text.parse().map_err(|_| {
            Error::invalid_param("Query parameter 'size_gt' must be a non-negative integer")
        })?,
        None => 0,
    };
    let keep_profiles = bool_param(&q, "keep_profiles")?.unwrap_or(true);
    let avatars: BTreeSet<String> = if keep_profiles {
        state.storage.users.avatar_urls()?.into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let mut deleted = Vec::new();
    for (origin, media_id, record) in state.storage.media.all()? {
        if origin != server
            || record.created_ts >= before_ts
            || record.size <= size_gt
            || record.protected
            || avatars.contains(&format!("mxc://{origin}/{media_id}"))
        {
            continue;
        }
        if crate::admin::delete_media(state, &origin, &media_id).await? {
            deleted.push(media_id);
        }
    }
    let event = crate::audit::Event::new(admin.0.user_id.as_str(), "admin.media.delete_old", None)
        .details(json!({ "before_ts": before_ts, "size_gt": size_gt, "deleted": deleted.len() }));
    crate::audit::record(state, event).await?;
    Ok(HttpResponse::Ok().json(json!({ "total": deleted.len(), "deleted_media": deleted })))
}

/// The required `before_ts` query parameter: a non-negative integer (milliseconds).
fn before_ts_param(q: &std::collections::HashMap<String, String>) -> Result<u64> {
    q.get("before_ts")
        .ok_or_else(|| Error::missing_param("Missing integer query parameter 'before_ts'"))?
        .parse()
        .map_err(|_| {
            Error::invalid_param("Query parameter 'before_ts' must be a non-negative integer")
        })
}

/// Timestamps below this are surely in seconds, not milliseconds (Synapse's check).
const MIN_MS_TIMESTAMP: u64 = 30_000_000_000;

/// `POST /_synapse/admin/v1/purge_media_cache?before_ts=`: cached remote media last
/// served before `before_ts`. Quarantined items stay, so they are not fetched again.
async fn purge_media_cache(
    state: web::Data<AppState>,
    admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let before_ts = before_ts_param(&query(&req))?;
    if before_ts < MIN_MS_TIMESTAMP {
        return Err(Error::invalid_param(
            "Query parameter before_ts you provided is from the year 1970. \
             Double check that you are providing a timestamp in milliseconds.",
        ));
    }
    let deleted = crate::admin::purge_remote_media(&state, before_ts).await?;
    let event = crate::audit::Event::new(admin.0.user_id.as_str(), "admin.media.purge_cache", None)
        .details(json!({ "before_ts": before_ts, "deleted": deleted }));
    crate::audit::record(&state, event).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": deleted })))
}
