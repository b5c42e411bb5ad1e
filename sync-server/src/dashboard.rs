//! Mounts the supervisors' dashboard (`carnet-dashboard`) under `/dashboard`:
//! sign-in goes through the server's own devices and codes, and pages read
//! the team's store the server already keeps.

use std::sync::Arc;

use axum::Router;
use carnet_dashboard::{Backend, DashboardConfig, DashboardError, Supervisor};

use crate::config::Config;
use crate::error::{Result, ServerError};
use crate::storage::{Role, SqliteStorage, Storage};

struct ServerBackend {
    storage: SqliteStorage,
}

impl Backend for ServerBackend {
    fn sign_in(&self, credential: &str) -> Result<Option<Supervisor>, DashboardError> {
        let credential = credential.trim();
        let device = match self.storage.authenticate(credential) {
            Ok(Some(d)) => Some((
                d.id,
                d.team_id,
                d.role,
                d.name,
                d.revoked_at.is_some() || d.wipe_ordered_at.is_some(),
            )),
            // Not a token: perhaps a one-time supervisor code.
            _ => match self.storage.redeem_code(credential, "tableau de bord") {
                Ok(e) => Some((
                    e.device_id,
                    e.team_id,
                    e.role,
                    "tableau de bord".to_string(),
                    false,
                )),
                Err(_) => None,
            },
        };
        Ok(match device {
            Some((device_id, team_id, Role::Supervisor, name, false)) => Some(Supervisor {
                team_id,
                device_id,
                name,
            }),
            _ => None,
        })
    }

    fn team_store(&self, team_id: &str) -> Result<Arc<carnet_core::Store>, DashboardError> {
        self.storage
            .team_store(team_id)
            .map_err(|e| DashboardError::Internal(e.to_string()))
    }

    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError> {
        let devices = self
            .storage
            .devices(&who.team_id)
            .map_err(|e| DashboardError::Internal(e.to_string()))?;
        Ok(devices.iter().any(|d| {
            d.id == who.device_id
                && d.role == Role::Supervisor
                && d.revoked_at.is_none()
                && d.wipe_ordered_at.is_none()
        }))
    }
}

/// The dashboard's routes, already under `/dashboard`, to merge into the API.
pub fn router<S>(config: &Config) -> Result<Router<S>>
where
    S: Clone + Send + Sync + 'static,
{
    let backend = ServerBackend {
        storage: SqliteStorage::open(&config.data_dir)?,
    };
    let mut dash = DashboardConfig::new(config.data_dir.clone());
    // Plain HTTP on loopback in development; behind TLS set CARNET_SECURE_COOKIES=1.
    dash.secure_cookies = std::env::var("CARNET_SECURE_COOKIES").is_ok_and(|v| v == "1");
    let r = carnet_dashboard::router(Arc::new(backend), dash)
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    Ok(r.with_state(()))
}
