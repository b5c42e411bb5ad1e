//! Mounts the supervisors' dashboard (`carnet-dashboard`) under `/dashboard`:
//! sign-in goes through the server's own devices and codes, pages read the
//! teams through the server's own storage ([`Storage::team_reads`], the same
//! handle the API uses, never a second one on the data directory), names
//! come from its device registry, and reads are written to the access log
//! the API shares. The dashboard runs every call below on the blocking pool
//! behind the permits the API's heavy work takes (`AppState::heavy`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use carnet_core::photo::PhotoHash;
use carnet_dashboard::{
    Backend, DashboardConfig, DashboardError, LapsedDevice, Supervisor, TeamReads,
};

use crate::AppState;
use crate::auth::{FailureCounts, client_addr};
use crate::error::{Result, ServerError};
use crate::storage::{REVOKED_INACTIVE, Role, Storage, StorageError};

struct ServerBackend {
    storage: Arc<dyn Storage>,
    /// The server's throttle on failed codes: a sign-in is one more way to
    /// try a code, so it counts against the same budget as enrollment.
    throttle: Arc<dyn FailureCounts>,
    trusted_proxy: bool,
}

/// A storage failure as the dashboard reports it (cause only: storage
/// errors carry ids, never residents' data).
fn internal(e: impl Into<ServerError>) -> DashboardError {
    let e: ServerError = e.into();
    DashboardError::Internal(e.to_string())
}

impl ServerBackend {
    /// Who `credential` signs in, without the throttle.
    fn identify(&self, credential: &str) -> Result<Option<Supervisor>, DashboardError> {
        match self.storage.authenticate(credential).map_err(internal)? {
            // A device token: only a supervisor's device in good standing.
            Some(d)
                if d.role == Role::Supervisor
                    && d.revoked_at.is_none()
                    && d.wipe_ordered_at.is_none() =>
            {
                Ok(Some(Supervisor {
                    team_id: d.team_id,
                    device_id: d.id,
                    name: d.name,
                }))
            }
            Some(_) => Ok(None),
            // Not a token: perhaps an unused supervisor code. A mediator's
            // code is refused without being spent, and a code a phone
            // already redeemed opens nothing.
            None => match self.storage.redeem_dashboard_code(credential) {
                Ok(e) if e.role == Role::Supervisor => {
                    let name = self
                        .storage
                        .devices(&e.team_id)
                        .map_err(internal)?
                        .into_iter()
                        .find(|d| d.id == e.device_id)
                        .map(|d| d.name)
                        .unwrap_or_else(|| "tableau de bord".into());
                    Ok(Some(Supervisor {
                        team_id: e.team_id,
                        device_id: e.device_id,
                        name,
                    }))
                }
                Ok(_) => Ok(None),
                // Unknown, used or expired; a mediator's (left unspent).
                Err(
                    StorageError::InvalidCode
                    | StorageError::Forbidden(_)
                    | StorageError::NotFound(_)
                    | StorageError::BadRequest(_),
                ) => Ok(None),
                Err(e) => Err(internal(e)),
            },
        }
    }
}

impl Backend for ServerBackend {
    fn photo(&self, team_id: &str, blob: &PhotoHash) -> Result<Option<Vec<u8>>, DashboardError> {
        let blobs = self.storage.blobs();
        let Some(size) = blobs.size(team_id, blob).map_err(internal)? else {
            return Ok(None);
        };
        let size = usize::try_from(size)
            .map_err(|_| DashboardError::Internal("a photo larger than memory".into()))?;
        blobs.read(team_id, blob, 0, size).map_err(internal)
    }

    fn sign_in(
        &self,
        credential: &str,
        client: &str,
    ) -> Result<Option<Supervisor>, DashboardError> {
        self.throttle.check(client, None).map_err(|e| match e {
            ServerError::RateLimited(secs) => DashboardError::TooManyAttempts(secs),
            other => internal(other),
        })?;
        let who = self.identify(credential.trim())?;
        if who.is_none()
            && let Err(e) = self.throttle.fail(client, None)
        {
            // As for enrollment: the sign-in is refused either way, and the
            // next check fails closed.
            tracing::error!(error = %e, "a failed dashboard sign-in could not be counted");
        }
        Ok(who)
    }

    fn team(&self, team_id: &str) -> Result<Arc<dyn TeamReads>, DashboardError> {
        self.storage.team_reads(team_id).map_err(internal)
    }

    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError> {
        let devices = self.storage.devices(&who.team_id).map_err(internal)?;
        Ok(devices.iter().any(|d| {
            d.id == who.device_id
                && d.role == Role::Supervisor
                && d.revoked_at.is_none()
                && d.wipe_ordered_at.is_none()
        }))
    }

    fn actor_names(&self, team_id: &str) -> Result<HashMap<String, String>, DashboardError> {
        self.storage.actor_names(team_id).map_err(internal)
    }

    fn lapsed_devices(&self, team_id: &str) -> Result<Vec<LapsedDevice>, DashboardError> {
        Ok(self
            .storage
            .devices(team_id)
            .map_err(internal)?
            .into_iter()
            .filter(|d| d.revoked_reason.as_deref() == Some(REVOKED_INACTIVE))
            .map(|d| LapsedDevice {
                device_id: d.id,
                name: d.name,
                last_seen: d.last_seen,
                revoked_at: d.revoked_at.unwrap_or_default(),
            })
            .collect())
    }

    fn client_address(&self, parts: &Parts) -> String {
        client_addr(parts, self.trusted_proxy)
    }
}

/// The dashboard's routes, already under `/dashboard`, to merge into the
/// API: the state's storage and throttle behind them, its sessions, access
/// log and permits shared, cookies `Secure` unless `config.insecure_cookies`.
/// Purges the sessions and the log (opening `dashboard.db` on SQLite): call
/// it on the blocking pool.
pub fn router<S>(state: &AppState) -> Result<Router<S>>
where
    S: Clone + Send + Sync + 'static,
{
    let backend = ServerBackend {
        storage: state.storage.clone(),
        throttle: state.code_throttle.clone(),
        trusted_proxy: state.config.trusted_proxy,
    };
    let mut dash = DashboardConfig::new(state.config.data_dir.clone());
    dash.secure_cookies = !state.config.insecure_cookies;
    dash.storage_permits = state.heavy.clone();
    dash.team_contacts = state.config.team_contacts.clone();
    let r = carnet_dashboard::router_with_stores(
        Arc::new(backend),
        dash,
        state.sessions.clone(),
        state.access_log.clone(),
    )
    .map_err(|e| ServerError::Internal(e.to_string()))?;
    Ok(r.with_state(()))
}
