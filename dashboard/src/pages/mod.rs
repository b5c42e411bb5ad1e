//! The router, the state every page shares, and what every page does the
//! same way: find the session, run storage work off the async threads
//! behind the shared permits, answer
//! HTML or a download with the security headers.

mod account;
mod acting;
mod activity;
mod exports;
mod fiche;
mod invitation;
mod journal;
mod overdue;
mod photos;
mod record;
mod report;
mod reports;
mod residents;
mod signin;
mod team;
mod time_to_fix;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use carnet_core::RecordId;

use crate::access_log::{Access, AccessLogStore};
use crate::html::{self, Markup, Viewer};
use crate::session::{COOKIE, Session, SessionStore};
use crate::{Backend, DashboardConfig, DashboardError, MOUNT, Names, TeamReads};

/// What every handler shares.
pub(crate) struct AppState {
    pub backend: Arc<dyn Backend>,
    pub sessions: Arc<dyn SessionStore>,
    pub log: Arc<dyn AccessLogStore>,
    pub config: DashboardConfig,
    pub cache: crate::cache::Cache,
}

pub(crate) type State = axum::extract::State<Arc<AppState>>;

pub(crate) fn router(
    backend: Arc<dyn Backend>,
    config: DashboardConfig,
    sessions: Arc<dyn SessionStore>,
    log: Arc<dyn AccessLogStore>,
) -> Result<Router, DashboardError> {
    purge(&*log, &*sessions)?;
    let state = Arc::new(AppState {
        backend,
        sessions,
        log,
        config,
        cache: Default::default(),
    });
    spawn_daily_purge(&state);
    let r = |p: &str| format!("{MOUNT}{p}");
    Ok(Router::new()
        .route(MOUNT, get(signin::home))
        .route(&r("/"), get(signin::home))
        .route(&r("/connexion"), get(signin::form).post(signin::submit))
        .route(
            &r("/connexion/code"),
            get(signin::totp_form).post(signin::totp_submit),
        )
        .route(&r("/deconnexion"), post(signin::sign_out))
        .route(
            &r("/invitation/{token}"),
            get(invitation::form).post(invitation::submit),
        )
        .route(&r("/compte"), get(account::page))
        .route(&r("/compte/mot-de-passe"), post(account::change_password))
        .route(
            &r("/compte/double-authentification"),
            post(account::enrol_totp),
        )
        .route(
            &r("/compte/double-authentification/retirer"),
            post(account::remove_totp),
        )
        .route(&r("/equipe"), get(team::page))
        .route(&r("/equipe/inviter"), post(team::invite))
        .route(
            &r("/equipe/double-authentification"),
            post(team::require_totp),
        )
        .route(&r("/equipe/comptes/{id}/reinviter"), post(team::reinvite))
        .route(&r("/equipe/comptes/{id}/desactiver"), post(team::disable))
        .route(&r("/degradations"), get(reports::open))
        .route(&r("/signalements/{id}"), get(reports::history))
        .route(&r("/signalements/{id}/statut"), post(acting::status))
        .route(&r("/signalements/{id}/commentaire"), post(acting::comment))
        .route(&r("/fiches/{id}"), get(record::page))
        .route(&r("/fiches/{id}/conflit"), post(acting::settle))
        .route(&r("/signalements/{id}/fiche.pdf"), get(fiche::pdf))
        .route(&r("/signalements/{id}/photos/{blob}"), get(photos::photo))
        .route(&r("/retards"), get(overdue::page))
        .route(&r("/delais"), get(time_to_fix::page))
        .route(&r("/activite"), get(activity::page))
        .route(&r("/rapport"), get(report::page))
        .route(&r("/rapport.xlsx"), get(report::xlsx))
        .route(&r("/rapport.csv"), get(report::csv))
        .route(&r("/exports"), get(exports::form))
        .route(&r("/exports/journal.{format}"), get(exports::log_export))
        .route(
            &r("/exports/contacts"),
            get(exports::contacts_form).post(exports::contacts_export),
        )
        .route(&r("/habitants"), get(residents::list::page))
        .route(&r("/habitants/{id}"), get(residents::file::page))
        .route(
            &r("/habitants/{id}/rectifier"),
            post(residents::file::rectify),
        )
        .route(
            &r("/habitants/{id}/consentement"),
            post(residents::file::consent),
        )
        .route(
            &r("/habitants/{id}/conservation"),
            post(residents::file::keep),
        )
        .route(
            &r("/habitants/{id}/dossier.{format}"),
            get(residents::file::download_dossier),
        )
        .route(
            &r("/habitants/{id}/effacement"),
            get(residents::erase::confirm).post(residents::erase::erase),
        )
        .route(&r("/journal"), get(journal::page))
        .route(&r("/journal.{format}"), get(journal::export))
        .with_state(state))
}

