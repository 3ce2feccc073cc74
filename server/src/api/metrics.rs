//! `GET /metrics`: Prometheus text format, for a scraper on the metrics listener or
//! holding the configured bearer token; nobody else learns it exists.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;

use crate::api::Routes;
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes.raw(Method::GET, "/metrics", metrics);
}

fn allowed(state: &AppState, req: &HttpRequest) -> bool {
    let config = &state.config.metrics;
    if !config.enabled {
        return false;
    }
    let on_metrics_listener = config.bind.as_deref().is_some_and(|bind| {
        bind.parse::<std::net::SocketAddr>()
            .is_ok_and(|addr| addr == req.app_config().local_addr())
    });
    let token_ok = config.bearer_token.as_deref().is_some_and(|wanted| {
        req.headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| bool::from(given.as_bytes().ct_eq(wanted.as_bytes())))
    });
    on_metrics_listener || token_ok
}

/// `GET /metrics`
async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if !allowed(&state, &req) {
        return HttpResponse::NotFound().json(serde_json::json!({
            "errcode": "M_UNRECOGNIZED",
            "error": "Unrecognized request",
        }));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(&state))
}
