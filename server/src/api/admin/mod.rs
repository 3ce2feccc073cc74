//! Admin APIs: Synapse-compatible shared-secret registration and admin API, the
//! endpoint the `citadel admin` CLI uses while the server runs, and the web admin panel's
//! files.

pub mod audit;
pub mod cli;
pub mod federation_rules;
pub mod overview;
pub mod shared_secret;
pub mod synapse;
pub mod ui;

use super::Routes;

pub fn register(routes: &mut Routes<'_>) {
    shared_secret::routes(routes);
    synapse::routes(routes);
    cli::routes(routes);
    audit::routes(routes);
    federation_rules::routes(routes);
    overview::routes(routes);
    ui::routes(routes);
}
