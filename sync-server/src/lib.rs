//! `carnet-server`: the team's sync server. Devices push the changes of their
//! change log and pull the team's; supervisors read the merged log and manage
//! devices. The protocol is `docs/sync-protocol.md`.
//!
//! - [`config`]: settings from flags, environment and a TOML file;
//! - [`storage`]: teams, devices, codes and team logs behind a trait
//!   (SQLite first), which the supervisors' pages (`dashboard`) read too;
//! - [`auth`]: tokens, roles, wipe orders, rate limits and the throttle on
//!   failed codes (in memory, or in the shared PostgreSQL database);
//! - `routes`: the HTTP API; [`error`]: the problem responses;
//! - [`metrics`]: Prometheus counters;
//! - [`retention`]: the daily erasure of contacts past their retention.
//!
//! [`serve`] runs the server on a listener until a shutdown future resolves,
//! over HTTPS when [`Config::tls_cert`] and [`Config::tls_key`] are set;
//! [`RunningServer`] runs it on a thread of its own, for blocking callers
//! (the demo, tests, harnesses); [`app`] is the router alone, for
//! in-process tests; [`init_team`] and
//! [`issue_code`] are the operator's commands, usable while it runs, and so
//! is [`backup::backup`] ([`backup::restore`] is for a stopped server).

#![forbid(unsafe_code)]

pub mod accounts;
pub mod auth;
pub mod backup;
pub mod config;
mod dashboard;
pub mod error;
pub mod metrics;
pub mod migrate_storage;
pub mod retention;
mod routes;
mod running;
pub mod storage;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use carnet_dashboard::{AccessLogStore, SessionStore};

pub use config::{Config, ConfigArgs};
pub use error::ServerError;
pub use retention::{RetentionSwept, sweep_retention};
pub use routes::{app, metrics_app};
pub use running::RunningServer;
pub use storage::{PostgresStorage, Role, SqliteStorage, Storage};

