//! HTTP: routing, request extraction, errors, and the handlers of each API.
//!
//! Client endpoints are registered from their ruma metadata, so every path ruma knows
//! for an endpoint (`/_matrix/client/v3/…` and the legacy `/r0/` one where the spec once
//! had it) is served by the same handler.

pub mod admin;
pub mod body_timeout;
pub mod client;
pub mod error;
pub mod extract;
pub mod federation;
pub mod forwarded;
pub mod metrics;

use std::future::Future;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, guard, web};
use ruma::api::path_builder::VersionHistory;
use ruma::api::{IncomingRequest, Metadata};

use crate::app::AppState;
use error::Error;
use extract::{AuthPolicy, Ruma, RumaResponse};

/// Collects routes, then mounts them grouped: one resource per path (its methods as
/// routes, any other method answered `405 M_UNRECOGNIZED`), and paths grouped in scopes by
/// their static prefix (`/_matrix/client/v3/rooms` …), so that matching a request looks
/// at one scope's patterns instead of every pattern of every API.
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    /// `(path, routes, whether the path lacks its last argument)`, in registration order.
    paths: Vec<(String, Vec<actix_web::Route>, bool)>,
    /// Every `(method, path pattern)` registered, for [`route_table`].
    table: Vec<(Method, String)>,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Self {
            cfg,
            paths: Vec::new(),
            table: Vec::new(),
        }
    }

    /// Adds a route to `path`.
    fn add(&mut self, method: &Method, path: &str, route: actix_web::Route, empty_last_arg: bool) {
        self.table.push((method.clone(), path.to_owned()));
        match self.paths.iter_mut().find(|(p, _, _)| p == path) {
            Some((_, routes, _)) => routes.push(route),
            None => self
                .paths
                .push((path.to_owned(), vec![route], empty_last_arg)),
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
                let route = web::route().method(method.clone()).to(
                    move |state: web::Data<AppState>, req: Ruma<R>| {
                        let handler = handler.clone();
                        async move { handler(state, req).await.map(RumaResponse) }
                    },
                );
                self.add(&method, &pattern, route, empty_last_arg);
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
        self.add(
            &method,
            path,
            web::route().method(method.clone()).to(handler),
            false,
        );
        self
    }

    /// Mounts everything; call once, after every route.
    pub fn finish(mut self) {
        // Within a scope, resources are tried in order, each by a regular expression:
        // the most frequent request (sending a message) goes first.
        self.paths
            .sort_by_key(|(path, _, _)| !path.contains("/send/{"));
        let scope_names: Vec<String> = self
            .paths
            .iter()
            .map(|(p, _, _)| split_scope(p).0.to_owned())
            .collect();
        let mut scopes: Vec<(String, Vec<actix_web::Resource>)> = Vec::new();
        for (path, routes, empty_last_arg) in self.paths {
            // A path that is itself a scope (`/_matrix/client/v3/register` next to
            // `/_matrix/client/v3/register/available`) is that scope's root.
            let (scope, rest) = if scope_names.contains(&path) {
                (path.as_str(), "")
            } else {
                split_scope(&path)
            };
            let mut resource = web::resource(rest).default_service(web::to(method_not_allowed));
            if empty_last_arg {
                resource = resource.app_data(extract::EmptyLastPathArg);
            }
            for route in routes {
                resource = resource.route(route);
            }
            match scopes.iter_mut().find(|(s, _)| s == scope) {
                Some((_, resources)) => resources.push(resource),
                None => scopes.push((scope.to_owned(), vec![resource])),
            }
        }
        // A scope claims every path under it, so `/_matrix/client/v3/rooms` is tried
        // before `/_matrix/client/v3`.
        scopes.sort_by_key(|(scope, _)| std::cmp::Reverse(scope.len()));
        for (scope, resources) in scopes {
            if scope.is_empty() {
                for resource in resources {
                    self.cfg.service(resource);
                }
            } else {
                let mut mounted = web::scope(&scope).default_service(web::to(not_found));
                for resource in resources {
                    mounted = mounted.service(resource);
                }
                self.cfg.service(mounted);
            }
        }
    }
}

