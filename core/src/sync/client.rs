//! The HTTP driver of [`SyncSession`]: carries its requests with reqwest
//! (rustls), retries what failed with backoff, reports progress, and honours
//! the server's revocation and wipe orders.
//!
//! Blocking: call it from a background thread (WorkManager, BGTaskScheduler,
//! `spawn_blocking`), never from a UI thread or inside an async runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::Problem;
use super::protocol::{PushAck, Request, SyncSession, SyncSummary};
use super::wire::CONTENT_TYPE;
use crate::{Error, Result, Role, Store, TeamConfig};

/// Where a sync stands, for a progress bar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// `push`, `pull` or `done`.
    pub phase: String,
    /// Entries pushed so far.
    pub pushed: u64,
    /// Entries pulled so far.
    pub pulled: u64,
    /// Bytes sent and received so far.
    pub bytes: u64,
}

/// What enrollment returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrollment {
    /// The device's secret token.
    pub token: String,
    /// The device's id on the server.
    pub device_id: String,
    /// The team's id.
    pub team_id: String,
    /// What the device may do.
    pub role: Role,
    /// The team's configuration.
    pub config: TeamConfig,
}

/// Retry policy for one request.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts before giving up (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub first_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// A client for one server.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    retry: Retry,
}

enum Attempt<T> {
    Done(T),
    Retry(Error),
}

impl Client {
    /// A client for the server at `base` (e.g. `https://carnet.example.org`).
    pub fn new(base: &str) -> Result<Client> {
        let (http, base) = super::http::connect(base, Duration::from_secs(60))?;
        Ok(Client {
            http,
            base,
            retry: Retry::default(),
        })
    }

    /// Changes the retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Exchanges a one-time enrollment code for a device token. `actor` is
    /// the automerge actor of the store the device will sync
    /// ([`Store::peer_id`]): the server binds the device to it, so that
    /// every change in the team log names the device that wrote it (without
    /// it, the server binds the actor of the device's first push).
    pub fn enroll(&self, code: &str, name: &str, actor: Option<&str>) -> Result<Enrollment> {
        let mut body = serde_json::json!({"code": code.trim(), "name": name});
        if let Some(actor) = actor {
            body["actor"] = serde_json::Value::String(actor.to_string());
        }
        self.with_retries(|| {
            let resp = self
                .http
                .post(format!("{}/v1/enroll", self.base))
                .json(&body)
                .send();
            let resp = match resp {
                Ok(r) => r,
                Err(e) => return Ok(Attempt::Retry(Error::Network(e.to_string()))),
            };
            let resp = check(resp, None)?;
            match resp {
                Err(e) => Ok(Attempt::Retry(e)),
                Ok(r) => r
                    .json::<Enrollment>()
                    .map(Attempt::Done)
                    .or_else(|e| Ok(Attempt::Retry(Error::Network(e.to_string())))),
            }
        })
    }

    /// Swaps the device's token for a new one (`POST /v1/auth/rotate`) and
    /// returns it; `token` stops working at once, so save the new one
    /// before anything else. Not retried once the request may have reached
    /// the server: a second rotation would be refused with the token the
    /// first one revoked. If the answer is lost, the device must enroll
    /// again.
    pub fn rotate_token(&self, token: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct Rotated {
            token: String,
        }
        let auth = format!("Bearer {}", token.trim());
        self.with_retries(|| {
            let resp = self
                .http
                .post(format!("{}/v1/auth/rotate", self.base))
                .header("authorization", &auth)
                .send();
            let resp = match resp {
                Ok(r) => r,
                // Nothing reached the server: safe to try again.
                Err(e) if e.is_connect() => {
                    return Ok(Attempt::Retry(Error::Network(e.to_string())));
                }
                Err(e) => return Err(lost_rotation(e.to_string())),
            };
            let resp = match check(resp, None)? {
                Ok(r) => r,
                Err(e @ Error::Server { status: 429, .. }) => return Ok(Attempt::Retry(e)),
                Err(e) => return Err(e),
            };
            resp.json::<Rotated>()
                .map(|r| Attempt::Done(r.token))
                .map_err(|e| lost_rotation(e.to_string()))
        })
    }

