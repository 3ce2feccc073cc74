//! The content repository: upload (`/_matrix/media/v3/upload`, and `/_matrix/media/v1/create`
//! with `PUT …/upload/{serverName}/{mediaId}`), authenticated download
//! (`/_matrix/client/v1/media/download/…`) and `/media/config`. The legacy
//! unauthenticated download paths answer `M_NOT_FOUND`, as Synapse does with
//! authenticated media on.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use citadel_storage::media::MediaRecord;
use citadel_storage::now_ms;
use serde_json::json;

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Authed;
use crate::app::AppState;
use crate::auth::session::Sender;
use crate::media::serve;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_matrix/client/v1/media/config", config)
        .raw(Method::GET, "/_matrix/media/v3/config", config)
        .raw(Method::POST, "/_matrix/media/v3/upload", upload)
        .raw(Method::POST, "/_matrix/media/r0/upload", upload)
        .raw(Method::POST, "/_matrix/media/v1/create", create)
        .raw(
            Method::PUT,
            "/_matrix/media/v3/upload/{server_name}/{media_id}",
            upload_to,
        )
        .raw(
            Method::GET,
            "/_matrix/client/v1/media/download/{server_name}/{media_id}",
            download,
        )
        .raw(
            Method::GET,
            "/_matrix/client/v1/media/download/{server_name}/{media_id}/{file_name:.*}",
            download,
        )
        .raw(
            Method::GET,
            "/_matrix/client/v1/media/thumbnail/{server_name}/{media_id}",
            thumbnail,
        );
    for version in ["v3", "r0"] {
        for kind in ["download", "thumbnail"] {
            routes.raw(
                Method::GET,
                &format!("/_matrix/media/{version}/{kind}/{{server_name}}/{{media_id}}"),
                legacy,
            );
            routes.raw(
                Method::GET,
                &format!(
                    "/_matrix/media/{version}/{kind}/{{server_name}}/{{media_id}}/{{file_name}}"
                ),
                legacy,
            );
        }
    }
}

fn part(req: &HttpRequest, name: &str) -> String {
    percent_encoding::percent_decode_str(req.match_info().get(name).unwrap_or_default())
        .decode_utf8_lossy()
        .into_owned()
}

fn query(req: &HttpRequest, name: &str) -> Option<String> {
    req.query_string().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// `GET /_matrix/client/v1/media/config`
async fn config(state: web::Data<AppState>, _sender: Authed) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "m.upload.size": state.config.media.max_upload_bytes }))
}

/// Streams the body into the store within the size limit and the user's quota.
async fn store_body(
    state: &AppState,
    sender: &Sender,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(String, u64)> {
    let user = sender.user_id.as_str();
    state.media_upload_limiter.check(user)?;
    let media = &state.config.media;
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > media.max_upload_bytes) {
        return Err(Error::too_large(format!(
            "Uploads are limited to {} bytes",
            media.max_upload_bytes
        )));
    }
    let remaining = media
        .quota_bytes_per_user
        .saturating_sub(state.storage.media.usage(user)?);
    if declared.is_some_and(|n| n > remaining) {
        return Err(Error::forbidden(
            "You have reached your media storage quota",
        ));
    }
    let limit = media.max_upload_bytes.min(remaining);
    let stored = match state.media_store.save(payload, limit).await {
        Err(Error::Matrix { status, .. })
            if status == StatusCode::PAYLOAD_TOO_LARGE && limit < media.max_upload_bytes =>
        {
            return Err(Error::forbidden(
                "You have reached your media storage quota",
            ));
        }
        other => other?,
    };
    if !state
        .storage
        .media
        .reserve_usage(user, stored.size, media.quota_bytes_per_user)?
    {
        return Err(Error::forbidden(
            "You have reached your media storage quota",
        ));
    }
    Ok((stored.sha256, stored.size))
}

async fn record_upload(
    state: &AppState,
    media_id: &str,
    mut record: MediaRecord,
    sha256: String,
    size: u64,
    req: &HttpRequest,
) -> Result<()> {
    record.sha256 = Some(sha256);
    record.size = size;
    record.content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    record.file_name = query(req, "filename")
        .map(|n| serve::sanitise_file_name(&n))
        .filter(|n| !n.is_empty());
    record.unused_expires_at = None;
    let mut batch = state.storage.batch();
    state
        .storage
        .media
        .put(&mut batch, state.server_name(), media_id, &record);
    state.storage.commit(batch).await?;
    Ok(())
}

