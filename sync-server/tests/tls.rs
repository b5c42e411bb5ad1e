//! HTTPS served by the server itself (`tls_cert`/`tls_key`), with the
//! certificate of a deployment's own CA made at test time: a device that
//! trusts that CA syncs; one that does not is refused before anything is
//! exchanged; plain HTTP to the HTTPS port gets nowhere.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use carnet_core::sync::ExtraRoots;
use carnet_core::sync::client::{Client, Retry};
use carnet_core::{Error, Store};
use carnet_server::{Config, RunningServer, ServerError};
use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

const ONE_TRY: Retry = Retry {
    attempts: 1,
    first_backoff: Duration::from_millis(10),
};

/// A deployment's own CA, and the certificate it issued to the server for
/// `localhost` and 127.0.0.1, written as PEM files in `dir`.
struct Pki {
    /// The CA's certificate: what devices are given to trust.
    ca: PathBuf,
    /// The server's chain: its certificate, then the CA's.
    chain: PathBuf,
    key: PathBuf,
}

fn make_pki(dir: &Path, name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let files = Pki {
        ca: dir.join(format!("{name}-ca.pem")),
        chain: dir.join(format!("{name}-chain.pem")),
        key: dir.join(format!("{name}-key.pem")),
    };
    std::fs::write(&files.ca, ca.pem()).unwrap();
    std::fs::write(&files.chain, server_cert.pem() + &ca.pem()).unwrap();
    std::fs::write(&files.key, server_key.serialize_pem()).unwrap();
    files
}

/// A server over HTTPS with the chain and key of `pki`, with a team.
fn https_server(data: &Path, pki: &Pki) -> (TestServer, String) {
    let (team_id, _) = team(data, "Carcassonne");
    let server = TestServer::start_with(
        Config {
            data_dir: data.to_path_buf(),
            tls_cert: Some(pki.chain.clone()),
            tls_key: Some(pki.key.clone()),
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    (server, team_id)
}

fn code(server: &TestServer, team: &str, name: &str) -> String {
    carnet_server::issue_code(&server.data, team, "mediator".parse().unwrap(), Some(name)).unwrap()
}

fn new_store(dir: &Path, name: &str) -> Store {
    let store = Store::open_unencrypted(dir.join(format!("{name}.db"))).unwrap();
    store.set_author(name).unwrap();
    store
}

fn sync(store: &Store, client: &Client) -> carnet_core::Result<carnet_core::sync::SyncSummary> {
    let token = store.enrollment().unwrap().unwrap().token;
    client.sync(store, &token, &mut |_| {}, &AtomicBool::new(false))
}

#[test]
fn devices_trusting_the_deployments_ca_sync_over_https() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = make_pki(tmp.path(), "carnet");
    let (server, team_id) = https_server(&tmp.path().join("data"), &pki);
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    let roots = ExtraRoots::from_pem_file(&pki.ca).unwrap();

    let amina = new_store(tmp.path(), "amina");
    let bruno = new_store(tmp.path(), "bruno");
    for (store, name) in [(&amina, "amina"), (&bruno, "bruno")] {
        let e = carnet_core::sync::enroll(
            store,
            &server.url(),
            &roots,
            &code(&server, &team_id, name),
            name,
        )
        .unwrap();
        assert_eq!(e.server, server.url());
    }
    let note = amina
        .create(
            carnet_core::Kind::Note,
            &fields(serde_json::json!({"sector": "conte-joliot", "text": "Hall propre"})),
        )
        .unwrap();

    let client = Client::trusting(&server.url(), &roots)
        .unwrap()
        .with_retry(ONE_TRY);
    assert_eq!(sync(&amina, &client).unwrap().pushed, 1);
    assert_eq!(sync(&bruno, &client).unwrap().pulled, 1);
    assert!(bruno.get(note).is_ok());
    assert_eq!(server_log_head(&server.data, &team_id), 1);

    // Token rotation and a supervisor's reads go through the same builder.
    carnet_core::sync::enroll::rotate_token(&amina, &roots).unwrap();
    assert_eq!(sync(&amina, &client).unwrap().pushed, 0);

    // Any HTTPS client trusting the CA reaches the health route.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let r = http
        .get(format!("{}/healthz", server.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().unwrap(), "ok");
    server.stop();
}

#[test]
fn a_device_not_trusting_the_ca_is_refused_before_anything_is_exchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = make_pki(tmp.path(), "carnet");
    let (server, team_id) = https_server(&tmp.path().join("data"), &pki);
    let trusting = ExtraRoots::from_pem_file(&pki.ca).unwrap();

    // Enrollment with the built-in roots only: a certificate error, and
    // the code never reached the server (it still works afterwards).
    let store = new_store(tmp.path(), "amina");
    let code = code(&server, &team_id, "amina");
    let err = Client::new(&server.url())
        .unwrap()
        .with_retry(ONE_TRY)
        .enroll(&code, "amina", Some(&store.peer_id()))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Network(m) if m.contains("certificate")),
        "{err}"
    );
    carnet_core::sync::enroll(&store, &server.url(), &trusting, &code, "amina").unwrap();

    // An enrolled device whose client does not trust the CA: nothing is
    // pushed, nothing pulled, the server's log is untouched.
    store
        .create(
            carnet_core::Kind::Note,
            &fields(serde_json::json!({"sector": "conte-joliot", "text": "Hall propre"})),
        )
        .unwrap();
    let untrusting = Client::new(&server.url()).unwrap().with_retry(ONE_TRY);
    let err = sync(&store, &untrusting).unwrap_err();
    assert!(
        matches!(&err, Error::Network(m) if m.contains("certificate")),
        "{err}"
    );
    assert_eq!(server_log_head(&server.data, &team_id), 0);

    // Another CA than the deployment's is no better.
    let other = make_pki(tmp.path(), "other");
    let elsewhere = Client::trusting(
        &server.url(),
        &ExtraRoots::from_pem_file(&other.ca).unwrap(),
    )
    .unwrap()
    .with_retry(ONE_TRY);
    assert!(sync(&store, &elsewhere).is_err());
    assert_eq!(server_log_head(&server.data, &team_id), 0);
    server.stop();
}

