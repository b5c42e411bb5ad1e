//! `carnet-dashboard`: the supervisors' web pages, mounted in `carnet-server`.
//!
//! Supervisors follow open dégradations and write the activity reports the
//! State's adultes-relais convention and the contrat de ville require; they
//! would rather look than read JSON. Every page is server-rendered French HTML
//! with inline CSS and inline SVG charts, so it works on an office network cut
//! from the internet.
//!
//! The server it is mounted in is reached only through [`Backend`] (who is
//! signing in, and the team's merged [`carnet_core::Store`]), so this crate
//! never sees device tokens' storage or the sync protocol.
//!
//! - [`router`]: the pages, under [`MOUNT`]; merge it into the server's router;
//! - [`session`]: sign-in sessions and their CSRF tokens (in `dashboard.db`);
//! - [`access_log`]: who read or exported which records (never their content);
//! - `pages`: one module per page; `html`, `svg`: the markup and charts;
//! - `stats`: the aggregates behind the pages and the funders' report (from the
//!   core's read model),
//!   and `cache`: kept until the team's log moves;
//! - `sheets`: XLSX / CSV / JSON downloads;
//! - [`testing`]: an in-memory [`Backend`] for tests, benches and demos.

pub mod access_log;
mod cache;
mod error;
mod html;
mod labels;
mod pages;
mod period;
pub mod session;
mod sheets;
mod stats;
mod svg;
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use access_log::{AccessEntry, AccessLog};
pub use error::DashboardError;

/// Where the pages live in the server's URL space. [`router`] returns routes
/// already under this prefix: the server `merge`s it (not `nest`).
pub const MOUNT: &str = "/dashboard";

/// What the dashboard needs from the server it is mounted in.
pub trait Backend: Send + Sync + 'static {
    /// Exchanges a supervisor's credential (a device token, or a one-time
    /// enrollment code) for who they are; `None` if invalid, revoked, or not a
    /// supervisor (a mediator's token never opens the dashboard).
    fn sign_in(&self, credential: &str) -> Result<Option<Supervisor>, DashboardError>;
    /// The team's merged store (the server holds one per team).
    fn team_store(&self, team_id: &str) -> Result<Arc<carnet_core::Store>, DashboardError>;
    /// Whether a signed-in supervisor's device may still read: asked on
    /// every request, so that revoking the device (or ordering it wiped)
    /// ends its dashboard sessions at once.
    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError>;
}

/// A signed-in supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisor {
    /// Their team: every page shows this team's records only.
    pub team_id: String,
    /// Their device, as the server knows it: what the access log names.
    pub device_id: String,
    /// Their name, shown in the header and the access log.
    pub name: String,
}

impl Supervisor {
    /// How the access log names them: name and device, never a token.
    pub fn who(&self) -> String {
        format!("{} [{}]", self.name, self.device_id)
    }
}

/// How the dashboard runs.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// Where `dashboard.db` (sessions and the access log) is kept.
    pub data_dir: PathBuf,
    /// How long a session lasts after sign-in (it does not slide).
    pub session_ttl: Duration,
    /// Days the access log is kept; older entries are purged at start and daily.
    pub access_log_retention_days: u32,
    /// Sets `Secure` on cookies: true whenever the server is behind HTTPS.
    pub secure_cookies: bool,
}

impl DashboardConfig {
    /// Eight-hour sessions (a working day), a year of access log, secure cookies.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DashboardConfig {
            data_dir: data_dir.into(),
            session_ttl: Duration::from_secs(8 * 3600),
            access_log_retention_days: 365,
            secure_cookies: true,
        }
    }
}

/// The dashboard's routes, all under [`MOUNT`]. Opens (or creates)
/// `dashboard.db` in `config.data_dir` and purges the access log past its
/// retention period.
pub fn router(
    backend: Arc<dyn Backend>,
    config: DashboardConfig,
) -> Result<axum::Router, DashboardError> {
    pages::router(backend, config)
}
