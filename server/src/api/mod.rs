//! HTTP: routing, request extraction, errors, and the handlers of each API.
//!
//! Client endpoints are registered from their ruma metadata, so every path ruma knows
//! for an endpoint (`/_matrix/client/v3/…` and the legacy `/r0/` one where the spec once
//! had it) is served by the same handler.

pub mod admin;
pub mod client;
pub mod error;
pub mod extract;
pub mod federation;

use std::collections::BTreeSet;
use std::future::Future;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, guard, web};
use ruma::api::path_builder::VersionHistory;
use ruma::api::{IncomingRequest, Metadata};

use crate::app::AppState;
use error::Error;
use extract::{AuthPolicy, Ruma, RumaResponse};

/// Collects routes, remembering every path so that a known path called with the wrong
/// method answers `405 M_UNRECOGNIZED` instead of `404`.
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    paths: BTreeSet<String>,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Self {
            cfg,
            paths: BTreeSet::new(),
        }
    }

    /// Serves ruma endpoint `R` with `handler` on every stable path ruma lists for it.
    pub fn ruma<R, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        R: IncomingRequest + Metadata<PathBuilder = VersionHistory> + 'static,
        R::Authentication: AuthPolicy,
        R::OutgoingResponse: 'static,
        F: Fn(web::Data<AppState>, Ruma<R>) -> Fut + Clone + 'static,
        Fut: Future<Output = Result<R::OutgoingResponse, Error>> + 'static,
    {
        let method = Method::from_bytes(R::METHOD.as_str().as_bytes()).unwrap_or(Method::GET);
        for (_, path) in R::PATH_BUILDER.stable_paths() {
            // State keys may be empty: `…/state/m.room.name/` and `…/state/m.room.name`
            // both address the empty key, as clients use both.
            let variants: Vec<(String, bool)> = match path.strip_suffix("/{state_key}") {
                Some(prefix) => vec![
                    (format!("{prefix}/{{state_key:.*}}"), false),
                    (prefix.to_owned(), true),
                ],
                None => vec![(path.to_owned(), false)],
            };
            for (pattern, empty_last_arg) in variants {
                let handler = handler.clone();
                self.paths.insert(pattern.clone());
                let mut resource = web::resource(pattern).guard(guard::Method(method.clone()));
                if empty_last_arg {
                    resource = resource.app_data(extract::EmptyLastPathArg);
                }
                self.cfg.service(
                    resource.to(move |state: web::Data<AppState>, req: Ruma<R>| {
                        let handler = handler.clone();
                        async move { handler(state, req).await.map(RumaResponse) }
                    }),
                );
            }
        }
        self
    }

    /// Serves a plain actix handler (endpoints ruma has no server type for).
    pub fn raw<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.paths.insert(path.to_owned());
        self.cfg
            .service(web::resource(path).guard(guard::Method(method)).to(handler));
        self
    }

    /// Registers the method-mismatch fallbacks; call once, after every route.
    pub fn finish(self) {
        for path in self.paths {
            self.cfg.service(web::resource(path).to(method_not_allowed));
        }
    }
}

async fn method_not_allowed() -> Result<HttpResponse, Error> {
    Err(Error::unrecognized(StatusCode::METHOD_NOT_ALLOWED))
}

/// Every path nothing else claimed.
pub async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::unrecognized(StatusCode::NOT_FOUND))
}

/// CORS preflight: every path answers `OPTIONS` with 200 so browser clients can call us
/// (the CORS headers themselves are added to every response by the app's middleware).
pub async fn preflight() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body("{}")
}

/// Mounts every API on the app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/{tail:.*}")
            .guard(guard::Options())
            .to(preflight),
    );
    let mut routes = Routes::new(cfg);
    client::register(&mut routes);
    admin::register(&mut routes);
    federation::register(&mut routes);
    routes.finish();
}

/// Logs each request's method, path, status and duration. The query string is left out
/// on purpose: it may carry an access token, and tokens never reach the logs.
pub async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await?;
    tracing::debug!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(response)
}
