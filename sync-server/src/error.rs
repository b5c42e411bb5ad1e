//! The server's one error type, and how it becomes an HTTP answer.
//!
//! Every failure is a [`ServerError`]. On the wire it is an RFC 9457 problem
//! (`application/problem+json`): clients branch on `status` and `type`, people
//! read `title` and `detail`. Details name what to fix and never carry a
//! resident's data; internal failures are logged here (ids and causes only)
//! and reach the client as a bare 500 with no internals.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Prefix of every problem `type`; the suffix names the problem.
pub const PROBLEM_BASE: &str = "https://carnet.invalid/problems/";

/// Every failure of the server, as callers and clients see it.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A malformed or unverifiable request; nothing was changed.
    #[error("{0}")]
    BadRequest(String),
    /// The enrollment code is unknown, already used, or expired.
    #[error(
        "the enrollment code is unknown, already used or expired; ask a supervisor for a new one"
    )]
    InvalidCode,
    /// Missing, unknown or revoked token.
    #[error("missing, unknown or revoked device token; enroll the device again")]
    Unauthorized,
    /// The token's role may not use this route.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such route, team, device or record (in the caller's team).
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what the server holds (e.g. a store already
    /// enrolled as another device); the detail says what to do.
    #[error("{0}")]
    Conflict(String),
    /// No live record of the caller's team references this photo: the
    /// server takes no bytes for it (a device pushes the record first).
    #[error("no record of the team references this photo; sync the record first")]
    PhotoUnreferenced,
    /// The photo was erased (removed from its record, or its record
    /// erased): its bytes are gone and are not taken again.
    #[error("this photo was erased; its bytes are not kept")]
    PhotoErased,
    /// The photo is referenced but not (completely) uploaded yet.
    #[error("the server does not have this photo yet; try again at the next sync")]
    PhotoMissing,
    /// An upload resumed at another offset than the bytes the server holds;
    /// the problem carries `received`, where to resume.
    #[error("the server holds {received} bytes of this photo: resume the upload from there")]
    PhotoOffset {
        /// Bytes of the photo the server holds.
        received: u64,
    },
    /// More bytes than the photo's reference says, or than the team allows
    /// for one photo.
    #[error(
        "this photo would be {size} bytes, more than {limit} allowed; nothing past that is kept"
    )]
    PhotoTooLarge {
        /// Bytes the photo would have.
        size: u64,
        /// Bytes allowed.
        limit: u64,
    },
    /// The team's photos fill their quota on the server.
    #[error(
        "the team's photos use {used} of {quota} bytes allowed on the server; remove photos or ask the operator for a larger quota"
    )]
    PhotoQuota {
        /// Bytes the team's photos use (uploads in progress included).
        used: u64,
        /// The team's quota.
        quota: u64,
    },
    /// The uploaded bytes are not the photo its hash names, or not an
    /// image: dropped, the upload starts over.
    #[error("{0}")]
    PhotoCorrupt(String),
    /// The device was ordered wiped by a supervisor.
    #[error("this device was ordered wiped: erase its local store, then enroll again")]
    WipeOrdered,
    /// A device route asked without `Carnet-Format`, or with a format older
    /// than the server's `MIN_FORMAT`: the app must be updated. Nothing of
    /// the request was read.
    #[error(
        "This app is too old for your team's server: update Carnet, then sync again. Nothing was lost: your notes stay on this phone."
    )]
    UpdateRequired,
    /// Too many requests for this token; retry after the given seconds.
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
    /// The configuration is invalid (startup only).
    #[error("configuration: {0}")]
    Config(String),
    /// A failure of the core (store, documents, validation).
    #[error(transparent)]
    Core(#[from] carnet_core::Error),
    /// A failure of the server's own database.
    #[error("server database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL database failed or could not be reached; the error
    /// is the source (a database may quote values in its details).
    #[error("the server's database is unavailable or failed; retry later")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A file or socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// `migrate-storage` refused or failed a team (the logs diverged, or
    /// the copy did not verify); the detail names the team and why.
    #[error("migrate-storage: {0}")]
    Migration(String),
    /// A bug, caught before it could take the server down.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    /// A refused push: how many of its erasures the rules refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_erasures: Option<usize>,
    /// A refused push: how many of its changes the rules refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    refused_changes: Option<usize>,
    /// A photo upload at the wrong offset: the bytes the server holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    received: Option<u64>,
    /// The detail in French, for an app too old to have its own words for
    /// the problem (only `update-required`: the one answer such an app
    /// cannot translate, since it predates it).
    #[serde(skip_serializing_if = "Option::is_none")]
    detail_fr: Option<&'static str>,
}

