//! Mounts the supervisors' dashboard (`carnet-dashboard`) under `/dashboard`:
//! sign-in goes through supervisors' own accounts in the server's storage
//! (passwords and TOTP checked by [`carnet_dashboard::accounts`], invitations
//! by [`crate::accounts`]; a device token or an enrollment code opens
//! nothing there), pages read the
//! teams through the server's own storage ([`Storage::team_reads`], the same
//! handle the API uses, never a second one on the data directory), names
//! come from its device registry, and reads are written to the access log
//! the API shares. The dashboard runs every call below on the blocking pool
//! behind the permits the API's heavy work takes (`AppState::heavy`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use carnet_core::RecordId;
use carnet_core::edit::Action;
use carnet_core::photo::PhotoHash;
use carnet_dashboard::accounts::{
    check_password, hash_password, now_secs, totp_step, verify_password,
};
use carnet_dashboard::{
    AccountState, AccountSummary, Backend, DashboardConfig, DashboardError, InvitationInfo,
    LapsedDevice, SessionStore, SignIn, Supervisor, TeamReads,
};

use crate::AppState;
use crate::accounts::{accept_totp, add_user, invite_again};
use crate::auth::{FailureCounts, client_addr};
use crate::error::{Result, ServerError};
use crate::storage::{Account, REVOKED_INACTIVE, Storage, StorageError};

struct ServerBackend {
    storage: Arc<dyn Storage>,
    /// The server's throttle on failed codes: a password or TOTP code is
    /// one more secret to guess, so failures count against the same
    /// budget as enrollment, per client address and per account.
    throttle: Arc<dyn FailureCounts>,
    /// Sessions, so that disabling an account ends them at once.
    sessions: Arc<dyn SessionStore>,
    trusted_proxy: bool,
    /// The base of invitation links.
    public_url: String,
}

fn supervisor(a: &Account) -> Supervisor {
    Supervisor {
        team_id: a.team_id.clone(),
        account_id: a.id.clone(),
        name: a.name.clone(),
        email: a.email.clone(),
        actor: a.actor.clone(),
    }
}

/// The throttle's key for an account (counted like a client address).
fn account_key(account_id: &str) -> String {
    format!("account:{account_id}")
}

/// A refusal the pages show as it is (French), or a server failure.
fn refused(e: ServerError) -> DashboardError {
    match e {
        ServerError::Conflict(_) => {
            DashboardError::Refused("Un compte utilise déjà cette adresse e-mail.".into())
        }
        ServerError::BadRequest(m) if m.starts_with("email") => DashboardError::Refused(
            "Adresse e-mail invalide : écrivez-la sous la forme nom@exemple.fr.".into(),
        ),
        ServerError::BadRequest(m) if m.starts_with("name") => {
            DashboardError::Refused("Nom invalide : entre 1 et 100 caractères.".into())
        }
        ServerError::NotFound(_) => {
            DashboardError::NotFound("ce compte n'existe pas dans votre équipe".into())
        }
        other => internal(other),
    }
}

/// A storage failure as the dashboard reports it (cause only: storage
/// errors carry ids, never residents' data).
fn internal(e: impl Into<ServerError>) -> DashboardError {
    let e: ServerError = e.into();
    DashboardError::Internal(e.to_string())
}

impl ServerBackend {
    fn check(&self, key: &str) -> Result<(), DashboardError> {
        self.throttle.check(key, None).map_err(|e| match e {
            ServerError::RateLimited(secs) => DashboardError::TooManyAttempts(secs),
            other => internal(other),
        })
    }

    /// Counts a failure of `client` and, when known, of the account.
    fn fail(&self, client: &str, account_id: Option<&str>) {
        let keys = std::iter::once(client.to_string()).chain(account_id.map(account_key));
        for key in keys {
            if let Err(e) = self.throttle.fail(&key, None) {
                // As for enrollment: the attempt is refused either way, and
                // the next check fails closed.
                tracing::error!(error = %e, "a failed dashboard sign-in could not be counted");
            }
        }
    }

