//! The HTTP driver of [`SyncSession`]: carries its requests with reqwest
//! (rustls), sleeps when it asks to wait, and reports its progress. What an
//! answer means (retry, revocation, wipe order, the cursors) is the
//! session's; this file only moves bytes. Enrollment and token rotation,
//! plain calls, go through the shared retry loop.
//!
//! Blocking: call it from a background thread (WorkManager, BGTaskScheduler,
//! `spawn_blocking`), never from a UI thread or inside an async runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::http::{ExtraRoots, Failed, call, cause, retry_after, server_too_old};
pub use super::protocol::Progress;
use super::protocol::{Request, SyncSummary, UPTO_HEADER};
use super::retry::Replay;
pub use super::retry::Retry;
use super::session::{Effect, Event, Response, SyncOptions, SyncSession};
use super::wire::CONTENT_TYPE;
use crate::photo::{BlobTransfer, PhotoHash, Variant};
use crate::{Error, RecordId, Result, Role, Store, TeamConfig};

/// How long a photo no record names any more stays on the device before
/// its bytes are deleted: a week, so that an edit that drops a photo on one
/// phone and another that keeps it, made the same day, settle first.
pub const PHOTO_GRACE_MS: i64 = 7 * 24 * 3600 * 1000;

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

/// A client for one server.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    retry: Retry,
}

/// How often a wait checks whether the sync was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(50);

impl Client {
    /// A client for the server at `base` (e.g. `https://carnet.example.org`).
    pub fn new(base: &str) -> Result<Client> {
        Self::trusting(base, &ExtraRoots::default())
    }

    /// Like [`Client::new`], for a server whose certificate chains to one of
    /// `roots` (a deployment's own CA) rather than to a public one.
    pub fn trusting(base: &str, roots: &ExtraRoots) -> Result<Client> {
        let (http, base) = super::http::connect(base, Duration::from_secs(60), roots)?;
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
        // The same code sent again within minutes returns the same device.
        let answer = call(self.retry, Replay::Safe, || {
            self.http
                .post(format!("{}/v1/enroll", self.base))
                .json(&body)
                .send()
        })
        .map_err(Failed::into_error)?;
        serde_json::from_slice(&answer)
            .map_err(|_| Error::Network("the server's enrollment answer is unreadable".into()))
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
        let answer = call(self.retry, Replay::OnlyIfUnsent, || {
            self.http
                .post(format!("{}/v1/auth/rotate", self.base))
                .header("authorization", &auth)
                .send()
        })
        .map_err(|failed| match failed {
            Failed::Transport {
                unsent: false,
                cause,
            } => lost_rotation(cause),
            other => other.into_error(),
        })?;
        serde_json::from_slice::<Rotated>(&answer)
            .map(|r| r.token)
            .map_err(|e| lost_rotation(e.to_string()))
    }

    /// Syncs `store` with the server: pushes what the server lacks, pulls
    /// what the device lacks. `progress` is called after every answered
    /// request and once with [`super::Phase::Done`]; `cancel` is checked
    /// before each request and while waiting to retry. A wipe order erases
    /// the store and returns [`Error::Wiped`].
    pub fn sync(
        &self,
        store: &Store,
        token: &str,
        progress: &mut dyn FnMut(&Progress),
        cancel: &AtomicBool,
    ) -> Result<SyncSummary> {
        let session = SyncSession::new(SyncOptions {
            retry: self.retry,
            ..SyncOptions::default()
        });
        let summary = self.run(session, store, token, progress, cancel)?;
        // Photos no record names any more (their record was edited away on
        // another device), a week on: their bytes leave the phone.
        store.collect_photos(PHOTO_GRACE_MS, crate::now_ms())?;
        Ok(summary)
    }