#[test]
fn plain_http_to_the_https_port_gets_no_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = make_pki(tmp.path(), "carnet");
    let (server, _) = https_server(&tmp.path().join("data"), &pki);
    let plain = format!("http://{}", server.addr);
    assert!(http().get(format!("{plain}/healthz")).send().is_err());
    // The core's client too (plain http:// is allowed to loopback only).
    let store = new_store(tmp.path(), "amina");
    let err = Client::new(&plain)
        .unwrap()
        .with_retry(ONE_TRY)
        .enroll("ANY-CODE", "amina", Some(&store.peer_id()))
        .unwrap_err();
    assert!(matches!(err, Error::Network(_)), "{err}");
    // The server is unharmed: HTTPS still works.
    let roots = ExtraRoots::from_pem_file(&pki.ca).unwrap();
    let e = Client::trusting(&server.url(), &roots)
        .unwrap()
        .with_retry(ONE_TRY)
        .enroll("ANY-CODE", "amina", Some(&store.peer_id()))
        .unwrap_err();
    // The code is unknown: refused by the server, which did answer.
    assert!(!matches!(e, Error::Network(_)), "{e}");
    server.stop();
}

#[test]
fn a_key_that_does_not_match_stops_the_start_with_the_files_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = make_pki(tmp.path(), "carnet");
    let other = make_pki(tmp.path(), "other");
    let err = RunningServer::start(Config {
        data_dir: tmp.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(pki.chain.clone()),
        tls_key: Some(other.key.clone()),
        ..Config::default()
    })
    .err()
    .expect("started with another certificate's key");
    let ServerError::Config(m) = &err else {
        panic!("not a configuration error: {err}")
    };
    assert!(
        m.contains("is not the private key of the certificate"),
        "{m}"
    );
    assert!(m.contains(&other.key.display().to_string()), "{m}");
}
