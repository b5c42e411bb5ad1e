//! HTTPS served by the server itself: the certificate chain and private key
//! of [`Config::tls_cert`] and [`Config::tls_key`], read and checked once at
//! start, so that a wrong file stops the server with a message naming it
//! rather than failing every phone's handshake later.
//!
//! The crypto is rustls's `ring` provider, given explicitly: the one that the
//! devices' client (reqwest) already uses, and no process-wide default to
//! get wrong.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Config;
use crate::error::{Result, ServerError};

/// What the server presents to its clients, when the configuration asks
/// for HTTPS; `None` when it serves plain HTTP (loopback, or behind a front
/// that terminates TLS).
pub(crate) fn load(config: &Config) -> Result<Option<RustlsConfig>> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Ok(Some(RustlsConfig::from_config(server_config(cert, key)?))),
        (None, None) => Ok(None),
        _ => Err(ServerError::Config(
            "tls_cert and tls_key go together: give both to serve HTTPS, or neither".into(),
        )),
    }
}

/// The rustls configuration for the chain in `cert` and the key in `key`.
fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let chain = read_chain(cert)?;
    let private_key = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Internal(format!("TLS protocol versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => ServerError::Config(format!(
                "tls_key: {} is not the private key of the certificate in {}; give the key the certificate was issued for",
                key.display(),
                cert.display()
            )),
            other => ServerError::Config(format!(
                "tls_cert {} and tls_key {} cannot serve HTTPS ({other}); give the server's certificate (leaf first) and its private key",
                cert.display(),
                key.display()
            )),
        })?;
    // Every client of the product (the core's reqwest client, the fronts of
    // docs/deployment.md) speaks HTTP/1.1, as over plain HTTP.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of a PEM file, leaf first.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = read(path, "tls_cert")?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| not_pem(path, "tls_cert"))?;
    if chain.is_empty() {
        return Err(ServerError::Config(format!(
            "tls_cert: {} holds no certificate (-----BEGIN CERTIFICATE-----); give the server's certificate chain in PEM, leaf first",
            path.display()
        )));
    }
    Ok(chain)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = read(path, "tls_key")?;
    // The parser's own messages may quote the file: never for a key.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => ServerError::Config(format!(
            "tls_key: {} holds no private key (-----BEGIN PRIVATE KEY-----, RSA or EC); give the unencrypted PEM key of tls_cert (an encrypted key must be decrypted first)",
            path.display()
        )),
        _ => not_pem(path, "tls_key"),
    })
}

fn read(path: &Path, setting: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        ServerError::Config(format!(
            "{setting}: cannot read {}: {e}; check the path and that the server's user may read it",
            path.display()
        ))
    })
}

fn not_pem(path: &Path, setting: &str) -> ServerError {
    ServerError::Config(format!(
        "{setting}: {} is not a readable PEM file (damaged base64 or a missing END line)",
        path.display()
    ))
}

/// Serves `app` over HTTPS on `listener` until `stop` resolves, then, like
/// `axum::serve`'s graceful shutdown, stops accepting and lets the requests
/// in flight finish. Handshakes run concurrently, each with a timeout, so a
/// client that stalls in one holds nobody else up.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    tls: RustlsConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let on_stop = handle.clone();
    tokio::spawn(async move {
        stop.await;
        // No deadline: a push being applied is committed and acknowledged.
        on_stop.graceful_shutdown(None);
    });
    axum_server::from_tcp_rustls(listener.into_std()?, tls)?
        .handle(handle)
        .serve(app)
        .await
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A self-signed certificate and its key, as PEM.
    fn self_signed() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn config(cert: PathBuf, key: PathBuf) -> Config {
        Config {
            tls_cert: Some(cert),
            tls_key: Some(key),
            ..Config::default()
        }
    }

    fn error(config: &Config) -> String {
        match load(config) {
            Err(ServerError::Config(m)) => m,
            Err(other) => panic!("not a configuration error: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_certificate_and_its_key_serve_https_and_none_serves_http() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let c = config(dir.path().join("cert.pem"), dir.path().join("key.pem"));
        assert!(load(&c).unwrap().is_some());
        assert!(load(&Config::default()).unwrap().is_none());
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();

        let m = error(&config(
            dir.path().join("missing.pem"),
            dir.path().join("key.pem"),
        ));
        assert!(m.starts_with("tls_cert: cannot read"), "{m}");
        assert!(m.contains("missing.pem"), "{m}");

        let m = error(&config(
            dir.path().join("cert.pem"),
            dir.path().join("nokey"),
        ));
        assert!(m.starts_with("tls_key: cannot read"), "{m}");
        assert!(m.contains("nokey"), "{m}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("other.pem"), other_key).unwrap();
        let m = error(&config(
            dir.path().join("cert.pem"),
            dir.path().join("other.pem"),
        ));
        assert!(
            m.contains("is not the private key of the certificate"),
            "{m}"
        );
        assert!(m.contains("other.pem") && m.contains("cert.pem"), "{m}");
    }

    #[test]
    fn files_swapped_or_not_pem_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), &key).unwrap();
        let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));

        // The certificate given as the key, and the key as the certificate.
        let m = error(&config(c.clone(), c.clone()));
        assert!(
            m.starts_with("tls_key:") && m.contains("holds no private key"),
            "{m}"
        );
        let m = error(&config(k.clone(), k.clone()));
        assert!(
            m.starts_with("tls_cert:") && m.contains("holds no certificate"),
            "{m}"
        );

        // A damaged key: its message never quotes the file.
        let damaged = key.replace(&key[40..60], "!!!!!!!!!!!!!!!!!!!!");
        std::fs::write(dir.path().join("damaged.pem"), &damaged).unwrap();
        let m = error(&config(c, dir.path().join("damaged.pem")));
        assert!(m.contains("is not a readable PEM file"), "{m}");
        assert!(!m.contains("!!!"), "{m}");
    }
}