/// Purges the access log past its retention and the expired sessions; a
/// store shared by several instances may leave the round to another.
fn purge(log: &dyn AccessLogStore, sessions: &dyn SessionStore) -> Result<(), DashboardError> {
    match log.purge_expired()? {
        Some(purged) => tracing::info!(purged, "dashboard access log purged past its retention"),
        None => tracing::info!("dashboard access log purge left to another instance"),
    }
    match sessions.purge_expired()? {
        Some(purged) => tracing::info!(purged, "expired dashboard sessions purged"),
        None => tracing::info!("expired dashboard sessions purge left to another instance"),
    }
    Ok(())
}

/// Purges the access log and the sessions once a day while the server
/// runs, when there is a runtime to do it on (the router may be built
/// outside one in tests).
fn spawn_daily_purge(state: &Arc<AppState>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(state);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(86_400));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(st) = weak.upgrade() else { return };
            let permits = st.config.storage_permits.clone();
            if let Err(e) = blocking(&permits, move || purge(&*st.log, &*st.sessions)).await {
                tracing::error!(error = %e, "daily purge of the access log and sessions failed");
            }
        }
    });
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A signed-in supervisor's request: the session, the cookie id and the
/// client's address (for the access log).
pub(crate) struct Auth {
    pub session: Session,
    pub cookie_id: String,
    pub client: String,
}

/// The client's address, as the backend reads it (the sign-in throttle and
/// the access log key on it).
pub(crate) struct Client(pub String);

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client(st.backend.client_address(parts)))
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &Arc<AppState>) -> Result<Self, Response> {
        let to_signin = || Redirect::to(&format!("{MOUNT}/connexion")).into_response();
        let Some(id) = cookie(&parts.headers, COOKIE).map(str::to_string) else {
            return Err(to_signin());
        };
        let client = st.backend.client_address(parts);
        let st2 = st.clone();
        let cookie_id = id.clone();
        // The session, then the account behind it: both wait on storage.
        let session = blocking(&st.config.storage_permits, move || {
            // A pending session (awaiting its TOTP code) opens no page.
            let Some(session) = st2.sessions.get(&cookie_id)?.filter(|s| !s.pending) else {
                return Ok(None);
            };
            if st2.backend.still_allowed(&session.supervisor)? {
                return Ok(Some(session));
            }
            // A disabled account's sessions end here, for good.
            st2.sessions
                .end_account(&session.supervisor.account_id, None)?;
            Ok(None)
        })
        .await
        .map_err(IntoResponse::into_response)?;
        match session {
            Some(session) => Ok(Auth {
                session,
                cookie_id: id,
                client,
            }),
            None => Err(to_signin()),
        }
    }
}

impl Auth {
    /// Checks a submitted CSRF token against the session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), DashboardError> {
        if crate::session::same_secret(submitted, &self.session.csrf) {
            Ok(())
        } else {
            Err(DashboardError::BadRequest(
                "jeton de formulaire invalide : rechargez la page et recommencez".into(),
            ))
        }
    }
}

/// What a page body needs: the team's records and who is looking.
pub(crate) struct Ctx {
    pub st: Arc<AppState>,
    pub store: Arc<dyn TeamReads>,
    pub session: Session,
    pub team_name: String,
    pub client: String,
}

impl Ctx {
    /// Wraps a page body in the frame.
    pub fn page(&self, title: &str, active: &str, body: Markup) -> Markup {
        let viewer = Viewer {
            name: &self.session.supervisor.name,
            team: &self.team_name,
            csrf: &self.session.csrf,
        };
        html::page(title, active, &viewer, body)
    }