use crate::auth::{AttemptThrottle, FailureCounts, RateLimiter, TokenBuckets};
use crate::error::Result;
use crate::metrics::Metrics;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Teams, devices and logs.
    pub storage: Arc<dyn Storage>,
    /// The settings the server runs with.
    pub config: Arc<Config>,
    /// Per-device request budget (in memory, or in the shared database).
    pub limiter: Arc<dyn TokenBuckets>,
    /// Failed enrollment codes and dashboard sign-ins, per client address,
    /// team and deployment: past the limit, 429 before the code is tried.
    pub code_throttle: Arc<dyn FailureCounts>,
    /// Who read which residents' records (RGPD accountability), shared
    /// by the API and the dashboard: `dashboard.db` (opened at its first
    /// use), or the shared database.
    pub access_log: Arc<dyn AccessLogStore>,
    /// The dashboard's sign-in sessions: `dashboard.db` (opened at its
    /// first use), or the shared database.
    pub sessions: Arc<dyn SessionStore>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Permits for heavy storage work (applying pushes, building pulls and
    /// exports, and every storage call of the dashboard's pages): requests
    /// past them wait without holding a thread or memory, and a client that
    /// gives up while waiting costs nothing.
    heavy: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Opens the storage the settings name: PostgreSQL when
    /// `config.database` is set, with everything else instances would keep
    /// in the same database ([`AppState::on_postgres`]); else SQLite under
    /// `config.data_dir` ([`AppState::with_storage`]).
    pub fn open(config: Config) -> Result<AppState> {
        match &config.database {
            Some(url) => {
                let storage = PostgresStorage::connect(url, config.database_pool)?;
                Self::on_postgres(Arc::new(storage), config)
            }
            None => {
                let storage = SqliteStorage::open(&config.data_dir)?;
                Ok(Self::with_storage(Arc::new(storage), config))
            }
        }
    }

    /// A state over any storage (tests, other databases), for one instance:
    /// sessions and the access log in `config.data_dir/dashboard.db`, rate
    /// limits in memory.
    pub fn with_storage(storage: Arc<dyn Storage>, config: Config) -> AppState {
        let retention = carnet_dashboard::access_log::DEFAULT_RETENTION_DAYS;
        Self::assemble(
            storage,
            Arc::new(RateLimiter::new(config.rate_per_second, config.rate_burst)),
            Arc::new(AttemptThrottle::new(
                config.code_failures,
                config.code_failure_window,
            )),
            Arc::new(carnet_dashboard::AccessLog::at(&config.data_dir, retention)),
            Arc::new(carnet_dashboard::Sessions::at(&config.data_dir)),
            config,
        )
    }

    /// A state over a PostgreSQL storage that keeps nothing per instance:
    /// sessions, the access log and rate limits in its database, so that
    /// any number of instances serve alike.
    pub fn on_postgres(storage: Arc<PostgresStorage>, config: Config) -> Result<AppState> {
        let pool = storage.pool();
        let retention = carnet_dashboard::access_log::DEFAULT_RETENTION_DAYS;
        Ok(Self::assemble(
            storage,
            Arc::new(storage::PgTokenBuckets::new(
                pool.clone(),
                config.rate_per_second,
                config.rate_burst,
            )),
            Arc::new(storage::PgFailureCounts::new(
                pool.clone(),
                config.code_failures,
                config.code_failure_window,
            )),
            Arc::new(storage::PgAccessLog::new(pool.clone(), retention)?),
            Arc::new(storage::PgSessions::new(pool)),
            config,
        ))
    }

    fn assemble(
        storage: Arc<dyn Storage>,
        limiter: Arc<dyn TokenBuckets>,
        code_throttle: Arc<dyn FailureCounts>,
        access_log: Arc<dyn AccessLogStore>,
        sessions: Arc<dyn SessionStore>,
        config: Config,
    ) -> AppState {
        AppState {
            storage,
            limiter,
            code_throttle,
            access_log,
            sessions,
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
///
/// Also, while it runs: plain `/metrics` on `config.metrics_listen` when set,
/// and a daily round (run once at start): the sweep revoking inactive
/// devices, and forgetting stale rate limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let state = tokio::task::spawn_blocking(move || AppState::open(config))
        .await
        .map_err(|e| ServerError::Internal(e.to_string()))??;
    serve_state(listener, state, shutdown).await
}

/// Logs the teams whose supervisors used to sign in to the dashboard with
/// their device and have no account yet (ids only: no person's data), so
/// that the operator runs `carnet-server user add` for each of them.
fn warn_teams_without_accounts(storage: &dyn Storage) -> Result<()> {
    for team in storage.teams_without_accounts()? {
        tracing::warn!(
            %team,
            "this team has supervisor devices but no dashboard account: device tokens no longer open the dashboard; run `carnet-server user add --team {team} --name … --email …` for each supervisor"
        );
    }
    Ok(())
}

/// Like [`serve`], over a state the caller opened (a storage of its own).
pub async fn serve_state(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let tls = tls::load(&state.config)?;
    serve_loaded(listener, state, tls, shutdown).await
}

/// [`serve_state`] once the TLS files, if any, are read and checked.
pub(crate) async fn serve_loaded(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, data = %state.config.data_dir.display(), "carnet-server listening");
    // Invitation links name the port actually bound (the settings may say 0).
    let public_url = state
        .config
        .public_url_base
        .clone()
        .unwrap_or_else(|| format!("{scheme}://127.0.0.1:{}", addr.port()));
    // Building the dashboard opens (and may migrate) `dashboard.db`.
    let st = state.clone();
    let pages: Router = state
        .blocking(move || {
            warn_teams_without_accounts(&*st.storage)?;
            dashboard::router(&st, public_url)
        })
        .await?;
    let router: Router = app(state.clone()).merge(pages);

    // One shutdown signal for every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let metrics_server = match state.config.metrics_listen {
        Some(metrics_addr) => {
            let metrics_listener = tokio::net::TcpListener::bind(metrics_addr).await?;
            tracing::info!(addr = %metrics_listener.local_addr()?, "plain /metrics listening");
            let metrics = metrics_app(state.clone());
            let stop = stopped(stop_rx.clone());
            Some(tokio::spawn(async move {
                axum::serve(metrics_listener, metrics)
                    .with_graceful_shutdown(stop)
                    .await
            }))
        }
        None => None,
    };
    let daily = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut daily = tokio::time::interval(Duration::from_secs(24 * 3600));
            daily.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // The first tick is immediate: a round at start.
                daily.tick().await;
                daily_round(&state).await;
            }
        })
    };

    let router = router.into_make_service_with_connect_info::<SocketAddr>();
    let served = match tls {
        Some(tls) => tls::serve(listener, router, tls, stopped(stop_rx)).await,
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(stopped(stop_rx))
                .await
        }
    };
    daily.abort();
    // Its handle on the state goes first (a cancelled task's `Err` says
    // only that).
    let _ = daily.await;
    let metrics_served = match metrics_server {
        Some(metrics_server) => metrics_server
            .await
            .map_err(|e| ServerError::Internal(e.to_string())),
        None => Ok(Ok(())),
    };
    // The last handle on a PostgreSQL pool closes its connections, which
    // blocks: never on an async thread (it panics).
    let _ = tokio::task::spawn_blocking(move || drop(state)).await;
    metrics_served??;
    served?;
    tracing::info!("carnet-server stopped");
    Ok(())
}