    /// Syncs `store` with the server: pushes what the server lacks, pulls
    /// what the device lacks. `progress` is called after every request;
    /// `cancel` is checked between requests. A wipe order erases the store
    /// and returns [`Error::Wiped`].
    pub fn sync(
        &self,
        store: &Store,
        token: &str,
        progress: &mut dyn FnMut(&Progress),
        cancel: &AtomicBool,
    ) -> Result<SyncSummary> {
        let mut session = SyncSession::new(store);
        let auth = format!("Bearer {}", token.trim());
        while let Some(req) = session.next_request()? {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let phase = match &req {
                Request::Push { body, .. } => {
                    let len = body.len();
                    let (ack, resp_len): (PushAck, usize) = self.with_retries(|| {
                        let r = self
                            .http
                            .post(format!("{}/v1/sync/push", self.base))
                            .header("authorization", &auth)
                            .header("content-type", CONTENT_TYPE)
                            .body(body.clone())
                            .send();
                        let r = match r {
                            Ok(r) => r,
                            Err(e) => return Ok(Attempt::Retry(Error::Network(e.to_string()))),
                        };
                        match check(r, Some(store))? {
                            Err(e) => Ok(Attempt::Retry(e)),
                            Ok(r) => match r.bytes() {
                                Ok(b) => match serde_json::from_slice(&b) {
                                    Ok(ack) => Ok(Attempt::Done((ack, b.len()))),
                                    Err(_) => Ok(Attempt::Retry(Error::Network(
                                        "unreadable push acknowledgement".into(),
                                    ))),
                                },
                                Err(e) => Ok(Attempt::Retry(Error::Network(e.to_string()))),
                            },
                        }
                    })?;
                    session.on_push_ack(&ack, len, resp_len)?;
                    "push"
                }
                Request::Pull { after, max_bytes } => {
                    let url = format!(
                        "{}/v1/sync/pull?after={after}&max_bytes={max_bytes}",
                        self.base
                    );
                    let body = self.with_retries(|| {
                        let r = match self.http.get(&url).header("authorization", &auth).send() {
                            Ok(r) => r,
                            Err(e) => return Ok(Attempt::Retry(Error::Network(e.to_string()))),
                        };
                        match check(r, Some(store))? {
                            Err(e) => Ok(Attempt::Retry(e)),
                            Ok(r) => match r.bytes() {
                                Ok(b) => Ok(Attempt::Done(b.to_vec())),
                                Err(e) => Ok(Attempt::Retry(Error::Network(e.to_string()))),
                            },
                        }
                    })?;
                    // A truncated or corrupted body fails to decode and changes
                    // nothing; the next sync asks for the same page again.
                    session.on_pull_body(&body, 0)?;
                    "pull"
                }
            };
            let s = session.summary();
            progress(&Progress {
                phase: phase.into(),
                pushed: s.pushed as u64,
                pulled: s.pulled as u64,
                bytes: s.bytes_sent + s.bytes_received,
            });
        }
        let summary = session.finish();
        progress(&Progress {
            phase: "done".into(),
            pushed: summary.pushed as u64,
            pulled: summary.pulled as u64,
            bytes: summary.bytes_sent + summary.bytes_received,
        });
        Ok(summary)
    }

    fn with_retries<T>(&self, mut f: impl FnMut() -> Result<Attempt<T>>) -> Result<T> {
        let mut wait = self.retry.first_backoff;
        let mut last = Error::Network("no attempt made".into());
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
            match f()? {
                Attempt::Done(v) => return Ok(v),
                Attempt::Retry(e) => {
                    tracing::debug!(attempt, error = %e, "sync request failed; retrying");
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// A rotation whose answer did not arrive: the old token may be dead.
fn lost_rotation(cause: String) -> Error {
    Error::Network(format!(
        "the answer to the token rotation was lost ({cause}); if the device is now refused, enroll it again"
    ))
}

/// Sorts a response into: success, a failure worth retrying (5xx, 429), or a
/// final error (the outer `Err`). A wipe order erases the store first.
fn check(
    resp: reqwest::blocking::Response,
    store: Option<&Store>,
) -> Result<Result<reqwest::blocking::Response>> {
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(Ok(resp));
    }
    let problem = Problem::of(resp);
    match status {
        401 => Err(Error::Unauthorized),
        410 if problem.kind.ends_with("wipe") => {
            if let Some(s) = store {
                s.wipe()?;
            }
            Err(Error::Wiped)
        }
        429 | 500..=599 => Ok(Err(Error::Server {
            status,
            detail: problem.detail,
        })),
        _ => Err(Error::Server {
            status,
            detail: problem.detail,
        }),
    }
}