    /// An aggregate of this team's records, recomputed only when the team's
    /// log has moved since (see `cache`).
    pub fn cached<T: Clone + Send + Sync + 'static>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, DashboardError>,
    ) -> Result<T, DashboardError> {
        let head = self.store.log_head()?;
        self.st.cache.get_or(
            format!("{}\u{1f}{what}", self.session.supervisor.team_id),
            head,
            f,
        )
    }

    /// Writes a read or an export to the access log: who (account and
    /// name), from where, what. A page fails rather than show records
    /// unlogged.
    pub fn log(&self, action: &str, ids: &[RecordId]) -> Result<(), DashboardError> {
        let who = &self.session.supervisor;
        self.st.log.record(&Access {
            team_id: &who.team_id,
            device_id: &who.account_id,
            person: &who.name,
            client: &self.client,
            action,
            record_ids: ids,
        })
    }

    /// The team's registry names (actor → device name), for authors and
    /// history entries.
    pub fn names(&self) -> Result<Names, DashboardError> {
        Ok(Names::from(
            self.st
                .backend
                .actor_names(&self.session.supervisor.team_id)?,
        ))
    }
}

/// Writes an account event (a sign-in, a failure, a password change…) to
/// the access log: who, from where, what; never a password or a code.
pub(crate) fn audit(
    log: &dyn AccessLogStore,
    who: &crate::Supervisor,
    client: &str,
    action: &str,
) -> Result<(), DashboardError> {
    log.record(&Access {
        team_id: &who.team_id,
        device_id: &who.account_id,
        person: &who.name,
        client,
        action,
        record_ids: &[],
    })
}

/// Runs `f` with the team's records on the blocking pool (see [`blocking`]).
pub(crate) async fn with_store<T: Send + 'static>(
    st: Arc<AppState>,
    auth: Auth,
    f: impl FnOnce(&Ctx) -> Result<T, DashboardError> + Send + 'static,
) -> Result<T, DashboardError> {
    let permits = st.config.storage_permits.clone();
    blocking(&permits, move || {
        let store = st.backend.team(&auth.session.supervisor.team_id)?;
        let team_name = store.config()?.name;
        let ctx = Ctx {
            st,
            store,
            session: auth.session,
            team_name,
            client: auth.client,
        };
        f(&ctx)
    })
    .await
}

/// Runs storage work on tokio's blocking pool once one of `permits` is free:
/// SQLite calls must not hold up the async threads, and the permits (the
/// server's, shared with its API) bound how many threads wait on storage at
/// once. A request whose client left while it waited for a permit costs
/// nothing; once started, the work runs to its end.
pub(crate) async fn blocking<T: Send + 'static>(
    permits: &tokio::sync::Semaphore,
    f: impl FnOnce() -> Result<T, DashboardError> + Send + 'static,
) -> Result<T, DashboardError> {
    let _permit = permits
        .acquire()
        .await
        .map_err(|_| DashboardError::Internal("server shutting down".into()))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        DashboardError::Internal(if e.is_panic() {
            "a page panicked".into()
        } else {
            "a page was cancelled".into()
        })
    })?
}

/// The report a page's path names, or the French 404 a bad id gets.
pub(crate) fn report_id(id: &str) -> Result<RecordId, DashboardError> {
    id.parse()
        .map_err(|_| DashboardError::NotFound("identifiant de signalement invalide".into()))
}

/// What a report page answers for a record that is not a report.
pub(crate) fn not_a_report() -> DashboardError {
    DashboardError::NotFound("cette fiche n'est pas un signalement de dégradation".into())
}

/// An HTML page with the security headers.
pub(crate) fn html_response(body: Markup) -> Response {
    (html::security_headers(), Html(body.into_string())).into_response()
}

/// A file download.
pub(crate) fn download(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let mut resp = (StatusCode::OK, html::security_headers(), bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

pub(crate) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub(crate) const CSV: &str = "text/csv; charset=utf-8";
pub(crate) const JSON: &str = "application/json";
pub(crate) const PDF: &str = "application/pdf";

/// Turns an empty query-string value into none.
pub(crate) fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
