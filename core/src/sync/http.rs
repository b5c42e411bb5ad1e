//! What the device's sync client and the supervisor's admin client share:
//! checking the server's address, building the HTTP client (with the CAs a
//! deployment adds to the built-in ones, [`ExtraRoots`]), and the one
//! blocking retry loop of plain calls (the retry decision itself is
//! [`super::retry`]'s, shared with the sync session).

use std::path::Path;
use std::time::Duration;

use super::problem::Problem;
use super::protocol::{FORMAT, FORMAT_HEADER, UNNAMED_SERVER_FORMAT, parse_format};
use super::retry::{Backoff, Failure, Replay, Retry};
use crate::{Error, Result};

/// Certificate authorities a device trusts besides the built-in ones
/// (Mozilla's roots, which every public certificate chains to): the CA of
/// a deployment that issues its own certificates, or a server's self-signed
/// certificate. The built-in roots always apply; the default adds none.
#[derive(Debug, Clone, Default)]
pub struct ExtraRoots {
    certs: Vec<reqwest::Certificate>,
}

impl ExtraRoots {
    /// The certificates of a PEM text (one or several
    /// `-----BEGIN CERTIFICATE-----` blocks); refused when it holds none,
    /// or one that cannot serve as a root.
    pub fn from_pem(pem: &[u8]) -> Result<ExtraRoots> {
        let invalid = |reason: &str| Error::invalid("ca_cert", reason);
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| {
            invalid("not a readable PEM file (damaged base64 or a missing END line)")
        })?;
        if certs.is_empty() {
            return Err(invalid(
                "holds no certificate: expected the CA's certificate in PEM (-----BEGIN CERTIFICATE-----)",
            ));
        }
        for cert in &certs {
            // reqwest checks a root only when it builds a client: check each
            // one now, without the built-in roots, so a bad file is refused
            // here rather than at the first sync.
            reqwest::Client::builder()
                .tls_built_in_root_certs(false)
                .add_root_certificate(cert.clone())
                .build()
                .map_err(|_| {
                    invalid("holds a certificate that is not a valid X.509 CA certificate")
                })?;
        }
        Ok(ExtraRoots { certs })
    }

    /// [`ExtraRoots::from_pem`] of the file at `path`.
    pub fn from_pem_file(path: &Path) -> Result<ExtraRoots> {
        let pem = std::fs::read(path).map_err(|e| {
            Error::invalid("ca_cert", format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_pem(&pem).map_err(|e| match e {
            Error::Invalid { field, reason } => Error::Invalid {
                field,
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }
}

/// Checks and normalises a server address (no trailing slash) and builds an
/// HTTP client for it whose requests give up after `timeout`, trusting the
/// built-in roots and `roots`.
pub(crate) fn connect(
    base: &str,
    timeout: Duration,
    roots: &ExtraRoots,
) -> Result<(reqwest::blocking::Client, String)> {
    let base = base.trim().trim_end_matches('/').to_string();
    check_address(&base)?;
    // Every request names the format this build reads and writes: the
    // server refuses one it no longer serves (426) before reading it.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(FORMAT_HEADER, reqwest::header::HeaderValue::from(FORMAT));
    let mut builder = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .default_headers(headers)
        .user_agent(concat!("carnet/", env!("CARGO_PKG_VERSION")));
    for cert in &roots.certs {
        builder = builder.add_root_certificate(cert.clone());
    }
    let http = builder.build().map_err(|e| Error::Network(cause(&e)))?;
    Ok((http, base))
}

/// Whether `e` is this device refusing the server's certificate (unknown
/// CA, expired, for another name): trying again cannot help, trusting the
/// right CA can.
fn untrusted_certificate(e: &reqwest::Error) -> bool {
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        if let Some(rustls::Error::InvalidCertificate(_)) = s.downcast_ref::<rustls::Error>() {
            return true;
        }
        // rustls's error reaches reqwest's inside io::Errors, whose
        // `source()` skips the error they wrap.
        next = match s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => s.source(),
        };
    }
    false
}

/// A transport error with its causes: reqwest's own message only names the
/// URL, and the reason (refused connection, untrusted certificate, timeout)
/// is in its sources.
pub(crate) fn cause(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A server address a device may talk to: `https://`, or plain `http://`
/// only to this machine (`localhost`, `127.0.0.0/8`, `[::1]`: a developer's
/// server, the demo, tests). A token and residents' data never cross a
/// network unencrypted, whatever an app or a person types.
fn check_address(base: &str) -> Result<()> {
    let url = reqwest::Url::parse(base).map_err(|_| {
        Error::invalid(
            "server",
            "expected an address such as https://carnet.example.org",
        )
    })?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(Error::invalid(
            "server",
            "plain http:// is only for a server on this machine: use the server's https:// address",
        )),
        _ => Err(Error::invalid(
            "server",
            "expected an address starting with https://",
        )),
    }
}

/// How a plain call failed in the end.
#[derive(Debug)]
pub(crate) enum Failed {
    /// No answer; `unsent` when the request surely never left.
    Transport { unsent: bool, cause: String },
    /// The server refused, with its explanation.
    Refused { status: u16, problem: Problem },
    /// The server speaks an older format ([`server_too_old`]).
    TooOld(Error),
}

impl Failed {
    /// The error a person sees when the caller has nothing more specific.
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failed::Transport { cause, .. } => Error::Network(cause),
            Failed::Refused { status, problem } => problem.into_error(status),
            Failed::TooOld(e) => e,
        }
    }
}

/// [`Error::ServerTooOld`] when the server that gave `resp` speaks an
/// older format than this build: it could misread what this app sends and
/// send what this app misreads, so its answer is not used. Answers that
/// are retried anyway (5xx, 429) are not judged: a proxy in front of the
/// server gives them without the server's header.
pub(crate) fn server_too_old(resp: &reqwest::blocking::Response) -> Option<Error> {
    let format = resp.headers().get(FORMAT_HEADER).map(|v| v.as_bytes());
    judge_server(resp.status().as_u16(), format)
}

/// [`server_too_old`] of an answer with `status` and a `Carnet-Format`
/// header `format`.
fn judge_server(status: u16, format: Option<&[u8]>) -> Option<Error> {
    if status >= 500 || status == 429 {
        return None;
    }
    let server = parse_format(format).unwrap_or(UNNAMED_SERVER_FORMAT);
    (server < FORMAT).then_some(Error::ServerTooOld {
        server,
        app: FORMAT,
    })
}

/// The `Retry-After` of a response, in seconds.
pub(crate) fn retry_after(resp: &reqwest::blocking::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// Sends the request `send` makes until it succeeds, is refused for good,
/// or runs out of attempts; returns the successful answer's body. Sleeps
/// between attempts (blocking, like every call of these clients).
pub(crate) fn call(
    retry: Retry,
    replay: Replay,
    send: impl Fn() -> reqwest::Result<reqwest::blocking::Response>,
) -> std::result::Result<Vec<u8>, Failed> {
    let mut backoff = Backoff::new(retry);
    loop {
        let (failure, failed, wait_at_least) = match send() {
            Err(e) if untrusted_certificate(&e) => {
                let cause = cause(&e);
                return Err(Failed::Transport {
                    unsent: true,
                    cause,
                });
            }
            Err(e) => {
                let unsent = e.is_connect();
                let failure = if unsent {
                    Failure::Unsent
                } else {
                    Failure::Transport
                };
                let cause = cause(&e);
                (failure, Failed::Transport { unsent, cause }, None)
            }
            Ok(resp) => {
                if let Some(e) = server_too_old(&resp) {
                    return Err(Failed::TooOld(e));
                }
                let status = resp.status().as_u16();
                let asked = retry_after(&resp);
                match (resp.status().is_success(), resp.bytes()) {
                    (true, Ok(body)) => return Ok(body.to_vec()),
                    (_, Err(e)) => {
                        let cause = cause(&e);
                        let failed = Failed::Transport {
                            unsent: false,
                            cause,
                        };
                        (Failure::Transport, failed, None)
                    }
                    (false, Ok(body)) => {
                        let problem = Problem::parse(&body);
                        (
                            Failure::Status(status),
                            Failed::Refused { status, problem },
                            asked,
                        )
                    }
                }
            }
        };
        if !replay.allows(failure) {
            return Err(failed);
        }
        match backoff.after_failure(wait_at_least) {
            Some(wait) => {
                tracing::debug!(?failure, ?wait, "request failed; retrying");
                std::thread::sleep(wait);
            }
            None => return Err(failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ExtraRoots, check_address, judge_server};
    use crate::Error;
    use crate::sync::protocol::FORMAT;

    #[test]
    fn a_server_older_than_this_app_is_refused() {
        let current = FORMAT.to_string();
        let newer = (FORMAT + 1).to_string();
        for status in [200, 206, 400, 401, 404, 410, 426] {
            assert!(judge_server(status, Some(current.as_bytes())).is_none());
            assert!(judge_server(status, Some(newer.as_bytes())).is_none());
            // No header: a server from before formats were named, format 2.
            assert!(
                matches!(
                    judge_server(status, None),
                    Some(Error::ServerTooOld { server: 2, app }) if app == FORMAT
                ),
                "{status}"
            );
            assert!(matches!(
                judge_server(status, Some(b"2")),
                Some(Error::ServerTooOld { server: 2, .. })
            ));
        }
        // What a proxy in front of the server answers, and what is retried
        // anyway, is not judged.
        for status in [429, 500, 502, 503] {
            assert!(judge_server(status, None).is_none(), "{status}");
        }
    }

    /// A CA certificate made once with `openssl req -x509 -newkey ec
    /// -pkeyopt ec_paramgen_curve:P-256 -days 36500 -subj /CN=carnet-test-ca`.
    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBijCCAS+gAwIBAgIUG7h+NWf00+jRhO5wDVrwkqcHT+owCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOY2FybmV0LXRlc3QtY2EwIBcNMjYxMjA2MjMwNzUyWhgPMjEy
NjExMTIyMzA3NTJaMBkxFzAVBgNVBAMMDmNhcm5ldC10ZXN0LWNhMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEATT0C/6JsLlRkRyMo5Uhm+qxf6uOvn//hIthTtXU
24jRNgNK0bSLVKi8QNKJ8nXAk8kmxzt5AO+DQ/n7Pup6d6NTMFEwHQYDVR0OBBYE
FORS/kbg5KBUkdRwh3RimVc36nb/MB8GA1UdIwQYMBaAFORS/kbg5KBUkdRwh3Ri
mVc36nb/MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAPxuvStF
OUwAdMjyZZldnxqrr0jRK1B4ACZOFI3PjFwIAiEAo4XiGIZk1xVlQGZ6ooNXisOO
0t+B/ylSZuKZ5fFZ+GM=
-----END CERTIFICATE-----
";

    fn refused(pem: &str) -> String {
        match ExtraRoots::from_pem(pem.as_bytes()) {
            Err(Error::Invalid { field, reason }) if field == "ca_cert" => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn extra_roots_are_certificates_and_nothing_else() {
        assert!(refused("").contains("holds no certificate"));
        assert!(
            refused("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .contains("holds no certificate")
        );
        assert!(refused("-----BEGIN CERTIFICATE-----\nAAAA\n").contains("not a readable PEM"));
        // Well-formed PEM around bytes that are not a certificate.
        let garbled = CA_PEM.replacen("MIIB", "AAAA", 1);
        assert!(
            refused(&garbled).contains("not a valid X.509"),
            "{}",
            refused(&garbled)
        );
        let roots = ExtraRoots::from_pem((CA_PEM.to_string() + CA_PEM).as_bytes()).unwrap();
        assert_eq!(roots.certs.len(), 2);
        let missing = std::path::Path::new("/nonexistent/ca.pem");
        let err = ExtraRoots::from_pem_file(missing).unwrap_err();
        assert!(
            err.to_string().contains("cannot read /nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn devices_speak_plain_http_to_this_machine_only() {
        for ok in [
            "https://carnet.example.org",
            "https://10.0.0.5:8443",
            "http://127.0.0.1:8080",
            "http://127.0.3.4",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(check_address(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://carnet.example.org",
            "http://192.168.1.20:8080",
            "http://10.0.2.2:8080",
            "ftp://carnet.example.org",
            "carnet.example.org",
            "https://",
        ] {
            let err = check_address(refused).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, .. } if field == "server"),
                "{refused}: {err}"
            );
        }
    }
}
