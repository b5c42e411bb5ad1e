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
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Error::invalid(
            "server",
            "expected an address starting with https:// (or http:// on a local network)",
        ));
    }
    let http = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .user_agent(concat!("carnet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Network(e.to_string()))?;
    Ok((http, base))
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