/// The server's daily work: the sweep of inactive devices (when
/// configured), the collection of erased and unreferenced photos, the
/// erasure of contacts past their retention ([`retention`]), and
/// forgetting rate limits that carry no information. The
/// dashboard purges its sessions and access log on its own daily round.
async fn daily_round(state: &AppState) {
    if let Some(unseen_for) = state.config.device_inactivity()
        && let Err(e) = sweep_inactive_devices(state, unseen_for).await
    {
        tracing::error!(error = %e, "sweep of inactive devices failed");
    }
    if let Err(e) = collect_photos(state, carnet_core::now_ms()).await {
        tracing::error!(error = %e, "collection of photos failed");
    }
    if let Err(e) = sweep_retention(state, carnet_core::now_ms()).await {
        tracing::error!(error = %e, "retention sweep failed");
    }
    let (limiter, throttle) = (state.limiter.clone(), state.code_throttle.clone());
    let forgotten = state
        .blocking(move || {
            limiter.forget_stale()?;
            throttle.forget_stale()
        })
        .await;
    if let Err(e) = forgotten {
        tracing::error!(error = %e, "forgetting stale rate limits failed");
    }
}

/// Revokes (reason `inactive`) every device unseen for `unseen_for`, and
/// logs each one (ids only). `serve` runs it daily; tests call it directly.
/// With instances sharing a database, one of them sweeps at a time: the
/// others find nothing to do (an empty list).
pub async fn sweep_inactive_devices(
    state: &AppState,
    unseen_for: Duration,
) -> Result<Vec<storage::Device>> {
    let storage = state.storage.clone();
    let ms = i64::try_from(unseen_for.as_millis()).unwrap_or(i64::MAX);
    let Some(revoked) = state
        .blocking(move || Ok(storage.sweep_inactive(ms)?))
        .await?
    else {
        tracing::info!("sweep of inactive devices left to another instance");
        return Ok(Vec::new());
    };
    for d in &revoked {
        tracing::info!(device = %d.id, team = %d.team_id, "device revoked: inactive");
    }
    Ok(revoked)
}

/// Deletes the blobs of erased photos, and those no live record references
/// that were last written more than [`Config::photo_grace`] before `now`
/// (ms since the Unix epoch; `serve` runs it daily with the clock, tests
/// with a time of their choosing). Logs what it deleted (counts only).
/// With instances sharing a database, one of them collects at a time: the
/// others answer `None`.
pub async fn collect_photos(state: &AppState, now: i64) -> Result<Option<storage::Collected>> {
    let storage = state.storage.clone();
    let grace = i64::try_from(state.config.photo_grace.as_millis()).unwrap_or(i64::MAX);
    let collected = state
        .blocking(move || Ok(storage.collect_photos(grace, now)?))
        .await?;
    match &collected {
        Some(c) => {
            Metrics::add(
                &state.metrics.photos_deleted,
                (c.erased + c.unreferenced) as u64,
            );
            tracing::info!(
                erased = c.erased,
                unreferenced = c.unreferenced,
                "photos collected"
            );
        }
        None => tracing::info!("collection of photos left to another instance"),
    }
    Ok(collected)
}

/// Creates a team in `data_dir` (SQLite) with the default (Carcassonne)
/// configuration under its own name, and issues its first supervisor
/// enrollment code. Returns `(team_id, code)`.
pub fn init_team(data_dir: &Path, name: &str) -> Result<(String, String), ServerError> {
    init_team_in(&SqliteStorage::open(data_dir)?, name)
}

/// [`init_team`] in any storage (`carnet-server init --database`).
pub fn init_team_in(storage: &dyn Storage, name: &str) -> Result<(String, String), ServerError> {
    let mut config = carnet_core::TeamConfig::carcassonne();
    config.name = name.trim().to_string();
    let team_id = storage.create_team(name, &config)?;
    let code = storage.issue_code(&team_id, Role::Supervisor, None, default_ttl_ms())?;
    Ok((team_id, code.code))
}

/// Issues an enrollment code for a device of `role` in a team in
/// `data_dir` (SQLite); `name` is the device name proposed at enrollment.
pub fn issue_code(
    data_dir: &Path,
    team_id: &str,
    role: Role,
    name: Option<&str>,
) -> Result<String, ServerError> {
    issue_code_in(&SqliteStorage::open(data_dir)?, team_id, role, name)
}

/// [`issue_code`] in any storage (`carnet-server enroll --database`).
pub fn issue_code_in(
    storage: &dyn Storage,
    team_id: &str,
    role: Role,
    name: Option<&str>,
) -> Result<String, ServerError> {
    Ok(storage
        .issue_code(team_id.trim(), role, name, default_ttl_ms())?
        .code)
}

fn default_ttl_ms() -> i64 {
    Config::default().code_ttl.as_millis() as i64
}
