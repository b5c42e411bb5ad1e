//! Sign-in sessions. A supervisor's credential is exchanged once for a
//! session: a random 256-bit id sent as an `HttpOnly`, `SameSite=Strict`
//! cookie (and `Secure` behind HTTPS), of which only the SHA-256 is stored, so
//! a copy of `dashboard.db` (or of a shared database) opens no session. Each
//! session has its own CSRF token that every POST form carries and the server
//! checks. Sessions expire a fixed time after sign-in.
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

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub supervisor: Supervisor,
    /// The token POST forms must carry.
    pub csrf: String,
    /// When it ends, ms since the epoch.
    pub expires_at: i64,
}

/// Where sessions are kept. The embedded server keeps them in
/// `dashboard.db` ([`Sessions`]); servers sharing one database keep them
/// there, so that a supervisor signed in through one instance stays signed
/// in through every other, and signing out through one ends it everywhere.
/// Every method may block on storage (the pages call them on the blocking
/// pool).
pub trait SessionStore: Send + Sync + 'static {
    /// Starts a session for `who`, ending `ttl` from now; returns the id to
    /// put in the cookie (the only time it exists in clear) and the session.
    fn create(&self, who: &Supervisor, ttl: Duration) -> Result<(String, Session), DashboardError>;

    /// The live session with this cookie id, if any.
    fn get(&self, id: &str) -> Result<Option<Session>, DashboardError>;

    /// Ends a session (sign-out).
    fn delete(&self, id: &str) -> Result<(), DashboardError>;

    /// Ends every session of a device (when the backend says it was revoked
    /// or ordered wiped); returns how many.
    fn revoke_device(&self, device_id: &str) -> Result<usize, DashboardError>;

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

/// A fresh session for `who` lasting `ttl`, for any [`SessionStore`]: the
/// ids are made in one place, whatever keeps them.
pub fn new_session(who: &Supervisor, ttl: Duration) -> NewSession {
    let id = random_token();
    let created_at = carnet_core::now_ms();
    NewSession {
        id_hash: hash(&id),
        session: Session {
            supervisor: who.clone(),
            csrf: random_token(),
            expires_at: created_at
                .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        },
        created_at,
        id,
    }
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
    fn create(&self, who: &Supervisor, ttl: Duration) -> Result<(String, Session), DashboardError> {
        let new = new_session(who, ttl);
        self.with_conn(|conn| {
            conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [new.created_at])?;
            conn.execute(
                "INSERT INTO sessions (id_hash, team_id, device_id, name, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![new.id_hash, who.team_id, who.device_id, who.name, new.session.csrf, new.created_at, new.session.expires_at],
            )?;
            Ok(())
        })?;
        Ok((new.id, new.session))
    }

    fn get(&self, id: &str) -> Result<Option<Session>, DashboardError> {
        let Some(id_hash) = id_hash(id) else {
            return Ok(None);
        };
        let now = carnet_core::now_ms();
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT team_id, device_id, name, csrf, expires_at FROM sessions WHERE id_hash = ?1 AND expires_at > ?2")?
                .query_row(params![id_hash, now], |r| {
                    Ok(Session {
                        supervisor: Supervisor { team_id: r.get(0)?, device_id: r.get(1)?, name: r.get(2)? },
                        csrf: r.get(3)?,
                        expires_at: r.get(4)?,
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

    fn revoke_device(&self, device_id: &str) -> Result<usize, DashboardError> {
        self.with_conn(|conn| {
            Ok(conn.execute("DELETE FROM sessions WHERE device_id = ?1", [device_id])?)
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

    #[test]
    fn sessions_are_stored_hashed_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(dir.path()).unwrap();
        let ttl = Duration::from_secs(60);
        let who = Supervisor {
            team_id: "t".into(),
            device_id: "d".into(),
            name: "Awa".into(),
        };
        let (id, sess) = s.create(&who, ttl).unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(s.get(&id).unwrap().unwrap().csrf, sess.csrf);
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
}
