//! Sign-in sessions. A supervisor's credential is exchanged once for a
//! session: a random 256-bit id sent as an `HttpOnly`, `SameSite=Strict`
//! cookie (and `Secure` behind HTTPS), of which only the SHA-256 is stored, so
//! a copy of `dashboard.db` opens no session. Each session has its own CSRF
//! token that every POST form carries and the server checks. Sessions expire
//! a fixed time after sign-in.

use std::path::Path;
use std::sync::Mutex;
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

/// The sessions table of `dashboard.db`.
pub struct Sessions {
    conn: Mutex<Connection>,
    ttl: Duration,
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
    pub fn open(data_dir: &Path, ttl: Duration) -> Result<Sessions, DashboardError> {
        Ok(Sessions {
            conn: Mutex::new(open_db(data_dir)?),
            ttl,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for `who`; returns the id to put in the cookie (the
    /// only time it exists in clear) and the session. Expired sessions are
    /// deleted on the way.
    pub fn create(&self, who: &Supervisor) -> Result<(String, Session), DashboardError> {
        let id = random_token();
        let csrf = random_token();
        let now = carnet_core::now_ms();
        let expires_at = now + self.ttl.as_millis() as i64;
        let conn = self.lock();
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
        conn.execute(
            "INSERT INTO sessions (id_hash, team_id, device_id, name, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![hash(&id), who.team_id, who.device_id, who.name, csrf, now, expires_at],
        )?;
        Ok((
            id,
            Session {
                supervisor: who.clone(),
                csrf,
                expires_at,
            },
        ))
    }

    /// The live session with this cookie id, if any.
    pub fn get(&self, id: &str) -> Result<Option<Session>, DashboardError> {
        if id.len() != 64 {
            return Ok(None);
        }
        let now = carnet_core::now_ms();
        Ok(self
            .lock()
            .prepare_cached("SELECT team_id, device_id, name, csrf, expires_at FROM sessions WHERE id_hash = ?1 AND expires_at > ?2")?
            .query_row(params![hash(id), now], |r| {
                Ok(Session {
                    supervisor: Supervisor { team_id: r.get(0)?, device_id: r.get(1)?, name: r.get(2)? },
                    csrf: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// Ends a session (sign-out).
    pub fn delete(&self, id: &str) -> Result<(), DashboardError> {
        self.lock()
            .execute("DELETE FROM sessions WHERE id_hash = ?1", [hash(id)])?;
        Ok(())
    }

    /// Ends every session of a device (when the backend says it was revoked
    /// or ordered wiped).
    pub fn revoke_device(&self, device_id: &str) -> Result<usize, DashboardError> {
        Ok(self
            .lock()
            .execute("DELETE FROM sessions WHERE device_id = ?1", [device_id])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_stored_hashed_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(dir.path(), Duration::from_secs(60)).unwrap();
        let who = Supervisor {
            team_id: "t".into(),
            device_id: "d".into(),
            name: "Awa".into(),
        };
        let (id, sess) = s.create(&who).unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(s.get(&id).unwrap().unwrap().csrf, sess.csrf);
        let stored: String = s
            .lock()
            .query_row("SELECT id_hash FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, id);
        assert!(s.get(&random_token()).unwrap().is_none());
        s.lock()
            .execute("UPDATE sessions SET expires_at = 0", [])
            .unwrap();
        assert!(s.get(&id).unwrap().is_none());
        let (id2, _) = s.create(&who).unwrap();
        s.delete(&id2).unwrap();
        assert!(s.get(&id2).unwrap().is_none());
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("ab", "abc")
        );
    }
}
