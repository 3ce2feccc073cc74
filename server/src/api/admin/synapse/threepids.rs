//! Third-party identifiers in Synapse's admin API: the `threepids` of `PUT
//! /v2/users/{id}` and the lookup of an identifier's account.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::api::Routes;
use crate::api::admin::synapse::Admin;
use crate::api::error::{Error, Result};
use crate::app::AppState;

pub fn routes(routes: &mut Routes<'_>) {
    routes.raw(
        Method::GET,
        "/_synapse/admin/v1/threepid/{medium}/users/{address}",
        threepid_owner,
    );
}

/// The `(medium, address)` pairs a PUT asks for, refused as a whole if one is malformed
/// or held by another account.
pub(super) fn wanted(
    state: &AppState,
    user_id: &str,
    list: &[Value],
) -> Result<BTreeSet<(String, String)>> {
    let mut wanted = BTreeSet::new();
    for entry in list {
        let field = |name: &str| {
            entry[name].as_str().map(str::to_owned).ok_or_else(|| {
                Error::missing_param(format!("Missing params: [{name:?}] in threepids"))
            })
        };
        let (medium, address) = (field("medium")?, field("address")?);
        if medium.is_empty() || address.is_empty() || address.len() > 320 {
            return Err(Error::invalid_param("Invalid third-party identifier"));
        }
        if let Some(owner) = state.storage.threepids.owner(&medium, &address)?
            && owner != user_id
        {
            return Err(Error::new(
                StatusCode::BAD_REQUEST,
                "M_THREEPID_IN_USE",
                "Another account already has this third-party identifier",
            ));
        }
        wanted.insert((medium, address));
    }
    Ok(wanted)
}

/// Makes the user's identifiers exactly `wanted`: new ones are added (validated now, as
/// an admin vouches for them), others removed.
pub(super) fn set(
    state: &AppState,
    user_id: &str,
    wanted: BTreeSet<(String, String)>,
) -> Result<()> {
    let store = &state.storage.threepids;
    let current = store.of(user_id)?;
    for old in &current {
        if !wanted.contains(&(old.medium.clone(), old.address.clone())) {
            store.remove(user_id, &old.medium, &old.address)?;
        }
    }
    let now = citadel_storage::now_ms();
    for (medium, address) in wanted {
        if current
            .iter()
            .any(|t| t.medium == medium && t.address == address)
        {
            continue;
        }
        let threepid = citadel_storage::threepids::Threepid {
            medium,
            address,
            added_at: now,
            validated_at: now,
        };
        if !store.add(user_id, &threepid)? {
            return Err(Error::new(
                StatusCode::BAD_REQUEST,
                "M_THREEPID_IN_USE",
                "Another account already has this third-party identifier",
            ));
        }
    }
    Ok(())
}

/// `GET /_synapse/admin/v1/threepid/{medium}/users/{address}`: the account holding it.
async fn threepid_owner(
    state: web::Data<AppState>,
    _admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (medium, address) = path.into_inner();
    let owner = state
        .storage
        .threepids
        .owner(&medium, &address)?
        .ok_or_else(|| Error::not_found("User not found"))?;
    Ok(HttpResponse::Ok().json(json!({ "user_id": owner })))
}
