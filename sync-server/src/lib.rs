//! `carnet-server`: the team's sync server. Devices push the changes of their
//! change log and pull the team's; supervisors read the merged log and manage
//! devices. The protocol is `docs/sync-protocol.md`.
//!
//! - [`config`]: settings from flags, environment and a TOML file;
//! - [`storage`]: teams, devices, codes and team logs behind a trait
//!   (SQLite first);
//! - [`auth`]: tokens, roles, wipe orders and rate limits;
//! - `routes`: the HTTP API; [`error`]: the problem responses;
//! - [`metrics`]: Prometheus counters.
//!
//! [`serve`] runs the server on a listener until a shutdown future resolves;
//! [`app`] is the router alone, for in-process tests; [`init_team`] and
//! [`issue_code`] are the operator's commands, usable while it runs.

pub mod auth;
pub mod config;
mod dashboard;
pub mod error;
pub mod metrics;
mod routes;
pub mod storage;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;

pub use config::{Config, ConfigArgs};
pub use error::ServerError;
pub use routes::app;
pub use storage::{Role, SqliteStorage, Storage};

use crate::auth::RateLimiter;
use crate::error::Result;
use crate::metrics::Metrics;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Teams, devices and logs.
    pub storage: Arc<dyn Storage>,
    /// The settings the server runs with.
    pub config: Arc<Config>,
    /// Per-device request budget.
    pub limiter: Arc<RateLimiter>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Permits for heavy storage work (applying pushes, building pulls and
    /// exports): requests past them wait without holding a thread or memory,
    /// and a client that gives up while waiting costs nothing.
    heavy: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Opens the SQLite storage in `config.data_dir`.
    pub fn open(config: Config) -> Result<AppState> {
        let storage = SqliteStorage::open(&config.data_dir)?;
        Ok(Self::with_storage(Arc::new(storage), config))
    }

    /// A state over any storage (tests, other databases).
    pub fn with_storage(storage: Arc<dyn Storage>, config: Config) -> AppState {
        AppState {
            storage,
            limiter: Arc::new(RateLimiter::new(config.rate_per_second, config.rate_burst)),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            heavy: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        }
    }

    /// Like [`AppState::blocking`], for heavy work: waits for a permit first.
    pub(crate) async fn heavy<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .heavy
            .acquire()
            .await
            .map_err(|_| ServerError::Internal("server shutting down".into()))?;
        self.blocking(f).await
    }

    /// Runs blocking storage work on tokio's blocking pool. The work runs to
    /// its end even if the client goes away, so a push is either committed
    /// whole or not at all, never abandoned halfway.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f).await.map_err(|e| {
            ServerError::Internal(if e.is_panic() {
                "a storage task panicked".into()
            } else {
                "a storage task was cancelled".into()
            })
        })?
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops
/// accepting connections and finishes the requests in flight: a push that
/// was being applied is committed and acknowledged before this returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let state = tokio::task::spawn_blocking(move || AppState::open(config))
        .await
        .map_err(|e| ServerError::Internal(e.to_string()))??;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data = %state.config.data_dir.display(), "carnet-server listening");
    let router: Router = app(state.clone()).merge(dashboard::router(&state.config)?);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("carnet-server stopped");
    Ok(())
}

/// Creates a team in `data_dir` with the default (Carcassonne) configuration
/// under its own name, and issues its first supervisor enrollment code.
/// Returns `(team_id, code)`.
pub fn init_team(data_dir: &Path, name: &str) -> Result<(String, String), ServerError> {
    let storage = SqliteStorage::open(data_dir)?;
    let mut config = carnet_core::TeamConfig::carcassonne();
    config.name = name.trim().to_string();
    let team_id = storage.create_team(name, &config)?;
    let code = storage.issue_code(&team_id, Role::Supervisor, None, default_ttl_ms())?;
    Ok((team_id, code.code))
}

/// Issues an enrollment code for a team in `data_dir`; `role` is `mediator`
/// or `supervisor`, `name` the device name proposed at enrollment.
pub fn issue_code(
    data_dir: &Path,
    team_id: &str,
    role: &str,
    name: Option<&str>,
) -> Result<String, ServerError> {
    let role = Role::parse(role)
        .ok_or_else(|| ServerError::BadRequest("role: expected mediator or supervisor".into()))?;
    let storage = SqliteStorage::open(data_dir)?;
    Ok(storage
        .issue_code(team_id.trim(), role, name, default_ttl_ms())?
        .code)
}

fn default_ttl_ms() -> i64 {
    Config::default().code_ttl.as_millis() as i64
}
