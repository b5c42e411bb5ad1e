//! `carnet-dashboard`: the supervisors' web pages, mounted in `carnet-server`.
//!
//! Supervisors follow open dégradations and write the activity reports the
//! State's adultes-relais convention and the contrat de ville require; they
//! would rather look than read JSON. Every page is server-rendered French HTML
//! with inline CSS and inline SVG charts, so it works on an office network cut
//! from the internet.
//!
//! The server it is mounted in is reached only through [`Backend`]
//! (supervisors' accounts, the device registry, and each team's records as
//! [`TeamReads`]), so this crate never sees where accounts, device tokens
//! or teams are stored, nor the sync protocol. Every call that waits on
//! storage (the backend's, the sessions', the access log's) runs on tokio's
//! blocking pool behind a semaphore the server shares with its API
//! ([`DashboardConfig::storage_permits`]), never on the async threads.
//!
//! - [`router`]: the pages, under [`MOUNT`]; merge it into the server's router;
//! - [`reads`]: [`TeamReads`], the core queries the pages read a team through;
//! - [`session`]: sign-in sessions and their CSRF tokens, behind
//!   [`SessionStore`] (in `dashboard.db`, or the server's shared database);
//! - [`accounts`]: the password and TOTP rules of supervisors' accounts;
//! - [`access_log`]: who read or exported which records, when and from where
//!   (never their content), behind [`AccessLogStore`]; shared with the
//!   server's API;
//! - [`names`]: who wrote a record or a change, by the server's device
//!   registry rather than by what the document says;
//! - `pages`: one module per page; `html`, `svg`: the markup and charts;
//! - `stats`: the aggregates behind the pages and the funders' report (from the
//!   core's read model),
//!   and `cache`: kept until the team's log moves;
//! - `sheets`: XLSX / CSV / JSON downloads;
//! - `dossier`: a resident's file (right of access) as JSON and as a
//!   printable French page;
//! - `fiche`: the one-page PDF a supervisor sends the body responsible for
//!   a dégradation, with its photos;
//! - [`testing`]: an in-memory [`Backend`] for tests, benches and demos.

#![forbid(unsafe_code)]

pub mod access_log;
pub mod accounts;
mod cache;
mod dossier;
mod error;
mod fiche;
mod html;
mod labels;
pub mod names;
mod pages;
mod period;
pub mod reads;
pub mod session;
mod sheets;
mod stats;
mod svg;
pub mod testing;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use carnet_core::RecordId;
use carnet_core::edit::Action;
use carnet_core::photo::PhotoHash;

pub use access_log::{Access, AccessEntry, AccessLog, AccessLogStore};
pub use error::DashboardError;
pub use names::Names;
pub use reads::TeamReads;
pub use session::{SessionStore, Sessions};

/// Where the pages live in the server's URL space. [`router`] returns routes
/// already under this prefix: the server `merge`s it (not `nest`).
pub const MOUNT: &str = "/dashboard";

