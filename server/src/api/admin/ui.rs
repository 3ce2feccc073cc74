//! The web admin panel (`admin-ui/`), compiled into the binary by rust-embed.
//!
//! `index.html` is served at `/_citadel/admin/` and never cached; every other file is served
//! under `/_citadel/admin/assets/{hash}/`, where the hash covers the whole panel, with a
//! year-long immutable cache. The modules import each other by relative path, so they all
//! resolve inside the same hashed directory and a new build can never mix with files a
//! browser cached from an older one.

use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use sha2::{Digest, Sha256};

use crate::api::Routes;

#[derive(rust_embed::Embed)]
#[folder = "../admin-ui/"]
struct Panel;

const BASE: &str = "/_citadel/admin/";
/// Where `index.html` names the hashed asset directory.
const ASSETS_PLACEHOLDER: &str = "{{ASSETS}}";

/// The panel talks to this server only, runs no inline script or style, and may not be
/// framed: it handles an administrator's access token.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, "/_citadel/admin/", index)
        .raw(Method::GET, "/_citadel/admin", redirect)
        .raw(
            Method::GET,
            "/_citadel/admin/assets/{hash}/{path:.*}",
            asset,
        );
}

/// The hash of every file's path and content, which names the asset directory.
pub fn bundle_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut names: Vec<_> = Panel::iter().collect();
        names.sort();
        let mut digest = Sha256::new();
        for name in names {
            digest.update((name.len() as u64).to_be_bytes());
            digest.update(name.as_bytes());
            if let Some(file) = Panel::get(&name) {
                digest.update(file.metadata.sha256_hash());
            }
        }
        hex::encode(&digest.finalize()[..8])
    })
}

fn file(path: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
    Panel::get(path).map(|file| file.data)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "webmanifest" => "application/json",
        _ => "application/octet-stream",
    }
}

fn secured(mut response: HttpResponseBuilder) -> HttpResponseBuilder {
    response
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"));
    response
}

/// `GET /_citadel/admin/`: the panel's page, naming the current asset directory.
async fn index() -> HttpResponse {
    let Some(html) = file("index.html") else {
        return HttpResponse::NotFound().finish();
    };
    let assets = format!("{BASE}assets/{}/", bundle_hash());
    let body = String::from_utf8_lossy(&html).replace(ASSETS_PLACEHOLDER, &assets);
    secured(HttpResponse::Ok())
        .content_type(content_type("index.html"))
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("ETag", format!("\"{}\"", bundle_hash())))
        .body(body)
}

/// `GET /_citadel/admin/assets/{hash}/{path}`: one of the panel's files, cached for good.
async fn asset(req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (hash, path) = path.into_inner();
    let etag = format!("\"{hash}\"");
    let bytes = (hash == bundle_hash() && path != "index.html")
        .then(|| file(&path))
        .flatten();
    let Some(bytes) = bytes else {
        // An older build's hash, or no such file: the browser reloads the page.
        return secured(HttpResponse::NotFound())
            .insert_header(("Cache-Control", "no-store"))
            .content_type("text/plain; charset=utf-8")
            .body("No such file in this version of the admin panel; reload the page.");
    };
    let cached = req
        .headers()
        .get("If-None-Match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut response = if cached {
        secured(HttpResponse::NotModified())
    } else {
        secured(HttpResponse::Ok())
    };
    response
        .content_type(content_type(&path))
        .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
        .insert_header(("ETag", etag));
    if cached {
        response.finish()
    } else {
        response.body(bytes)
    }
}

/// `GET /_citadel/admin`
async fn redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", BASE))
        .finish()
}
