//! How every Carnet database changes schema: an ordered list of numbered SQL
//! files, the version in `PRAGMA user_version`, and one `IMMEDIATE`
//! transaction per upgrade. The phone's store, the server's registry and
//! the dashboard's sessions all migrate through [`apply`], so that a schema
//! change is made the same way (and fails the same way) everywhere.
//!
//! A file is never edited once shipped: a change is a new file at the end of
//! the list. A database whose version is past the list was written by a
//! newer build and is refused ([`Error::NewerSchema`]) rather than misread;
//! each caller words that refusal for its own users ("update the app",
//! "update the server").

use rusqlite::{Connection, TransactionBehavior};

use crate::{Error, Result};

/// Brings `conn` to version `migrations.len()`: runs, in one `IMMEDIATE`
/// transaction, every migration past the file's `user_version` (migration
/// `i` takes the database from version `i` to `i + 1`), then records the new
/// version. Immediate, so that two connections opening the same file at
/// once never both migrate it; one transaction, so that a failed migration
/// leaves the file at its old version, untouched.
pub fn apply(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    let supported = migrations.len() as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > supported {
        return Err(Error::NewerSchema { found, supported });
    }
    let from = usize::try_from(found).unwrap_or(0);
    for (i, sql) in migrations.iter().enumerate().skip(from) {
        if let Err(e) = tx.execute_batch(sql) {
            tracing::error!(migration = i + 1, error = %e, "schema migration failed");
            return Err(e.into());
        }
    }
    if found != supported {
        tx.pragma_update(None, "user_version", supported)?;
    }
    tx.commit()?;
    Ok(())
}

/// The schema version of an open database (`PRAGMA user_version`).
pub fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE a (x INTEGER);",
        "ALTER TABLE a ADD COLUMN y INTEGER; INSERT INTO a VALUES (1, 2);",
    ];

    #[test]
    fn runs_each_migration_once_from_the_files_version() {
        let mut c = Connection::open_in_memory().unwrap();
        apply(&mut c, &STEPS[..1]).unwrap();
        assert_eq!(version(&c).unwrap(), 1);
        apply(&mut c, STEPS).unwrap();
        apply(&mut c, STEPS).unwrap();
        assert_eq!(version(&c).unwrap(), 2);
        let rows: i64 = c
            .query_row("SELECT count(*) FROM a WHERE y = 2", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1, "the second migration ran exactly once");
    }

    #[test]
    fn refuses_a_newer_database_and_rolls_back_a_failed_migration() {
        let mut c = Connection::open_in_memory().unwrap();
        apply(&mut c, STEPS).unwrap();
        let err = apply(&mut c, &STEPS[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NewerSchema {
                    found: 2,
                    supported: 1
                }
            ),
            "{err}"
        );

        let mut c = Connection::open_in_memory().unwrap();
        apply(&mut c, &["CREATE TABLE b (x);", "CREATE TABLE b (x);"]).unwrap_err();
        assert_eq!(version(&c).unwrap(), 0, "nothing recorded");
        let tables: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "the first migration was rolled back with it");
    }
}
