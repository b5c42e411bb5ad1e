//! The store's numbered schema migrations, applied on open by
//! [`crate::migrate::apply`] like every Carnet database's.
//!
//! To change the schema, add a file to `core/migrations/` and a line to
//! [`MIGRATIONS`]; never edit a shipped one.

use rusqlite::Connection;

use crate::Result;

/// Every migration, in order; the version after migration `i` is `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/001_initial.sql"),
    include_str!("../../migrations/002_drop_peers.sql"),
    include_str!("../../migrations/003_enrollment.sql"),
    include_str!("../../migrations/004_sync_cursors.sql"),
    include_str!("../../migrations/005_lineage.sql"),
    include_str!("../../migrations/006_photos.sql"),
    include_str!("../../migrations/007_packed_with_dictionary.sql"),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], or refuses a newer one
/// (through [`crate::migrate::apply`], as every Carnet database does).
pub fn migrate(conn: &mut Connection) -> Result<()> {
    crate::migrate::apply(conn, MIGRATIONS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut c).unwrap_err();
        assert!(matches!(err, Error::NewerSchema { .. }), "{err}");
        assert!(err.to_string().contains("update the app"));
    }

    #[test]
    fn a_schema_1_store_loses_its_peers_table() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute("INSERT INTO peers (peer, acked_upto) VALUES ('x', 3)", [])
            .unwrap();
        migrate(&mut c).unwrap();
        let peers: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'peers'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(peers, 0);
    }
}
