//! Client-server API handlers, one file per spec module.

pub mod account;
pub mod account_data;
pub mod device;
pub mod discovery;
pub mod filter;
pub mod login;
pub mod membership;
pub mod message;
pub mod profile;
pub mod register;
pub mod room;
pub mod state;

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
    membership::routes(routes);
    state::routes(routes);
    message::routes(routes);
    crate::sync::v3::routes(routes);
}