    /// Drives `session` over HTTP to its end.
    fn run(
        &self,
        mut session: SyncSession,
        store: &Store,
        token: &str,
        progress: &mut dyn FnMut(&Progress),
        cancel: &AtomicBool,
    ) -> Result<SyncSummary> {
        let auth = format!("Bearer {}", token.trim());
        let mut event = Event::Start;
        loop {
            let mut next = None;
            for effect in session.handle(store, event) {
                match effect {
                    Effect::Progress(p) => progress(&p),
                    Effect::Finished(result) => return result,
                    Effect::Send { .. } | Effect::Wait(_) if cancel.load(Ordering::Relaxed) => {
                        next = Some(Event::Cancel)
                    }
                    Effect::Send { id, request } => next = Some(self.carry(id, &request, &auth)?),
                    Effect::Wait(wait) => next = Some(sleep(wait, cancel)),
                }
            }
            event = next.ok_or_else(|| {
                Error::Internal("the sync session stopped without finishing".into())
            })?;
        }
    }

    /// Downloads the full image of `photo` of record `id` (one that the
    /// sync brought only as a thumbnail), resuming what an earlier attempt
    /// left; afterwards [`Store::photo`] gives it. A photo already here
    /// costs nothing.
    pub fn fetch_photo(
        &self,
        store: &Store,
        token: &str,
        id: RecordId,
        photo: PhotoHash,
        progress: &mut dyn FnMut(&Progress),
        cancel: &AtomicBool,
    ) -> Result<SyncSummary> {
        let Some(info) = store
            .photos(id)?
            .into_iter()
            .find(|p| p.photo.hash == photo)
        else {
            return Err(Error::PhotoNotFound(photo));
        };
        let blobs = if info.has_full {
            Vec::new()
        } else {
            vec![BlobTransfer {
                photo,
                blob: photo,
                variant: Variant::Full,
                size: info.photo.size,
            }]
        };
        let session = SyncSession::fetch_photos(
            SyncOptions {
                retry: self.retry,
                ..SyncOptions::default()
            },
            blobs,
        );
        self.run(session, store, token, progress, cancel)
    }

    /// Sends one request of the session and tells it what came back; an
    /// answer from a server older than this app ends the sync here, before
    /// the session uses it (the cursors stay where they were).
    fn carry(&self, id: super::session::RequestId, request: &Request, auth: &str) -> Result<Event> {
        let url = format!("{}{}", self.base, request.path());
        let builder = match request {
            Request::Push { body, .. } => self
                .http
                .post(url)
                .header("content-type", CONTENT_TYPE)
                .body(body.clone()),
            Request::PhotoUpload { body, .. } => self
                .http
                .put(url)
                .header("content-type", "application/octet-stream")
                .body(body.clone()),
            Request::Pull { .. } | Request::PhotoStatus { .. } | Request::PhotoDownload { .. } => {
                self.http.get(url)
            }
        };
        let builder = match request.range() {
            Some(range) => builder.header("range", range),
            None => builder,
        };
        let failed = |unsent: bool, e: reqwest::Error| Event::TransportFailed {
            id,
            unsent,
            error: cause(&e),
        };
        Ok(match builder.header("authorization", auth).send() {
            Err(e) => failed(e.is_connect(), e),
            Ok(resp) => {
                if let Some(e) = server_too_old(&resp) {
                    return Err(e);
                }
                let status = resp.status().as_u16();
                let retry_after = retry_after(&resp);
                let upto = resp
                    .headers()
                    .get(UPTO_HEADER)
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                match resp.bytes() {
                    Ok(body) => Event::Response {
                        id,
                        response: Response {
                            status,
                            body: body.to_vec(),
                            retry_after,
                            upto,
                        },
                    },
                    Err(e) => failed(false, e),
                }
            }
        })
    }
}

/// Sleeps `wait`, waking early if `cancel` is set.
fn sleep(wait: Duration, cancel: &AtomicBool) -> Event {
    let until = Instant::now() + wait;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Event::Cancel;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Event::TimerFired;
        }
        std::thread::sleep(left.min(CANCEL_POLL));
    }
}

/// A rotation whose answer did not arrive: the old token may be dead.
fn lost_rotation(cause: String) -> Error {
    Error::Network(format!(
        "the answer to the token rotation was lost ({cause}); if the device is now refused, enroll it again"
    ))
}
