//! Citadel, a Matrix homeserver: HTTP APIs, rooms, sync and policy.
//!
//! [`start`] opens the database and binds the listeners; the returned [`Running`] server
//! is awaited by `main` (or stopped by tests).

pub mod account_data;
pub mod admin;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod e2ee;
pub mod federation;
pub mod media;
pub mod metrics;
pub mod metrics_history;
pub mod policy;
pub mod presence;
pub mod push;
pub mod rooms;
pub mod server_notices;
pub mod sync;
pub mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer, web};

use crate::app::AppState;
use crate::config::Config;

/// A started server.
pub struct Running {
    pub handle: ServerHandle,
    /// Where it listens, in the order of the configuration (plain HTTP first).
    pub addrs: Vec<SocketAddr>,
    server: Server,
    state: web::Data<AppState>,
}

impl Running {
    /// Serves until stopped (SIGINT/SIGTERM or the handle), then makes every write durable.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(sender) = self.state.sender.get() {
            sender.shutdown().await;
        }
        if let Err(e) = self.state.storage.flush_blocking() {
            tracing::error!(error = %e, "final flush failed");
        }
        // Worker threads drop their handles on the state a moment after the server future
        // resolves. Wait (briefly) for that, so that when this returns the database is
        // closed and could be opened again, e.g. by a restarted server in the same process.
        let state = self.state.into_inner();
        for _ in 0..500 {
            if Arc::strong_count(&state) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(state);
        tracing::info!("stopped");
        result
    }
}

/// Installs rustls' process-wide crypto provider (ring) once; later calls are no-ops.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Opens the database and starts listening. Must run inside an actix system.
pub fn start(config: Config) -> Result<Running, String> {
    init_crypto();
    let state = web::Data::new(AppState::open(config).map_err(|e| e.to_string())?);
    let config = Arc::clone(&state.config);
    if config.audit.retention_days > 0 {
        let cutoff = citadel_storage::now_ms().saturating_sub(
            config
                .audit
                .retention_days
                .saturating_mul(24 * 60 * 60 * 1000),
        );
        match state
            .storage
            .audit
            .prune(|batch| state.storage.apply(batch), cutoff)
            .and_then(|n| state.storage.flush_blocking().map(|()| n))
        {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "audit entries past their retention removed"),
            Err(e) => tracing::error!(error = %e, "cannot apply the audit retention"),
        }
    }
    if config.federation.enabled {
        let backoff = citadel_federation::sender::Backoff {
            first: std::time::Duration::from_secs(1),
            max: std::time::Duration::from_secs(config.federation.max_retry_interval_secs.max(1)),
        };
        let sender = citadel_federation::sender::Sender::start(
            state.storage.clone(),
            Arc::clone(&state.federation),
            backoff,
        );
        let _ = state.sender.set(sender);
    }
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            // Innermost: its early 429 still gets the CORS headers below.
            .wrap(actix_web::middleware::from_fn(api::body_timeout::limit))
            .wrap(
                DefaultHeaders::new()
                    .add(("Access-Control-Allow-Origin", "*"))
                    .add((
                        "Access-Control-Allow-Methods",
                        "GET, HEAD, POST, PUT, DELETE, OPTIONS",
                    ))
                    .add((
                        "Access-Control-Allow-Headers",
                        "X-Requested-With, Content-Type, Authorization, Date",
                    )),
            )
            .wrap(actix_web::middleware::from_fn(api::admin_listeners_only))
            .wrap(actix_web::middleware::from_fn(api::log_request))
            .configure(api::configure)
            .default_service(web::to(api::not_found))
    })
    // Waiting syncs are answered the moment a stop begins (below), so what is left are
    // short requests; Docker's stop gives 10 s before SIGKILL, and the final flush needs
    // some of it.
    .shutdown_timeout(1)
    .disable_signals();
    if config.http.workers > 0 {
        server = server.workers(config.http.workers);
    }
    for bind in &config.http.bind {
        server = server
            .bind(bind)
            .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    }
    for bind in &config.http.admin_bind {
        server = server
            .bind(bind)
            .map_err(|e| format!("cannot listen on {bind} (admin): {e}"))?;
    }
    if config.metrics.enabled
        && let Some(bind) = &config.metrics.bind
    {
        server = server
            .bind(bind)
            .map_err(|e| format!("cannot listen on {bind} (metrics): {e}"))?;
    }
    if let Some(tls) = &config.tls {
        let rustls_config = tls_config(tls)?;
        server = server
            .bind_rustls_0_23(&tls.bind, rustls_config)
            .map_err(|e| format!("cannot listen on {}: {e}", tls.bind))?;
    }
    let addrs = server.addrs();
    let server = server.run();
    tasks::resume_unfinished(state.clone());
    stop_on_signal(&state, server.handle());
    // A weak reference: the sampler must not keep the state (and the open database)
    // alive after the server stops.
    let sampled = Arc::downgrade(&state.clone().into_inner());
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(metrics_history::INTERVAL);
        loop {
            every.tick().await;
            let Some(state) = sampled.upgrade() else {
                return;
            };
            state.metrics.history.sample(citadel_storage::now_ms());
        }
    });
    for addr in &addrs {
        tracing::info!(%addr, server_name = %config.server_name, "listening");
    }
    Ok(Running {
        handle: server.handle(),
        addrs,
        server,
        state,
    })
}

/// SIGTERM or SIGINT: answer every waiting long poll, then stop gracefully. (actix's own
/// signal handling would wait up to the grace period for long polls that wait 30 s.)
fn stop_on_signal(state: &web::Data<AppState>, handle: ServerHandle) {
    // Weak: a server stopped through its handle must still free the state.
    let state = Arc::downgrade(&state.clone().into_inner());
    actix_web::rt::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = terminate => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
        }
        if let Some(state) = state.upgrade() {
            state.notifier.close();
        }
        handle.stop(true).await;
    });
}

/// The rustls configuration of a TLS listener: the certificate chain and key from PEM files.
pub fn tls_config(tls: &config::TlsConfig) -> Result<rustls::ServerConfig, String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let certs = rustls_pemfile::certs(&mut read(&tls.certificate)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate {}: {e}", tls.certificate.display()))?;
    let key = rustls_pemfile::private_key(&mut read(&tls.private_key)?.as_slice())
        .map_err(|e| format!("bad private key {}: {e}", tls.private_key.display()))?
        .ok_or_else(|| format!("no private key in {}", tls.private_key.display()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not work together: {e}"))
}