/// [`ServerError::UpdateRequired`]'s detail in French.
pub const UPDATE_REQUIRED_FR: &str = "Cette application est trop ancienne pour le serveur de votre équipe : mettez Carnet à jour, puis synchronisez à nouveau. Rien n'est perdu : vos notes restent sur ce téléphone.";

impl ServerError {
    /// The HTTP status, the problem's short name and its title.
    pub fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        use carnet_core::Error as C;
        match self {
            ServerError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Malformed or unverifiable request",
            ),
            ServerError::InvalidCode => (
                StatusCode::BAD_REQUEST,
                "invalid-code",
                "Invalid enrollment code",
            ),
            ServerError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Device not enrolled or revoked",
            ),
            ServerError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for this role",
            ),
            ServerError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ServerError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ServerError::WipeOrdered => (StatusCode::GONE, "wipe", "Wipe ordered"),
            ServerError::PhotoUnreferenced => (
                StatusCode::NOT_FOUND,
                "photo-unreferenced",
                "No record references this photo",
            ),
            ServerError::PhotoErased => (StatusCode::GONE, "photo-erased", "Photo erased"),
            ServerError::PhotoMissing => (
                StatusCode::NOT_FOUND,
                "photo-missing",
                "Photo not uploaded yet",
            ),
            ServerError::PhotoOffset { .. } => (
                StatusCode::CONFLICT,
                "photo-offset",
                "Upload offset does not match",
            ),
            ServerError::PhotoTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "photo-too-large",
                "Photo too large",
            ),
            ServerError::PhotoQuota { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "photo-quota",
                "Photo quota exceeded",
            ),
            ServerError::PhotoCorrupt(_) => (
                StatusCode::BAD_REQUEST,
                "photo-corrupt",
                "Photo bytes do not match",
            ),
            ServerError::Core(C::TooLarge { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Body too large")
            }
            ServerError::UpdateRequired => (
                StatusCode::UPGRADE_REQUIRED,
                "update-required",
                "Update Carnet to sync with this server",
            ),
            ServerError::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            ServerError::Core(C::Refused { .. }) => (
                StatusCode::FORBIDDEN,
                "refused",
                "Changes this device may not make",
            ),
            ServerError::Core(
                C::RejectedChanges(_) | C::Invalid { .. } | C::InvalidTransition { .. },
            ) => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Malformed or unverifiable request",
            ),
            ServerError::Core(C::NotFound(_)) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ServerError::Core(C::Erased(_)) => (StatusCode::NOT_FOUND, "erased", "Record erased"),
            ServerError::Storage(_) | ServerError::Core(C::Backend(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Database unavailable",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }
}

/// Builds a problem response; also used for errors raised outside handlers
/// (unknown routes, body limits, timeouts, panics).
pub fn problem(status: StatusCode, name: &str, title: &str, detail: String) -> Response {
    problem_response(Problem {
        kind: format!("{PROBLEM_BASE}{name}"),
        title,
        status: status.as_u16(),
        detail,
        refused_erasures: None,
        refused_changes: None,
        received: None,
        detail_fr: None,
    })
}

fn problem_response(body: Problem<'_>) -> Response {
    let status = StatusCode::from_u16(body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, json).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let (status, name, title) = self.classify();
        let detail = if status.is_server_error() {
            // The cause is for the operator's log, not for the client.
            tracing::error!(error = %self, "request failed");
            "the server failed; retrying the request is safe".to_string()
        } else {
            self.to_string()
        };
        let (refused_erasures, refused_changes) = match &self {
            ServerError::Core(carnet_core::Error::Refused {
                erasures, changes, ..
            }) => (Some(*erasures), Some(*changes)),
            _ => (None, None),
        };
        let mut resp = problem_response(Problem {
            kind: format!("{PROBLEM_BASE}{name}"),
            title,
            status: status.as_u16(),
            detail,
            refused_erasures,
            refused_changes,
            received: match &self {
                ServerError::PhotoOffset { received } => Some(*received),
                _ => None,
            },
            detail_fr: matches!(self, ServerError::UpdateRequired).then_some(UPDATE_REQUIRED_FR),
        });
        if let ServerError::RateLimited(secs) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// Result type of the server.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;