/// `/_matrix/client/v3/rooms/{roomId}/send` → (`/_matrix/client/v3/rooms`,
/// `/{roomId}/send`): the longest static prefix of three or four segments that leaves
/// something after it; shorter paths stay unscoped.
fn split_scope(path: &str) -> (&str, &str) {
    let slashes: Vec<usize> = path.match_indices('/').map(|(i, _)| i).collect();
    for segments in [4, 3] {
        if let Some(&i) = slashes.get(segments)
            && !path[..i].contains('{')
        {
            return (&path[..i], &path[i..]);
        }
    }
    ("", path)
}

async fn method_not_allowed(req: actix_web::HttpRequest) -> Result<HttpResponse, Error> {
    if is_push_rules(&req) {
        return Err(Error::unrecognized(StatusCode::BAD_REQUEST));
    }
    Err(Error::unrecognized(StatusCode::METHOD_NOT_ALLOWED))
}

/// Every path nothing else claimed.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, Error> {
    if is_push_rules(&req) {
        return Err(Error::unrecognized(StatusCode::BAD_REQUEST));
    }
    Err(Error::unrecognized(StatusCode::NOT_FOUND))
}

/// A `/pushrules/` request no route took names no valid scope, kind, rule or
/// attribute (or a method the path does not have): a malformed request, `400` as from
/// Synapse, not a missing page. `/pushrules` itself, without the slash, is no endpoint:
/// `404` (Synapse too).
fn is_push_rules(req: &actix_web::HttpRequest) -> bool {
    req.path()
        .strip_prefix("/_matrix/client/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| rest.starts_with("pushrules/"))
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
    register_all(&mut routes);
    routes.finish();
}

fn register_all(routes: &mut Routes<'_>) {
    client::register(routes);
    admin::register(routes);
    metrics::routes(routes);
    federation::register(routes);
}

/// Every route the server serves, as `(method, path pattern)`: tests walk it (the admin
/// API's authorization test covers each admin route, including ones added later).
pub fn route_table() -> Vec<(Method, String)> {
    let mut table = Vec::new();
    let _ = actix_web::App::new().configure(|cfg| {
        let mut routes = Routes::new(cfg);
        register_all(&mut routes);
        table = std::mem::take(&mut routes.table);
    });
    table
}

/// Whether a path belongs to an admin API (Synapse's, Citadel's, or the client API's
/// `/admin/` endpoints).
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with("/_synapse/admin")
        || path.starts_with("/_citadel/admin")
        || (path.starts_with("/_matrix/client/") && path.contains("/admin/"))
}

/// With `http.admin_bind` set, admin paths on any other listener are answered as if
/// they did not exist: the public port does not even reveal them.
pub async fn admin_listeners_only(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let allowed = req
        .app_data::<web::Data<crate::app::AppState>>()
        .is_none_or(|state| {
            let listeners = &state.config.http.admin_bind;
            listeners.is_empty()
                || !is_admin_path(req.path())
                || listeners.iter().any(|bind| {
                    bind.parse::<std::net::SocketAddr>()
                        .is_ok_and(|addr| addr == req.request().app_config().local_addr())
                })
        });
    if !allowed {
        let response =
            actix_web::ResponseError::error_response(&Error::unrecognized(StatusCode::NOT_FOUND));
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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
    let state = req
        .app_data::<actix_web::web::Data<crate::app::AppState>>()
        .cloned();
    let response = next.call(req).await?;
    if let Some(state) = state {
        // The route's template, not the path, so that IDs do not make new series;
        // `{room_id}` is written `:room_id`, which every text-format parser reads.
        let route = response
            .request()
            .match_pattern()
            .map(|p| p.replace('{', ":").replace('}', ""))
            .unwrap_or_else(|| "unmatched".into());
        state.metrics.request(
            method.as_str(),
            &route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    tracing::debug!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(response)
}
