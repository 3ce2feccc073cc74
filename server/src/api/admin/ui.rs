//! The web admin panel's static files, compiled into the binary.

use actix_web::HttpResponse;
use actix_web::http::Method;

use crate::api::Routes;

const INDEX_HTML: &str = include_str!("../../../../admin-ui/index.html");

pub fn routes(routes: &mut Routes<'_>) {
    routes.raw(Method::GET, "/_citadel/admin/", index).raw(
        Method::GET,
        "/_citadel/admin",
        redirect,
    );
}

/// `GET /_citadel/admin/`
async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // The panel handles admin credentials: never let another site frame it.
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'",
        ))
        .body(INDEX_HTML)
}

async fn redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", "/_citadel/admin/"))
        .finish()
}