    /// The account behind a session, if it still opens the dashboard.
    fn live_account(&self, who: &Supervisor) -> Result<Account, DashboardError> {
        self.storage
            .account(&who.account_id)
            .map_err(internal)?
            .filter(|a| a.disabled_at.is_none() && a.team_id == who.team_id)
            .ok_or(DashboardError::Unauthorized)
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

    fn sign_in(&self, email: &str, password: &str, client: &str) -> Result<SignIn, DashboardError> {
        self.check(client)?;
        let account = self.storage.account_by_email(email).map_err(internal)?;
        if let Some(a) = &account {
            self.check(&account_key(&a.id))?;
        }
        let required = match &account {
            Some(a) => self.storage.require_totp(&a.team_id).map_err(internal)?,
            None => false,
        };
        // An account without a second factor in a team that requires one
        // opens nothing until it enrols one through a new invitation.
        let opened = account.filter(|a| {
            a.disabled_at.is_none()
                && (a.totp_secret.is_some() || !required)
                && a.password_hash
                    .as_deref()
                    .is_some_and(|h| verify_password(h, password))
        });
        match opened {
            Some(a) if a.totp_secret.is_some() => Ok(SignIn::NeedsTotp(supervisor(&a))),
            Some(a) => Ok(SignIn::Signed(supervisor(&a))),
            None => {
                let named = self.storage.account_by_email(email).map_err(internal)?;
                self.fail(client, named.as_ref().map(|a| a.id.as_str()));
                Ok(SignIn::Refused(named.as_ref().map(supervisor)))
            }
        }
    }

    fn verify_totp(
        &self,
        who: &Supervisor,
        code: &str,
        client: &str,
    ) -> Result<bool, DashboardError> {
        self.check(client)?;
        self.check(&account_key(&who.account_id))?;
        let account = self.live_account(who)?;
        let ok = accept_totp(&*self.storage, &account, code).map_err(internal)?;
        if !ok {
            self.fail(client, Some(&account.id));
        }
        Ok(ok)
    }

    fn invitation(&self, token: &str) -> Result<Option<InvitationInfo>, DashboardError> {
        let Some(a) = self.storage.invitation(token).map_err(internal)? else {
            return Ok(None);
        };
        Ok(Some(InvitationInfo {
            totp_required: self.storage.require_totp(&a.team_id).map_err(internal)?,
            name: a.name,
            email: a.email,
        }))
    }

    fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        totp: Option<(&str, &str)>,
        client: &str,
    ) -> Result<Supervisor, DashboardError> {
        self.check(client)?;
        let Some(a) = self.storage.invitation(token).map_err(internal)? else {
            self.fail(client, None);
            return Err(DashboardError::Refused(
                "Cette invitation ne fonctionne plus (déjà utilisée, expirée, ou remplacée par une plus récente) : demandez-en une nouvelle.".into(),
            ));
        };
        check_password(password, &a.name, &a.email).map_err(DashboardError::Refused)?;
        let required = self.storage.require_totp(&a.team_id).map_err(internal)?;
        let (secret, step) = match totp {
            Some((secret, code)) => {
                let Some(step) = totp_step(secret, &a.email, code, now_secs(carnet_core::now_ms()))
                else {
                    return Err(DashboardError::Refused(
                        "Code de l'application d'authentification incorrect : vérifiez l'heure du téléphone et saisissez le code affiché (6 chiffres).".into(),
                    ));
                };
                (Some(secret), Some(step))
            }
            None if required => {
                return Err(DashboardError::Refused(
                    "Votre équipe exige une double authentification : enregistrez le code dans votre application, puis saisissez le code à 6 chiffres qu'elle affiche.".into(),
                ));
            }
            None => (None, None),
        };
        let hash = hash_password(password)?;
        let a = match self.storage.accept_invitation(token, &hash, secret) {
            Ok(a) => a,
            Err(StorageError::InvalidCode) => {
                return Err(DashboardError::Refused(
                    "Cette invitation vient d'être utilisée : demandez-en une nouvelle.".into(),
                ));
            }
            Err(e) => return Err(internal(e)),
        };
        if let Some(step) = step {
            // The code that confirmed the secret is spent like any other.
            self.storage.use_totp_step(&a.id, step).map_err(internal)?;
        }
        // A reset ends the sessions opened with the old password.
        self.sessions.end_account(&a.id, None)?;
        Ok(supervisor(&a))
    }

    fn account_state(&self, who: &Supervisor) -> Result<AccountState, DashboardError> {
        let a = self.live_account(who)?;
        Ok(AccountState {
            totp_enrolled: a.totp_secret.is_some(),
            totp_required: self.storage.require_totp(&a.team_id).map_err(internal)?,
        })
    }

    fn change_password(
        &self,
        who: &Supervisor,
        current: &str,
        new: &str,
        client: &str,
    ) -> Result<(), DashboardError> {
        self.check(client)?;
        self.check(&account_key(&who.account_id))?;
        let a = self.live_account(who)?;
        if !a
            .password_hash
            .as_deref()
            .is_some_and(|h| verify_password(h, current))
        {
            self.fail(client, Some(&a.id));
            return Err(DashboardError::Refused(
                "Mot de passe actuel incorrect : rien n'a été changé.".into(),
            ));
        }
        check_password(new, &a.name, &a.email).map_err(DashboardError::Refused)?;
        self.storage
            .set_password(&a.id, &hash_password(new)?)
            .map_err(internal)
    }