/// `POST /_matrix/media/v3/upload`
async fn upload(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let (sha256, size) = store_body(&state, &sender, &req, payload).await?;
    let media_id = crate::auth::token::generate("")[..24].to_owned();
    let record = MediaRecord {
        uploader: sender.user_id.to_string(),
        created_ts: now_ms(),
        ..Default::default()
    };
    record_upload(&state, &media_id, record, sha256, size, &req).await?;
    Ok(HttpResponse::Ok()
        .json(json!({ "content_uri": format!("mxc://{}/{media_id}", state.server_name()) })))
}

/// `POST /_matrix/media/v1/create`: reserves a media ID to upload to later.
async fn create(state: web::Data<AppState>, Authed(sender): Authed) -> Result<HttpResponse> {
    let user = sender.user_id.as_str();
    let now = now_ms();
    if state
        .storage
        .media
        .pending_count(state.server_name(), user, now)?
        >= state.config.media.max_pending_uploads
    {
        return Err(Error::limit_exceeded(60_000));
    }
    let media_id = crate::auth::token::generate("")[..24].to_owned();
    let expires = now + state.config.media.pending_upload_lifetime_ms;
    let record = MediaRecord {
        uploader: user.to_owned(),
        created_ts: now,
        unused_expires_at: Some(expires),
        ..Default::default()
    };
    let mut batch = state.storage.batch();
    state
        .storage
        .media
        .put(&mut batch, state.server_name(), &media_id, &record);
    state.storage.commit(batch).await?;
    Ok(HttpResponse::Ok().json(json!({
        "content_uri": format!("mxc://{}/{media_id}", state.server_name()),
        "unused_expires_at": expires,
    })))
}

