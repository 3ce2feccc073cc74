//! Client-server API handlers, one file per spec module.

pub mod account;
pub mod account_data;
pub mod device;
pub mod discovery;
pub mod login;
pub mod profile;
pub mod register;

use super::Routes;

pub fn register(routes: &mut Routes<'_>) {
    discovery::routes(routes);
    register::routes(routes);
    login::routes(routes);
    account::routes(routes);
    device::routes(routes);
    profile::routes(routes);
    account_data::routes(routes);
}
