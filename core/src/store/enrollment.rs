//! Where and as what this device syncs: its enrollment, kept in a table of
//! its own (encrypted with the rest of the store) rather than among the
//! apps' settings, so that every face reads and writes it the same way and
//! no setting can overwrite it.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, set_meta};
use crate::role::Role;
use crate::{Error, Result, TeamConfig};

/// The setting keys an older Carnet kept the enrollment under. A store
/// migrated from one has them moved into the enrollment table; apps may no
/// longer write them as settings.
pub(crate) const LEGACY_SETTINGS: [&str; 5] = ["server", "token", "device_id", "team_id", "role"];

/// This device's enrollment with its team's server. Its `Debug` leaves the
/// token out, so that a logged value never carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEnrollment {
    /// The server's base address (`https://carnet.example.org`).
    pub server: String,
    /// The device's secret token: never printed, never logged.
    pub token: String,
    /// The device's id on the server.
    pub device_id: String,
    /// The team's id on the server.
    pub team_id: String,
    /// What the device may do.
    pub role: Role,
}

impl std::fmt::Debug for DeviceEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEnrollment")
            .field("server", &self.server)
            .field("token", &"(secret)")
            .field("device_id", &self.device_id)
            .field("team_id", &self.team_id)
            .field("role", &self.role)
            .finish()
    }
}

impl DeviceEnrollment {
    /// Refuses an enrollment with an empty part: each one is needed to sync
    /// or to tell the user which device this is.
    fn check(&self) -> Result<()> {
        for (field, value) in [
            ("server", &self.server),
            ("token", &self.token),
            ("device_id", &self.device_id),
            ("team_id", &self.team_id),
        ] {
            if value.trim().is_empty() {
                return Err(Error::invalid(field, "is required to enroll"));
            }
        }
        Ok(())
    }
}

impl Store {
    /// This device's enrollment, or `None` when it was never enrolled (or
    /// was wiped since).
    pub fn enrollment(&self) -> Result<Option<DeviceEnrollment>> {
        let inner = self.lock();
        let row: Option<(String, String, String, String, String)> = inner
            .conn
            .query_row(
                "SELECT server, token, device_id, team_id, role FROM enrollment",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        row.map(|(server, token, device_id, team_id, role)| {
            Ok(DeviceEnrollment {
                server,
                token,
                device_id,
                team_id,
                role: role
                    .parse()
                    .map_err(Error::unreadable("the enrollment's role"))?,
            })
        })
        .transpose()
    }

    /// Saves an enrollment and the team configuration that came with it, in
    /// one transaction: a device is never enrolled with another team's
    /// configuration. Replaces any earlier enrollment (a device enrolled
    /// again after a revocation) and the setting keys an older Carnet kept
    /// it under.
    pub fn set_enrollment(&self, enrollment: &DeviceEnrollment, config: &TeamConfig) -> Result<()> {
        enrollment.check()?;
        let json = serde_json::to_string(config).map_err(|e| Error::Internal(e.to_string()))?;
        let mut inner = self.lock();
        let tx = inner
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO enrollment (singleton, server, token, device_id, team_id, role)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(singleton) DO UPDATE SET server = excluded.server, token = excluded.token,
                 device_id = excluded.device_id, team_id = excluded.team_id, role = excluded.role",
            params![
                enrollment.server.trim(),
                enrollment.token.trim(),
                enrollment.device_id.trim(),
                enrollment.team_id.trim(),
                enrollment.role.code(),
            ],
        )?;
        for key in LEGACY_SETTINGS {
            tx.execute(
                "DELETE FROM meta WHERE key = ?1",
                [format!("setting.{key}")],
            )?;
        }
        set_meta(&tx, "config", &json)?;
        tx.commit()?;
        inner.config = config.clone();
        Ok(())
    }