/// `PUT /_matrix/media/v3/upload/{serverName}/{mediaId}`
async fn upload_to(
    state: web::Data<AppState>,
    Authed(sender): Authed,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    let (server, media_id) = (part(&req, "server_name"), part(&req, "media_id"));
    let unknown = || Error::not_found("Unknown media ID");
    if server != state.server_name() {
        return Err(unknown());
    }
    let record = state
        .storage
        .media
        .get(&server, &media_id)?
        .ok_or_else(unknown)?;
    if record.uploader != sender.user_id.as_str() {
        return Err(Error::forbidden("This media ID belongs to someone else"));
    }
    if record.sha256.is_some() {
        return Err(Error::new(
            StatusCode::CONFLICT,
            "M_CANNOT_OVERWRITE_MEDIA",
            "Media already uploaded",
        ));
    }
    if record.unused_expires_at.is_some_and(|t| t <= now_ms()) {
        return Err(unknown());
    }
    let (sha256, size) = store_body(&state, &sender, &req, payload).await?;
    record_upload(&state, &media_id, record, sha256, size, &req).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Waits (up to `timeout_ms`, default 20 s) for reserved media to be uploaded.
async fn uploaded(state: &AppState, req: &HttpRequest) -> Result<(MediaRecord, String)> {
    let (server, media_id) = (part(req, "server_name"), part(req, "media_id"));
    let not_found = || Error::not_found("Media not found");
    if server != state.server_name() {
        return remote(state, &server, &media_id).await;
    }
    let timeout = query(req, "timeout_ms")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(20_000)
        .min(120_000);
    let deadline = std::time::Instant::now() + Duration::from_millis(timeout);
    loop {
        let record = state
            .storage
            .media
            .get(&server, &media_id)?
            .ok_or_else(not_found)?;
        if record.quarantined {
            return Err(not_found());
        }
        if let Some(sha256) = record.sha256.clone() {
            return Ok((record, sha256));
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::new(
                StatusCode::GATEWAY_TIMEOUT,
                "M_NOT_YET_UPLOADED",
                "The media has not been uploaded yet",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]`
async fn download(
    state: web::Data<AppState>,
    _sender: Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let (record, sha256) = uploaded(&state, &req).await?;
    let bytes = state.media_store.read(&sha256).await?;
    let requested_name = req
        .match_info()
        .get("file_name")
        .filter(|n| !n.is_empty())
        .map(|_| part(&req, "file_name"));
    let name = requested_name.or(record.file_name.clone());
    Ok(serve::response(
        bytes,
        record.content_type.as_deref(),
        name.as_deref(),
    ))
}

/// `GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}`: a thumbnail of an
/// unencrypted PNG or JPEG image within `width`×`height` (`method=scale`) or filling it
/// (`method=crop`), made once and cached.
async fn thumbnail(
    state: web::Data<AppState>,
    _sender: Authed,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let (width, height, method) = crate::media::thumbnail_params(|name| query(&req, name))?;
    let (record, sha256) = uploaded(&state, &req).await?;
    let content_type = record.content_type.clone().unwrap_or_default();
    let (bytes, output) = crate::media::thumbnail_of(
        &state.media_store,
        &sha256,
        &content_type,
        width,
        height,
        method,
    )
    .await?;
    Ok(serve::response(bytes, Some(output), None))
}

/// The legacy unauthenticated download and thumbnail paths: only local media uploaded
/// before `media.legacy_unauthenticated_before_ms`, and never thumbnails.
async fn legacy(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse> {
    let refused =
        || Error::not_found("Unauthenticated media is not served; use /_matrix/client/v1/media");
    let cutoff = state
        .config
        .media
        .legacy_unauthenticated_before_ms
        .ok_or_else(refused)?;
    if req.path().contains("/thumbnail/") || part(&req, "server_name") != state.server_name() {
        return Err(refused());
    }
    let record = state
        .storage
        .media
        .get(state.server_name(), &part(&req, "media_id"))?
        .ok_or_else(refused)?;
    let Some(sha256) = record
        .sha256
        .clone()
        .filter(|_| record.created_ts < cutoff && !record.quarantined)
    else {
        return Err(refused());
    };
    let bytes = state.media_store.read(&sha256).await?;
    Ok(serve::response(
        bytes,
        record.content_type.as_deref(),
        record.file_name.as_deref(),
    ))
}

/// How stale a cached item's recorded last access may get: one write per item per
/// hour, not one per download, is precise enough for purging a cache by age.
const ACCESS_GRANULARITY_MS: u64 = 3_600_000;

/// Records that cached remote media was served, for `purge_media_cache`.
fn note_access(state: &AppState, server: &str, media_id: &str, record: &MediaRecord) -> Result<()> {
    let media = &state.storage.media;
    let last = media
        .last_access(server, media_id)?
        .unwrap_or(record.created_ts);
    let now = now_ms();
    if now.saturating_sub(last) >= ACCESS_GRANULARITY_MS {
        media.set_last_access(server, media_id, now)?;
    }
    Ok(())
}

/// Media of another server: from the local cache, or fetched over federation and cached.
async fn remote(state: &AppState, server: &str, media_id: &str) -> Result<(MediaRecord, String)> {
    let not_found = || Error::not_found("Media not found");
    if let Some(record) = state.storage.media.get(server, media_id)?
        && let Some(sha256) = record.sha256.clone()
    {
        if record.quarantined {
            return Err(not_found());
        }
        note_access(state, server, media_id, &record)?;
        return Ok((record, sha256));
    }
    if !state.config.federation.enabled || ruma::ServerName::parse(server).is_err() {
        return Err(not_found());
    }
    let path = format!(
        "/_matrix/federation/v1/media/download/{}",
        percent_encoding::utf8_percent_encode(media_id, percent_encoding::NON_ALPHANUMERIC)
    );
    let (status, content_type, body) = state
        .federation
        .get_bytes(server, &path, state.config.media.max_upload_bytes)
        .await
        .map_err(|e| Error::not_found(format!("Could not fetch the media from {server}: {e}")))?;
    if status != 200 {
        tracing::debug!(%server, status, body = %String::from_utf8_lossy(&body), "remote media refused");
        return Err(Error::not_found(format!(
            "{server} answered {status} for this media"
        )));
    }
    let (kind, disposition, bytes) = citadel_federation::multipart::parse(&content_type, &body)
        .ok_or_else(|| Error::not_found("Malformed media response"))?;
    let stored = state.media_store.save_bytes(&bytes).await?;
    let file_name = disposition
        .and_then(|d| {
            d.split("filename=\"")
                .nth(1)
                .map(|n| n.trim_end_matches('"').to_owned())
        })
        .map(|n| serve::sanitise_file_name(&n));
    let record = MediaRecord {
        uploader: String::new(),
        created_ts: now_ms(),
        sha256: Some(stored.sha256.clone()),
        size: stored.size,
        content_type: kind,
        file_name,
        ..Default::default()
    };
    let mut batch = state.storage.batch();
    state
        .storage
        .media
        .put(&mut batch, server, media_id, &record);
    state.storage.commit(batch).await?;
    Ok((record, stored.sha256))
}
