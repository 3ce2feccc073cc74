//! Spaces: `GET /rooms/{roomId}/hierarchy`.

use actix_web::web;
use ruma::api::client::space::{SpaceHierarchyRoomsChunk, get_hierarchy};

use crate::api::Routes;
use crate::api::error::{Error, Result};
use crate::api::extract::Ruma;
use crate::app::AppState;
use crate::rooms::hierarchy::{self, MAX_LIMIT, Viewer};

pub fn routes(routes: &mut Routes<'_>) {
    routes.ruma(get_hierarchy);
}

/// `GET /_matrix/client/v1/rooms/{roomId}/hierarchy`
async fn get_hierarchy(
    state: web::Data<AppState>,
    req: Ruma<get_hierarchy::v1::Request>,
) -> Result<get_hierarchy::v1::Response> {
    let user = req.sender()?.user_id.as_str();
    let limit = match req.body.limit.map(u64::from) {
        Some(0) => return Err(Error::invalid_param("limit must be greater than zero")),
        Some(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
        None => MAX_LIMIT,
    };
    let page = hierarchy::walk(
        &state,
        &hierarchy::Request {
            root: &req.body.room_id,
            viewer: Viewer::User(user),
            suggested_only: req.body.suggested_only,
            max_depth: req.body.max_depth.map(u64::from),
            limit,
            from: req.body.from.as_deref(),
        },
    )?;
    let rooms = page
        .rooms
        .into_iter()
        .map(serde_json::from_value::<SpaceHierarchyRoomsChunk>)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::internal)?;
    let mut response = get_hierarchy::v1::Response::new();
    response.rooms = rooms;
    response.next_batch = page.next_batch;
    Ok(response)
}
