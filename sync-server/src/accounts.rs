//! Supervisors' accounts as the server keeps them: invitation links and
//! the operator's commands (`user add`, `user invite`), over the rules of
//! [`carnet_dashboard::accounts`] (passwords, TOTP), which the pages apply
//! too.

use carnet_dashboard::accounts::{now_secs, totp_step};

use crate::error::{Result, ServerError};
use crate::storage::{Account, Storage};

/// How long an invitation link works: a week, time for a person to find
/// the message and sit down to set a password.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Checks a TOTP code for an enrolled account and remembers its step, so
/// that the same code (or an older one) is refused afterwards.
pub fn accept_totp(storage: &dyn Storage, account: &Account, code: &str) -> Result<bool> {
    let Some(secret) = &account.totp_secret else {
        return Ok(false);
    };
    match totp_step(
        secret,
        &account.email,
        code,
        now_secs(carnet_core::now_ms()),
    ) {
        Some(step) => Ok(storage.use_totp_step(&account.id, step)?),
        None => Ok(false),
    }
}

/// The link an invitation token opens, under the server's public URL.
pub fn invitation_url(public_url: &str, token: &str) -> String {
    format!(
        "{}{}/invitation/{token}",
        public_url.trim_end_matches('/'),
        carnet_dashboard::MOUNT
    )
}

/// An invitation just issued: the link to hand the person (only its hash
/// is kept), and when it stops working.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The account it is for.
    pub account: Account,
    /// The one-time link.
    pub url: String,
    /// When it stops working, ms since the epoch.
    pub expires_at: i64,
}

/// `user add`, and the team page's invitation form: a new account for a
/// person of the team, and its first invitation.
pub fn add_user(
    storage: &dyn Storage,
    public_url: &str,
    team_id: &str,
    name: &str,
    email: &str,
) -> Result<Invitation> {
    let account = storage.create_account(team_id, name, email)?;
    invite(storage, public_url, account)
}

/// `user invite`, and the team page's reset button: a new invitation for
/// an account of the team (setting a new password, enrolling TOTP again);
/// older links stop working.
pub fn invite_again(
    storage: &dyn Storage,
    public_url: &str,
    team_id: &str,
    account_id: &str,
) -> Result<Invitation> {
    let account = storage
        .account(account_id)?
        .filter(|a| a.team_id == team_id)
        .ok_or_else(|| ServerError::NotFound("no such account in this team".into()))?;
    if account.disabled_at.is_some() {
        return Err(ServerError::Conflict(
            "this account is disabled: an invitation would open nothing".into(),
        ));
    }
    invite(storage, public_url, account)
}

fn invite(storage: &dyn Storage, public_url: &str, account: Account) -> Result<Invitation> {
    let issued = storage.issue_invitation(&account.id, INVITATION_TTL_MS)?;
    Ok(Invitation {
        url: invitation_url(public_url, &issued.code),
        expires_at: issued.expires_at,
        account,
    })
}

/// The account of a team by e-mail, for the operator's commands.
pub fn team_account(storage: &dyn Storage, team_id: &str, email: &str) -> Result<Account> {
    storage
        .account_by_email(email)?
        .filter(|a| a.team_id == team_id)
        .ok_or_else(|| {
            ServerError::NotFound(
                "no account of this team signs in with this e-mail; see `carnet-server user list`"
                    .into(),
            )
        })
}

/// The operator's account commands (`carnet-server user …`, `team
/// require-totp`), over a state opened from the same settings as the
/// server, so that they write to the same access log and end the same
/// sessions. Each writes what it did to the access log, as the operator.
pub mod admin {
    use carnet_dashboard::Access;

    use super::{Invitation, add_user, invite_again, team_account};
    use crate::AppState;
    use crate::error::{Result, ServerError};
    use crate::storage::Account;

    fn log(state: &AppState, team_id: &str, action: &str) -> Result<()> {
        state
            .access_log
            .record(&Access {
                team_id,
                device_id: "admin",
                person: "administrateur (commande carnet-server)",
                client: "local",
                action,
                record_ids: &[],
            })
            .map_err(|e| ServerError::Internal(format!("access log: {e}")))
    }

    /// `user add`: a new account and its first invitation.
    pub fn add(state: &AppState, team_id: &str, name: &str, email: &str) -> Result<Invitation> {
        let team_id = team_id.trim();
        let inv = add_user(
            &*state.storage,
            &state.config.public_url(),
            team_id,
            name,
            email,
        )?;
        log(
            state,
            team_id,
            &format!(
                "invitation émise (nouveau compte) [compte {}]",
                inv.account.id
            ),
        )?;
        Ok(inv)
    }

    /// `user invite`: a reset invitation for an account of the team.
    pub fn invite(state: &AppState, team_id: &str, email: &str) -> Result<Invitation> {
        let team_id = team_id.trim();
        let account = team_account(&*state.storage, team_id, email)?;
        let inv = invite_again(
            &*state.storage,
            &state.config.public_url(),
            team_id,
            &account.id,
        )?;
        log(
            state,
            team_id,
            &format!(
                "invitation émise (réinitialisation) [compte {}]",
                account.id
            ),
        )?;
        Ok(inv)
    }

    /// `user disable`: the account opens nothing any more; its sessions end.
    pub fn disable(state: &AppState, team_id: &str, email: &str) -> Result<Account> {
        let team_id = team_id.trim();
        let account = team_account(&*state.storage, team_id, email)?;
        let account = state
            .storage
            .disable_account(team_id, &account.id)?
            .ok_or_else(|| ServerError::NotFound("no such account in this team".into()))?;
        state
            .sessions
            .end_account(&account.id, None)
            .map_err(|e| ServerError::Internal(format!("sessions: {e}")))?;
        log(
            state,
            team_id,
            &format!("compte désactivé [compte {}]", account.id),
        )?;
        Ok(account)
    }

    /// `user list`: the team's accounts, oldest first.
    pub fn list(state: &AppState, team_id: &str) -> Result<Vec<Account>> {
        Ok(state.storage.accounts(team_id.trim())?)
    }

    /// `team require-totp`: whether the team's accounts need a second factor.
    pub fn require_totp(state: &AppState, team_id: &str, on: bool) -> Result<()> {
        let team_id = team_id.trim();
        state.storage.set_require_totp(team_id, on)?;
        log(
            state,
            team_id,
            if on {
                "double authentification exigée pour l'équipe"
            } else {
                "double authentification plus exigée pour l'équipe"
            },
        )
    }
}