    /// Replaces the device's token after a rotation (the old one no longer
    /// works). Refused when the device is not enrolled.
    pub fn set_token(&self, token: &str) -> Result<()> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::invalid("token", "is required"));
        }
        let changed = self
            .lock()
            .conn
            .execute("UPDATE enrollment SET token = ?1", [token])?;
        if changed == 0 {
            return Err(Error::invalid(
                "token",
                "this store is not enrolled; enroll it with a code before rotating its token",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DeviceEnrollment {
        DeviceEnrollment {
            server: "https://carnet.example.org".into(),
            token: "secret-token".into(),
            device_id: "dev-1".into(),
            team_id: "team-1".into(),
            role: Role::Supervisor,
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_unencrypted(dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn an_enrollment_round_trips_with_its_configuration() {
        let (_dir, store) = store();
        assert_eq!(store.enrollment().unwrap(), None);
        let mut config = TeamConfig::carcassonne();
        config.name = "Équipe test".into();
        store.set_enrollment(&sample(), &config).unwrap();
        assert_eq!(store.enrollment().unwrap(), Some(sample()));
        assert_eq!(store.config().name, "Équipe test");

        store.set_token("rotated").unwrap();
        let after = store.enrollment().unwrap().unwrap();
        assert_eq!(after.token, "rotated");
        assert_eq!(after.device_id, "dev-1");

        let again = DeviceEnrollment {
            device_id: "dev-2".into(),
            role: Role::Mediator,
            ..sample()
        };
        store.set_enrollment(&again, &config).unwrap();
        assert_eq!(store.enrollment().unwrap(), Some(again));
    }

    #[test]
    fn an_enrollment_survives_reopening_an_encrypted_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let key = [7u8; 32];
        Store::open(&path, &key)
            .unwrap()
            .set_enrollment(&sample(), &TeamConfig::default())
            .unwrap();
        assert_eq!(
            Store::open(&path, &key).unwrap().enrollment().unwrap(),
            Some(sample())
        );
    }

    #[test]
    fn incomplete_enrollments_and_tokens_are_refused() {
        let (_dir, store) = store();
        let no_token = DeviceEnrollment {
            token: " ".into(),
            ..sample()
        };
        let err = store
            .set_enrollment(&no_token, &TeamConfig::default())
            .unwrap_err();
        assert!(matches!(&err, Error::Invalid { field, .. } if field == "token"));
        assert!(matches!(store.set_token("new"), Err(Error::Invalid { .. })));
        assert_eq!(store.enrollment().unwrap(), None);
    }

    /// Writes settings as an older `carnet init` did, into a store taken
    /// back to schema version 1, and reopens it.
    fn legacy_store(settings: &[(&str, &str)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(Store::open_unencrypted(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE enrollment; DROP TABLE sync_cursors; DROP TABLE sync_lineage;
             DROP TABLE photos; DROP TABLE photo_parts; DROP TABLE photo_tombstones; DROP TABLE record_photos;
             ALTER TABLE change_log DROP COLUMN photo; PRAGMA user_version = 1;",
        )
        .unwrap();
        for (key, value) in settings {
            set_meta(&conn, &format!("setting.{key}"), value).unwrap();
        }
        drop(conn);
        let store = Store::open_unencrypted(&path).unwrap();
        (dir, store)
    }

    #[test]
    fn a_store_an_older_cli_enrolled_keeps_its_enrollment() {
        let (_dir, store) = legacy_store(&[
            ("server", "https://carnet.example.org"),
            ("token", "secret-token"),
            ("device_id", "dev-1"),
            ("team_id", "team-1"),
            ("role", "supervisor"),
            ("theme", "dark"),
        ]);
        assert_eq!(store.enrollment().unwrap(), Some(sample()));
        for key in LEGACY_SETTINGS {
            assert_eq!(store.setting(key).unwrap(), None, "{key} left behind");
        }
        assert_eq!(store.setting("theme").unwrap().as_deref(), Some("dark"));
    }

    #[test]
    fn a_partial_legacy_enrollment_is_left_until_the_device_enrolls_again() {
        let (_dir, store) = legacy_store(&[
            ("server", "https://carnet.example.org"),
            ("token", "secret-token"),
        ]);
        assert_eq!(store.enrollment().unwrap(), None);
        assert_eq!(
            store.setting("token").unwrap().as_deref(),
            Some("secret-token")
        );
        store
            .set_enrollment(&sample(), &TeamConfig::default())
            .unwrap();
        assert_eq!(store.setting("token").unwrap(), None);
        assert_eq!(store.setting("server").unwrap(), None);
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("dev-1"), "{shown}");
    }

    #[test]
    fn a_wipe_forgets_the_enrollment() {
        let (_dir, store) = store();
        store
            .set_enrollment(&sample(), &TeamConfig::default())
            .unwrap();
        store.wipe().unwrap();
        assert_eq!(store.enrollment().unwrap(), None);
    }

    #[test]
    fn the_enrollment_keys_are_not_settings() {
        let (_dir, store) = store();
        for key in LEGACY_SETTINGS {
            let err = store.set_setting(key, Some("x")).unwrap_err();
            assert!(matches!(&err, Error::Invalid { field, .. } if field == "key"));
            assert!(store.set_setting(key, None).is_err());
        }
        store.set_setting("theme", Some("dark")).unwrap();
        assert_eq!(store.setting("theme").unwrap().as_deref(), Some("dark"));
    }
}
