//! Helpers shared by the command-line tests: run the real `carnet` binary
//! against a temporary store, and the real server on a loopback port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A key for test stores (CARNET_KEY).
pub const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// What a run of `carnet` gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "carnet failed: {}{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Asserts failure with `code`, an `error: ` line, and nothing on stdout.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "expected exit {code}: {}{}",
            self.stdout, self.stderr
        );
        assert!(self.stderr.starts_with("error:"), "stderr: {}", self.stderr);
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        &self.stderr
    }
}

/// The `carnet` binary with a clean environment for tests.
pub fn carnet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_carnet"));
    c.env_remove("CARNET_STORE")
        .env_remove("CARNET_KEY")
        .env_remove("RUST_LOG");
    c
}

/// Runs `carnet args…` with `env` set.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = carnet();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("the carnet binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A store directory used with CARNET_KEY.
pub struct TestStore {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl TestStore {
    /// A new store, created with `init` (local only) and author `name`.
    pub fn new(name: &str) -> TestStore {
        let s = Self::uninit();
        s.run(&["init", "--name", name]).ok();
        s
    }

    /// A directory where no store exists yet.
    pub fn uninit() -> TestStore {
        let tmp = tempfile::tempdir().unwrap();
        TestStore {
            dir: tmp.path().join("store"),
            _tmp: tmp,
        }
    }

    /// Runs `carnet --store DIR args…` with CARNET_KEY.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--store", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        run_env(&all, &[("CARNET_KEY", KEY)])
    }

    /// Runs with `--json` and returns the parsed output.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).json()
    }

    /// Creates a record and returns its id.
    #[track_caller]
    pub fn create(&self, args: &[&str]) -> String {
        self.json(args)["id"].as_str().expect("an id").to_string()
    }

    /// Every item of `list KIND --json`.
    #[track_caller]
    pub fn list(&self, kind: &str) -> Vec<Value> {
        self.json(&["list", kind, "--limit", "1000"])["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// The real server on a free loopback port, with a team; stopped when
/// dropped.
pub struct TestServer {
    pub url: String,
    pub data: PathBuf,
    pub team_id: String,
    pub supervisor_code: String,
    _server: carnet_server::RunningServer,
    _tmp: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("server");
        let (team_id, supervisor_code) = carnet_server::init_team(&data, "Équipe de test").unwrap();
        let server = carnet_server::RunningServer::start(carnet_server::Config {
            data_dir: data.clone(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Default::default()
        })
        .unwrap();
        TestServer {
            url: server.url(),
            data,
            team_id,
            supervisor_code,
            _server: server,
            _tmp: tmp,
        }
    }

    /// A fresh mediator code.
    pub fn mediator_code(&self, name: &str) -> String {
        carnet_server::issue_code(
            &self.data,
            &self.team_id,
            carnet_server::Role::Mediator,
            Some(name),
        )
        .unwrap()
    }

    /// An enrolled store.
    pub fn enrolled(&self, name: &str, code: &str) -> TestStore {
        let s = TestStore::uninit();
        let v = s.json(&[
            "init", "--server", &self.url, "--code", code, "--name", name,
        ]);
        assert_eq!(v["enrolled"], true, "{v}");
        s
    }
}

/// Whether `dir` holds any file.
pub fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut it| it.next().is_some())
}
