//! Sign-in sessions. A supervisor's e-mail and password (and TOTP code,
//! when enrolled) are exchanged once for a session: a random 256-bit id sent as an `HttpOnly`, `SameSite=Strict`
//! cookie (and `Secure` behind HTTPS), of which only the SHA-256 is stored, so
//! a copy of `dashboard.db` (or of a shared database) opens no session. Each
//! session has its own CSRF token that every POST form carries and the server
//! checks. Sessions expire a fixed time after sign-in. Between the password
//! and the TOTP code, a short *pending* session (its own cookie,
//! [`PENDING_COOKIE`]) remembers whose code is awaited; it opens no page.
//!
//! Where they are kept is a [`SessionStore`]: [`Sessions`] in `dashboard.db`
//! for the embedded server; the server keeps them in its PostgreSQL database
//! when it serves from one.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::access_log::open_db;
use crate::{DashboardError, Supervisor};

/// The session cookie's name.
pub const COOKIE: &str = "carnet_session";
/// The sign-in form's own CSRF cookie (double submit: no session exists yet).
pub const SIGNIN_COOKIE: &str = "carnet_connexion";
/// The pending session's cookie, between the password and the TOTP code.
pub const PENDING_COOKIE: &str = "carnet_second_facteur";

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub supervisor: Supervisor,
    /// The token POST forms must carry.
    pub csrf: String,
    /// When it ends, ms since the epoch.
    pub expires_at: i64,
    /// Awaiting the TOTP code: opens no page, only the code's form.
    pub pending: bool,
}

/// Where sessions are kept. The embedded server keeps them in
/// `dashboard.db` ([`Sessions`]); servers sharing one database keep them
/// there, so that a supervisor signed in through one instance stays signed
/// in through every other, and signing out through one ends it everywhere.
/// Every method may block on storage (the pages call them on the blocking
/// pool).
pub trait SessionStore: Send + Sync + 'static {
    /// Starts a session for `who` at `now` (ms since the epoch), ending
    /// `ttl` later; `pending`: awaiting the TOTP code. Returns the id to
    /// put in the cookie (the only time it exists in clear) and the session.
    fn create_at(
        &self,
        who: &Supervisor,
        ttl: Duration,
        pending: bool,
        now: i64,
    ) -> Result<(String, Session), DashboardError>;

    /// Starts a full session for `who` now.
    fn create(&self, who: &Supervisor, ttl: Duration) -> Result<(String, Session), DashboardError> {
        self.create_at(who, ttl, false, carnet_core::now_ms())
    }

    /// The session with this cookie id still live at `now`, if any.
    fn get_at(&self, id: &str, now: i64) -> Result<Option<Session>, DashboardError>;

    /// The live session with this cookie id, if any.
    fn get(&self, id: &str) -> Result<Option<Session>, DashboardError> {
        self.get_at(id, carnet_core::now_ms())
    }

    /// Ends a session (sign-out).
    fn delete(&self, id: &str) -> Result<(), DashboardError>;

    /// Ends every session of an account but the one with cookie id
    /// `except` (a password change keeps the session it was made from; a
    /// disabled account keeps none); returns how many.
    fn end_account(&self, account_id: &str, except: Option<&str>) -> Result<usize, DashboardError>;

    /// Deletes expired sessions (they already open nothing); returns how
    /// many, or `None` when another instance sharing the store is doing it.
    fn purge_expired(&self) -> Result<Option<usize>, DashboardError>;
}

/// A session as a store writes it: [`new_session`] makes one.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The id for the cookie: never stored.
    pub id: String,
    /// What is stored instead ([`id_hash`]).
    pub id_hash: String,
    /// When it started, ms since the epoch.
    pub created_at: i64,
    /// The session.
    pub session: Session,
}

/// A fresh session for `who` from `now` lasting `ttl`, for any
/// [`SessionStore`]: the ids are made in one place, whatever keeps them.
pub fn new_session(who: &Supervisor, ttl: Duration, pending: bool, now: i64) -> NewSession {
    let id = random_token();
    let created_at = now;
    NewSession {
        id_hash: hash(&id),
        session: Session {
            supervisor: who.clone(),
            csrf: random_token(),
            expires_at: created_at
                .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            pending,
        },
        created_at,
        id,
    }
}

/// What a store keeps of a cookie id (its SHA-256, hex); see [`id_hash`].
pub fn hash_of(id: &str) -> String {
    hash(id)
}

/// What a store keeps of a cookie id (its SHA-256, hex), or `None` for
/// what cannot be one (a session id is 64 hex characters): such a cookie
/// finds nothing without a lookup.
pub fn id_hash(id: &str) -> Option<String> {
    (id.len() == 64).then(|| hash(id))
}

/// The sessions table of `dashboard.db`: the embedded server's store.
pub struct Sessions {
    dir: PathBuf,
    /// Opened on first use by [`Sessions::at`], at once by [`Sessions::open`].
    conn: Mutex<Option<Connection>>,
}

/// 32 random bytes, hex: session ids and CSRF tokens.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// Opens the sessions of `data_dir/dashboard.db`.
    pub fn open(data_dir: &Path) -> Result<Sessions, DashboardError> {
        let sessions = Sessions::at(data_dir);
        sessions.with_conn(|_| Ok(()))?;
        Ok(sessions)
    }

    /// The sessions of `data_dir/dashboard.db`, opened at their first use
    /// (for a caller that cannot fail where it is built); a failure to open
    /// is that use's error, and the next use tries again.
    pub fn at(data_dir: &Path) -> Sessions {
        Sessions {
            dir: data_dir.to_path_buf(),
            conn: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, DashboardError>,
    ) -> Result<T, DashboardError> {
        let mut guard = self.lock();
        if guard.is_none() {
            *guard = Some(open_db(&self.dir)?);
        }
        match guard.as_ref() {
            Some(conn) => f(conn),
            None => Err(DashboardError::Internal("sessions not open".into())),
        }
    }
}

