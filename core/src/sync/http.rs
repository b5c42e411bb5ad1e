//! What the device's sync client and the supervisor's admin client share:
//! checking the server's address, building the HTTP client, and the one
//! blocking retry loop of plain calls (the retry decision itself is
//! [`super::retry`]'s, shared with the sync session).

use std::time::Duration;

use super::problem::Problem;
use super::retry::{Backoff, Failure, Replay, Retry};
use crate::{Error, Result};

/// Checks and normalises a server address (no trailing slash) and builds an
/// HTTP client for it whose requests give up after `timeout`.
pub(crate) fn connect(
    base: &str,
    timeout: Duration,
) -> Result<(reqwest::blocking::Client, String)> {
    let base = base.trim().trim_end_matches('/').to_string();
    check_address(&base)?;
    let http = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .user_agent(concat!("carnet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Network(e.to_string()))?;
    Ok((http, base))
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
}

impl Failed {
    /// The error a person sees when the caller has nothing more specific.
    pub(crate) fn into_error(self) -> Error {
        match self {
            Failed::Transport { cause, .. } => Error::Network(cause),
            Failed::Refused { status, problem } => problem.into_error(status),
        }
    }
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
            Err(e) => {
                let unsent = e.is_connect();
                let failure = if unsent {
                    Failure::Unsent
                } else {
                    Failure::Transport
                };
                let cause = e.to_string();
                (failure, Failed::Transport { unsent, cause }, None)
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let asked = retry_after(&resp);
                match (resp.status().is_success(), resp.bytes()) {
                    (true, Ok(body)) => return Ok(body.to_vec()),
                    (_, Err(e)) => {
                        let cause = e.to_string();
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
    use super::check_address;
    use crate::Error;

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