/// What the dashboard needs from the server it is mounted in. Every method
/// but [`Backend::client_address`] may block on storage: the dashboard calls
/// them on the blocking pool, behind [`DashboardConfig::storage_permits`].
pub trait Backend: Send + Sync + 'static {
    /// Checks a supervisor's e-mail and password. `client` is the address
    /// the attempt comes from: the backend throttles failures per address
    /// and per account, and answers [`DashboardError::TooManyAttempts`]
    /// past its limit, so that passwords cannot be guessed through the
    /// form. A disabled account, an unknown e-mail, an account without a
    /// password yet and a wrong password are all [`SignIn::Refused`].
    fn sign_in(&self, email: &str, password: &str, client: &str) -> Result<SignIn, DashboardError>;
    /// The second step of a sign-in that answered [`SignIn::NeedsTotp`]:
    /// whether `code` is the account's current TOTP code, not used before
    /// (throttled like [`Backend::sign_in`]).
    fn verify_totp(
        &self,
        who: &Supervisor,
        code: &str,
        client: &str,
    ) -> Result<bool, DashboardError>;
    /// Who an invitation link is for, if it still works (unused, not
    /// expired, its account not disabled).
    fn invitation(&self, token: &str) -> Result<Option<InvitationInfo>, DashboardError>;
    /// Spends an invitation: sets the password (refused with the rule it
    /// breaks, in French: [`DashboardError::Refused`]) and, when `totp` is
    /// given as (secret, code), enrols that second factor once the code
    /// checks; a team that requires one refuses an acceptance without it.
    /// Any TOTP enrolled before is removed otherwise (a reset).
    fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        totp: Option<(&str, &str)>,
        client: &str,
    ) -> Result<Supervisor, DashboardError>;
    /// The signed-in account's second factor, and whether its team
    /// requires one.
    fn account_state(&self, who: &Supervisor) -> Result<AccountState, DashboardError>;
    /// Replaces the password after checking the current one (throttled
    /// like a sign-in); [`DashboardError::Refused`] says why not.
    fn change_password(
        &self,
        who: &Supervisor,
        current: &str,
        new: &str,
        client: &str,
    ) -> Result<(), DashboardError>;
    /// Enrols a second factor once `code` checks against `secret`.
    fn enrol_totp(&self, who: &Supervisor, secret: &str, code: &str) -> Result<(), DashboardError>;
    /// Removes the second factor, unless the team requires one.
    fn remove_totp(&self, who: &Supervisor) -> Result<(), DashboardError>;
    /// The team's accounts, oldest first.
    fn accounts(&self, team_id: &str) -> Result<Vec<AccountSummary>, DashboardError>;
    /// Creates an account for a new person of the team; returns its
    /// one-time invitation link (shown once).
    fn invite(&self, team_id: &str, name: &str, email: &str) -> Result<String, DashboardError>;
    /// A new invitation link for an account of the team (a reset: a new
    /// password, the second factor enrolled again); older links stop working.
    fn reinvite(&self, team_id: &str, account_id: &str) -> Result<String, DashboardError>;
    /// Disables an account of the team: it opens nothing any more, and its
    /// sessions end at their next request. `false`: no such account.
    fn disable(&self, team_id: &str, account_id: &str) -> Result<bool, DashboardError>;
    /// Sets whether the team's accounts must have a second factor.
    fn set_require_totp(&self, team_id: &str, on: bool) -> Result<(), DashboardError>;
    /// The team's records, read-only, through the core's queries (the
    /// embedded server hands its team's [`carnet_core::Store`]).
    fn team(&self, team_id: &str) -> Result<Arc<dyn TeamReads>, DashboardError>;
    /// Whether a signed-in supervisor's account may still read: asked on
    /// every request, so that disabling the account ends its dashboard
    /// sessions at once.
    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError>;
    /// The team's device registry and accounts as automerge actor (hex) →
    /// device's or person's name: the names pages and exports show, since a document's own `author`
    /// is whatever the writing device chose to put there (see [`names`]).
    fn actor_names(&self, team_id: &str) -> Result<HashMap<String, String>, DashboardError>;
    /// Makes a supervisor's change to one of their team's records (a
    /// status move, a comment, a settled conflict, a rectification, a
    /// consent, a retention extension, a redaction, an erasure): the core
    /// builds it with the account's actor and name and the server applies
    /// it as it applies a phone's push — the same rules, the next position
    /// of the team's log — so every phone receives it at its next sync,
    /// named by the account. A refusal is the core's typed error
    /// ([`DashboardError::Core`]), which the pages put in French; nothing
    /// is changed then.
    fn act(&self, who: &Supervisor, id: RecordId, action: &Action) -> Result<(), DashboardError>;
    /// The team's devices revoked because they went unseen too long, so
    /// that supervisors learn a phone lapsed before a mediator finds it
    /// cannot sync.
    fn lapsed_devices(&self, team_id: &str) -> Result<Vec<LapsedDevice>, DashboardError>;
    /// The bytes of one of the team's photo blobs (a full photo or a
    /// thumbnail, named by its SHA-256) once the server holds all of it;
    /// `None` while it is not uploaded yet, or after it was erased. The
    /// dashboard asks only for blobs that a record of `team_id` names, and
    /// checks that first; the backend answers from that team's blobs only,
    /// so that a hash learnt elsewhere never reads another team's photo.
    fn photo(&self, team_id: &str, blob: &PhotoHash) -> Result<Option<Vec<u8>>, DashboardError>;
    /// The client's address as the access log and the sign-in throttle
    /// name it. The default is the connection's peer (`unknown` without
    /// one); a server behind a proxy it trusts answers from its headers.
    fn client_address(&self, parts: &Parts) -> String {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// A device the server revoked for inactivity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LapsedDevice {
    /// Its id.
    pub device_id: String,
    /// Its name in the registry.
    pub name: String,
    /// Its last authenticated request, ms since the epoch (`None`: never
    /// seen after enrollment).
    pub last_seen: Option<i64>,
    /// When it was revoked, ms since the epoch.
    pub revoked_at: i64,
}

/// A signed-in supervisor: their own account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supervisor {
    /// Their team: every page shows this team's records only.
    pub team_id: String,
    /// Their account, as the server knows it: what the access log names.
    pub account_id: String,
    /// Their name, shown in the header and the access log.
    pub name: String,
    /// What they sign in with.
    pub email: String,
    /// The automerge actor their changes to records are signed with.
    pub actor: String,
}