impl SessionStore for Sessions {
    /// Expired sessions are deleted on the way.
    fn create_at(
        &self,
        who: &Supervisor,
        ttl: Duration,
        pending: bool,
        now: i64,
    ) -> Result<(String, Session), DashboardError> {
        let new = new_session(who, ttl, pending, now);
        self.with_conn(|conn| {
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [new.created_at])?;
            conn.execute(
                "INSERT INTO sessions (id_hash, team_id, account_id, name, email, actor, csrf, created_at, expires_at, pending)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    new.id_hash,
                    who.team_id,
                    who.account_id,
                    who.name,
                    who.email,
                    who.actor,
                    new.session.csrf,
                    new.created_at,
                    new.session.expires_at,
                    pending
                ],
            )?;
            Ok(())
        })?;
        Ok((new.id, new.session))
    }

    fn get_at(&self, id: &str, now: i64) -> Result<Option<Session>, DashboardError> {
        let Some(id_hash) = id_hash(id) else {
            return Ok(None);
        };
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT team_id, account_id, name, email, actor, csrf, expires_at, pending
                     FROM sessions WHERE id_hash = ?1 AND expires_at > ?2",
                )?
                .query_row(params![id_hash, now], |r| {
                    Ok(Session {
                        supervisor: Supervisor {
                            team_id: r.get(0)?,
                            account_id: r.get(1)?,
                            name: r.get(2)?,
                            email: r.get(3)?,
                            actor: r.get(4)?,
                        },
                        csrf: r.get(5)?,
                        expires_at: r.get(6)?,
                        pending: r.get(7)?,
                    })
                })
                .optional()?)
        })
    }

    fn delete(&self, id: &str) -> Result<(), DashboardError> {
        self.with_conn(|conn| {
            conn.execute("DELETE FROM sessions WHERE id_hash = ?1", [hash(id)])?;
            Ok(())
        })
    }

    fn end_account(&self, account_id: &str, except: Option<&str>) -> Result<usize, DashboardError> {
        let keep = except.map(hash).unwrap_or_default();
        self.with_conn(|conn| {
            Ok(conn.execute(
                "DELETE FROM sessions WHERE account_id = ?1 AND id_hash <> ?2",
                params![account_id, keep],
            )?)
        })
    }

    fn purge_expired(&self) -> Result<Option<usize>, DashboardError> {
        let now = carnet_core::now_ms();
        self.with_conn(|conn| {
            Ok(Some(conn.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1",
                [now],
            )?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn awa() -> Supervisor {
        Supervisor {
            team_id: "t".into(),
            account_id: "a".into(),
            name: "Awa".into(),
            email: "awa@example.org".into(),
            actor: "0".repeat(32),
        }
    }

    #[test]
    fn sessions_are_stored_hashed_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(dir.path()).unwrap();
        let ttl = Duration::from_secs(60);
        let who = awa();
        let (id, sess) = s.create(&who, ttl).unwrap();
        assert_eq!(id.len(), 64);
        let got = s.get(&id).unwrap().unwrap();
        assert_eq!(
            (got.csrf, got.supervisor, got.pending),
            (sess.csrf, who.clone(), false)
        );
        let stored: String = s
            .with_conn(|c| Ok(c.query_row("SELECT id_hash FROM sessions", [], |r| r.get(0))?))
            .unwrap();
        assert_ne!(stored, id);
        assert!(s.get(&random_token()).unwrap().is_none());
        s.with_conn(|c| Ok(c.execute("UPDATE sessions SET expires_at = 0", [])?))
            .unwrap();
        assert!(s.get(&id).unwrap().is_none());
        assert_eq!(s.purge_expired().unwrap(), Some(1));
        let (id2, _) = s.create(&who, ttl).unwrap();
        s.delete(&id2).unwrap();
        assert!(s.get(&id2).unwrap().is_none());
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("ab", "abc")
        );
    }

    #[test]
    fn a_session_ends_at_its_fixed_time_by_an_explicit_clock() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(dir.path()).unwrap();
        let t0 = carnet_core::now_ms();
        let (id, sess) = s
            .create_at(&awa(), Duration::from_secs(3600), true, t0)
            .unwrap();
        assert_eq!(sess.expires_at, t0 + 3_600_000);
        assert!(s.get_at(&id, t0 + 3_599_999).unwrap().unwrap().pending);
        assert!(s.get_at(&id, t0 + 3_600_000).unwrap().is_none());
    }

    #[test]
    fn ending_an_account_keeps_only_the_session_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(dir.path()).unwrap();
        let ttl = Duration::from_secs(60);
        let (a, _) = s.create(&awa(), ttl).unwrap();
        let (b, _) = s.create(&awa(), ttl).unwrap();
        let (c, _) = s.create(&awa(), ttl).unwrap();
        assert_eq!(s.end_account("a", Some(&a)).unwrap(), 2);
        assert!(s.get(&a).unwrap().is_some());
        assert!(s.get(&b).unwrap().is_none() && s.get(&c).unwrap().is_none());
        assert_eq!(s.end_account("a", None).unwrap(), 1);
        assert!(s.get(&a).unwrap().is_none());
    }
}