    fn enrol_totp(&self, who: &Supervisor, secret: &str, code: &str) -> Result<(), DashboardError> {
        let a = self.live_account(who)?;
        let Some(step) = totp_step(secret, &a.email, code, now_secs(carnet_core::now_ms())) else {
            return Err(DashboardError::Refused(
                "Code incorrect : vérifiez l'heure du téléphone et saisissez le code à 6 chiffres affiché par l'application.".into(),
            ));
        };
        self.storage
            .set_totp(&a.id, Some(secret))
            .map_err(internal)?;
        // The code that confirmed the secret is spent like any other.
        self.storage.use_totp_step(&a.id, step).map_err(internal)?;
        Ok(())
    }

    fn remove_totp(&self, who: &Supervisor) -> Result<(), DashboardError> {
        let a = self.live_account(who)?;
        if self.storage.require_totp(&a.team_id).map_err(internal)? {
            return Err(DashboardError::Refused(
                "Votre équipe exige la double authentification : elle ne peut pas être retirée."
                    .into(),
            ));
        }
        self.storage.set_totp(&a.id, None).map_err(internal)
    }

    fn accounts(&self, team_id: &str) -> Result<Vec<AccountSummary>, DashboardError> {
        Ok(self
            .storage
            .accounts(team_id)
            .map_err(internal)?
            .into_iter()
            .map(|a| AccountSummary {
                account_id: a.id,
                name: a.name,
                email: a.email,
                active: a.password_hash.is_some(),
                totp: a.totp_secret.is_some(),
                disabled: a.disabled_at.is_some(),
            })
            .collect())
    }

    fn invite(&self, team_id: &str, name: &str, email: &str) -> Result<String, DashboardError> {
        add_user(&*self.storage, &self.public_url, team_id, name, email)
            .map(|i| i.url)
            .map_err(refused)
    }

    fn reinvite(&self, team_id: &str, account_id: &str) -> Result<String, DashboardError> {
        match invite_again(&*self.storage, &self.public_url, team_id, account_id) {
            Ok(i) => Ok(i.url),
            Err(ServerError::Conflict(_)) => Err(DashboardError::Refused(
                "Ce compte est désactivé : une invitation n'ouvrirait rien.".into(),
            )),
            Err(e) => Err(refused(e)),
        }
    }

    fn disable(&self, team_id: &str, account_id: &str) -> Result<bool, DashboardError> {
        let done = self
            .storage
            .disable_account(team_id, account_id)
            .map_err(internal)?
            .is_some();
        if done {
            self.sessions.end_account(account_id, None)?;
        }
        Ok(done)
    }

    fn set_require_totp(&self, team_id: &str, on: bool) -> Result<(), DashboardError> {
        self.storage.set_require_totp(team_id, on).map_err(internal)
    }

    fn team(&self, team_id: &str) -> Result<Arc<dyn TeamReads>, DashboardError> {
        self.storage.team_reads(team_id).map_err(internal)
    }

    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError> {
        match self.live_account(who) {
            Ok(_) => Ok(true),
            Err(DashboardError::Unauthorized) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn act(&self, who: &Supervisor, id: RecordId, action: &Action) -> Result<(), DashboardError> {
        // The account must still be allowed at the moment it writes.
        self.live_account(who)?;
        let report = self
            .storage
            .act(
                &who.team_id,
                &who.origin(),
                &who.actor,
                &who.name,
                id,
                action,
            )
            .map_err(|e| match e {
                StorageError::Core(e) => DashboardError::Core(e),
                other => internal(other),
            })?;
        tracing::info!(
            team = %who.team_id,
            account = %who.account_id,
            record = %id,
            changes = report.applied,
            "supervisor's change applied"
        );
        // An erasure's photos go as a push's do; the collection round
        // catches what fails here.
        if !report.erased_photos.is_empty()
            && let Err(e) = crate::storage::blobs::erase_photos(
                &*self.storage.blobs(),
                &who.team_id,
                &report.erased_photos,
            )
        {
            tracing::error!(team = %who.team_id, error = %e, "erased photos could not be deleted now; the collection round will");
        }
        Ok(())
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
/// API: the state's storage and throttle behind them, invitation links
/// under `public_url`, its sessions, access
/// log and permits shared, cookies `Secure` unless `config.insecure_cookies`.
/// Purges the sessions and the log (opening `dashboard.db` on SQLite): call
/// it on the blocking pool.
pub fn router<S>(state: &AppState, public_url: String) -> Result<Router<S>>
where
    S: Clone + Send + Sync + 'static,
{
    let backend = ServerBackend {
        storage: state.storage.clone(),
        throttle: state.code_throttle.clone(),
        sessions: state.sessions.clone(),
        trusted_proxy: state.config.trusted_proxy,
        public_url,
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
