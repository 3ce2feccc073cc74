//! Client-server API handlers, one file per spec module.

pub mod account;
pub mod account_data;
pub mod backup;
pub mod context;
pub mod cross_signing;
pub mod device;
pub mod directory;
pub mod discovery;
pub mod events;
pub mod filter;
pub mod keys;
pub mod login;
pub mod media;
pub mod membership;
pub mod message;
pub mod presence;
pub mod profile;
pub mod public_rooms;
pub mod push;
pub mod receipt;
pub mod register;
pub mod relations;
pub mod room;
pub mod room_initial_sync;
pub mod send_without_txn;
pub mod sliding_sync;
pub mod space;
pub mod state;
pub mod sync;
pub mod tag;
pub mod users;

use super::Routes;

pub fn register(routes: &mut Routes<'_>) {
    discovery::routes(routes);
    register::routes(routes);
    login::routes(routes);
    account::routes(routes);
    device::routes(routes);
    profile::routes(routes);
    account_data::routes(routes);
    room::routes(routes);
    filter::routes(routes);
    directory::routes(routes);
    tag::routes(routes);
    receipt::routes(routes);
    presence::routes(routes);
    relations::routes(routes);
    context::routes(routes);
    public_rooms::routes(routes);
    users::routes(routes);
    push::routes(routes);
    keys::routes(routes);
    backup::routes(routes);
    media::routes(routes);
    membership::routes(routes);
    state::routes(routes);
    message::routes(routes);
    send_without_txn::routes(routes);
    sync::routes(routes);
    events::routes(routes);
    room_initial_sync::routes(routes);
    sliding_sync::routes(routes);
    space::routes(routes);
}