impl Supervisor {
    /// Where the team's log says the account's changes came from: never a
    /// device id, so that every device (none is this origin) pulls them.
    pub fn origin(&self) -> String {
        format!("account:{}", self.account_id)
    }

    /// How the access log names them: name and account, never a secret.
    pub fn who(&self) -> String {
        format!("{} [{}]", self.name, self.account_id)
    }
}

/// What an e-mail and password opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Nothing (the form does not say which part was wrong). Names the
    /// account the e-mail belongs to, if any, for the access log only.
    Refused(Option<Supervisor>),
    /// The password is right and the account has a second factor: the
    /// session starts once [`Backend::verify_totp`] accepts a code.
    NeedsTotp(Supervisor),
    /// Signed in.
    Signed(Supervisor),
}

/// Who an invitation is for, as its page shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationInfo {
    /// The person's name.
    pub name: String,
    /// Their e-mail (what they will sign in with).
    pub email: String,
    /// Their team requires a second factor: it is enrolled here.
    pub totp_required: bool,
}

/// The signed-in account's second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountState {
    /// A TOTP secret is enrolled.
    pub totp_enrolled: bool,
    /// The team requires one (it cannot be removed).
    pub totp_required: bool,
}

/// An account as the team page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// Its id.
    pub account_id: String,
    /// The person's name.
    pub name: String,
    /// Their e-mail.
    pub email: String,
    /// A password is set (the invitation was accepted).
    pub active: bool,
    /// A second factor is enrolled.
    pub totp: bool,
    /// Disabled: it opens nothing.
    pub disabled: bool,
}

/// How the dashboard runs.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// Where `dashboard.db` (sessions and the access log) is kept when the
    /// dashboard opens them itself ([`router`]).
    pub data_dir: PathBuf,
    /// How long a session lasts after sign-in (it does not slide).
    pub session_ttl: Duration,
    /// Days the access log is kept when the dashboard opens it itself
    /// ([`router`]); older entries are purged at start and daily. A log
    /// handed to [`router_with_stores`] keeps its own retention.
    pub access_log_retention_days: u32,
    /// Sets `Secure` on cookies: true whenever the server is behind HTTPS.
    pub secure_cookies: bool,
    /// Permits for storage work: each page, sign-in and session check holds
    /// one while it waits on SQLite. The server hands the semaphore its API
    /// uses, so that supervisors' pages and devices' syncs share one budget
    /// of blocking threads instead of each assuming it has the machine.
    pub storage_permits: Arc<tokio::sync::Semaphore>,
    /// How the body receiving a fiche de signalement reaches each team
    /// back, by team id: postal address, phone, e-mail, as lines to print
    /// under the team's name. The team's configuration has no such field,
    /// and the fiche goes to people outside the team (a landlord, a city
    /// service), so the operator sets it here; a team without one gets a
    /// fiche with its name only.
    pub team_contacts: HashMap<String, String>,
}

impl DashboardConfig {
    /// Eight-hour sessions (a working day), a year of access log, secure
    /// cookies, permits of its own (two per core, as the server's), and no
    /// team contact.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DashboardConfig {
            data_dir: data_dir.into(),
            session_ttl: Duration::from_secs(8 * 3600),
            access_log_retention_days: access_log::DEFAULT_RETENTION_DAYS,
            secure_cookies: true,
            storage_permits: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            team_contacts: HashMap::new(),
        }
    }
}

/// The dashboard's routes, all under [`MOUNT`]. Opens (or creates)
/// `dashboard.db` in `config.data_dir` for the sessions and the access log,
/// and purges the log past its retention period.
pub fn router(
    backend: Arc<dyn Backend>,
    config: DashboardConfig,
) -> Result<axum::Router, DashboardError> {
    let log = AccessLog::open(&config.data_dir, config.access_log_retention_days)?;
    let sessions = Sessions::open(&config.data_dir)?;
    pages::router(backend, config, Arc::new(sessions), Arc::new(log))
}

/// Like [`router`], over sessions and an access log the caller holds: the
/// server's API and the pages then share one log, and a server sharing a
/// database with others keeps both there. Expired sessions and entries
/// past the log's retention are purged at start and daily.
pub fn router_with_stores(
    backend: Arc<dyn Backend>,
    config: DashboardConfig,
    sessions: Arc<dyn SessionStore>,
    log: Arc<dyn AccessLogStore>,
) -> Result<axum::Router, DashboardError> {
    pages::router(backend, config, sessions, log)
}
