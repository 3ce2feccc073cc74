//! Admin APIs: Synapse-compatible shared-secret registration, the endpoint the
//! `citadel admin` CLI uses while the server runs, and the web admin panel's files.

pub mod cli;
pub mod shared_secret;
pub mod ui;

use super::Routes;

pub fn register(routes: &mut Routes<'_>) {
    shared_secret::routes(routes);
    cli::routes(routes);
    ui::routes(routes);
}
