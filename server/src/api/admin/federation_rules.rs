//! Citadel's admin API for the federation allow/deny lists at runtime: they replace the
//! configuration file's lists until deleted, in force at once and kept across restarts.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::error::{Error, Result, parse_json};
use crate::app::AppState;
use crate::rooms::acl::{self, FederationRules};

const PATH: &str = "/_citadel/admin/v1/federation/rules";
/// A longer pattern is surely a mistake (server names are at most 255 characters).
const MAX_PATTERN_LEN: usize = 255;
const MAX_PATTERNS: usize = 10_000;

pub fn routes(routes: &mut Routes<'_>) {
    routes
        .raw(Method::GET, PATH, get)
        .raw(Method::PUT, PATH, put)
        .raw(Method::DELETE, PATH, delete);
}

fn body(state: &AppState) -> serde_json::Value {
    let active = acl::rules(state);
    json!({
        "allowed_servers": active.rules.allowed_servers,
        "denied_servers": active.rules.denied_servers,
        "source": if active.runtime { "runtime" } else { "config" },
    })
}

/// `GET /_citadel/admin/v1/federation/rules`: the lists in force and where they come from.
async fn get(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(body(&state)))
}

/// `PUT /_citadel/admin/v1/federation/rules` with `allowed_servers` and `denied_servers`
/// (each optional, empty by default): replaces both lists.
async fn put(state: web::Data<AppState>, admin: Admin, raw: web::Bytes) -> Result<HttpResponse> {
    let rules: FederationRules = parse_json(&raw)?;
    for pattern in rules.allowed_servers.iter().chain(&rules.denied_servers) {
        if pattern.is_empty()
            || pattern.len() > MAX_PATTERN_LEN
            || pattern.chars().any(|c| c.is_whitespace() || c == '/')
        {
            return Err(Error::invalid_param(format!(
                "{pattern:?} is not a server name pattern"
            )));
        }
    }
    if rules.allowed_servers.len() + rules.denied_servers.len() > MAX_PATTERNS {
        return Err(Error::invalid_param("Too many patterns"));
    }
    acl::set_rules(&state, Some(&rules)).await?;
    let event =
        crate::audit::Event::new(admin.0.user_id.as_str(), "admin.federation.set_rules", None)
            .details(json!({
                "allowed_servers": rules.allowed_servers,
                "denied_servers": rules.denied_servers,
            }));
    crate::audit::record(&state, event).await?;
    Ok(HttpResponse::Ok().json(body(&state)))
}

/// `DELETE /_citadel/admin/v1/federation/rules`: back to the configuration file's lists.
async fn delete(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse> {
    acl::set_rules(&state, None).await?;
    crate::api::admin::synapse::audited(&state, &admin, "admin.federation.reset_rules", None)
        .await?;
    Ok(HttpResponse::Ok().json(body(&state)))
}
