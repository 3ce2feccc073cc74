//! Federation media: `GET /_matrix/federation/v1/media/download/{mediaId}` and
//! `/thumbnail/{mediaId}`, answering with `multipart/mixed` (metadata, then the file).

use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::error::{Error, Result};
use crate::api::federation::auth::FederationRequest;
use crate::app::AppState;

fn media_id(req: &HttpRequest) -> String {
    percent_encoding::percent_decode_str(req.match_info().get("media_id").unwrap_or_default())
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

fn local_media(
    state: &AppState,
    media_id: &str,
) -> Result<(citadel_storage::media::MediaRecord, String)> {
    let not_found = || Error::not_found("Media not found");
    let record = state
        .storage
        .media
        .get(state.server_name(), media_id)?
        .ok_or_else(not_found)?;
    if record.quarantined {
        return Err(not_found());
    }
    let sha256 = record.sha256.clone().ok_or_else(not_found)?;
    Ok((record, sha256))
}

fn multipart(content_type: &str, disposition: Option<String>, bytes: &[u8]) -> HttpResponse {
    let (header, body) =
        citadel_federation::multipart::build(content_type, disposition.as_deref(), bytes);
    HttpResponse::Ok().content_type(header).body(body)
}

/// `GET /_matrix/federation/v1/media/download/{mediaId}`
pub async fn download(
    state: web::Data<AppState>,
    _from: FederationRequest,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let (record, sha256) = local_media(&state, &media_id(&req))?;
    let bytes = state.media_store.read(&sha256).await?;
    let content_type = record
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let disposition = record
        .file_name
        .as_ref()
        .map(|n| format!("attachment; filename=\"{n}\""));
    Ok(multipart(&content_type, disposition, &bytes))
}

/// `GET /_matrix/federation/v1/media/thumbnail/{mediaId}`
pub async fn thumbnail(
    state: web::Data<AppState>,
    _from: FederationRequest,
    req: HttpRequest,
) -> Result<HttpResponse> {
    let (width, height, method) = crate::media::thumbnail_params(|name| query(&req, name))?;
    let (record, sha256) = local_media(&state, &media_id(&req))?;
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
    Ok(multipart(output, None, &bytes))
}
