//! A PostgreSQL database of a harness's own: created fresh on the server at
//! `CARNET_TEST_DATABASE_URL` (default the local one, database `test`) and
//! dropped when done. With no PostgreSQL answering, the harness fails and
//! says so: it is never skipped (`scripts/test` starts a throwaway cluster
//! when the machine has none).

use postgres::{Client, NoTls};

/// Where the databases are created.
pub fn base_url() -> String {
    std::env::var("CARNET_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let cut = main
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .unwrap_or(main.len());
    format!("{}/{name}{query}", &main[..cut])
}

fn admin() -> Client {
    let url = base_url();
    Client::connect(&url, NoTls).unwrap_or_else(|e| {
        panic!(
            "no PostgreSQL at {url} ({e}): set CARNET_TEST_DATABASE_URL, or run scripts/test, which starts one"
        )
    })
}

/// A database created for one run, dropped (connections and all) on drop.
pub struct TestDatabase {
    /// Its URL, for `carnet-server --database`.
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `carnet_test_<random>`.
    pub fn create() -> TestDatabase {
        let name = format!("carnet_test_{:012x}", rand::random::<u64>() >> 16);
        admin()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        TestDatabase {
            url: with_database(&base_url(), &name),
            name,
        }
    }

    /// A connection to it.
    pub fn connect(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = admin().batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
