//! `--ca-cert` (CARNET_CA_CERT): a device reaching a server whose
//! certificate the deployment made itself (here a self-signed one, made at
//! test time), over HTTPS on a loopback port.

mod common;

use std::net::SocketAddr;

use common::{TestStore, has_files, run_env};

/// The real server over HTTPS with a self-signed certificate for
/// 127.0.0.1; stopped when dropped.
struct HttpsServer {
    url: String,
    data: std::path::PathBuf,
    team_id: String,
    /// The certificate devices are given to trust.
    ca: std::path::PathBuf,
    _server: carnet_server::RunningServer,
    _tmp: tempfile::TempDir,
}

impl HttpsServer {
    fn start() -> HttpsServer {
        let tmp = tempfile::tempdir().unwrap();
        let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
        let data = tmp.path().join("server");
        let (team_id, _) = carnet_server::init_team(&data, "Équipe de test").unwrap();
        let server = carnet_server::RunningServer::start(carnet_server::Config {
            data_dir: data.clone(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert: Some(cert.clone()),
            tls_key: Some(key),
            ..Default::default()
        })
        .unwrap();
        HttpsServer {
            url: server.url(),
            data,
            team_id,
            ca: cert,
            _server: server,
            _tmp: tmp,
        }
    }

    fn code(&self, name: &str) -> String {
        carnet_server::issue_code(
            &self.data,
            &self.team_id,
            carnet_server::Role::Mediator,
            Some(name),
        )
        .unwrap()
    }
}

#[test]
fn a_device_trusts_the_servers_own_certificate_with_ca_cert() {
    let server = HttpsServer::start();
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = server.ca.to_str().unwrap();
    let s = TestStore::uninit();

    // Without it: refused for the certificate, with the way out, and
    // nothing created.
    let code = server.code("amina");
    let err = s
        .run(&["init", "--server", &server.url, "--code", &code])
        .fails(1)
        .to_string();
    assert!(
        err.contains("certificate") && err.contains("--ca-cert"),
        "{err}"
    );
    assert!(!has_files(&s.dir), "a refused init left files behind");

    // A file that is not a certificate: refused before anything is created.
    let not_pem = s.dir.with_file_name("not.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    let err = s
        .run(&[
            "--ca-cert",
            not_pem.to_str().unwrap(),
            "init",
            "--server",
            &server.url,
            "--code",
            &code,
        ])
        .fails(1)
        .to_string();
    assert!(err.contains("ca_cert") && err.contains("not.pem"), "{err}");
    assert!(!has_files(&s.dir));

    // With it (the flag, then the environment): enrolled, and syncs.
    let v = s.json(&[
        "--ca-cert",
        ca,
        "init",
        "--server",
        &server.url,
        "--code",
        &code,
        "--name",
        "amina",
    ]);
    assert_eq!(v["enrolled"], true, "{v}");
    s.create(&[
        "note",
        "add",
        "--sector",
        "conte-joliot",
        "--text",
        "Hall propre",
    ]);
    let args = ["--store", s.dir.to_str().unwrap(), "--json", "sync"];
    let env = [("CARNET_KEY", common::KEY), ("CARNET_CA_CERT", ca)];
    let v: serde_json::Value = serde_json::from_str(run_env(&args, &env).ok()).unwrap();
    assert_eq!(v["pushed"], 1, "{v}");

    // A later command without it is refused again, and changes nothing:
    // the token it would have rotated still syncs.
    let err = s.run(&["rotate-token"]).fails(1).to_string();
    assert!(err.contains("certificate"), "{err}");
    let v: serde_json::Value = serde_json::from_str(run_env(&args, &env).ok()).unwrap();
    assert_eq!(v["pushed"], 0, "{v}");
}
