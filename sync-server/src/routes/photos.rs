//! `/v1/photos/{blob}`: photos' bytes, apart from the change feed, so that
//! the text of a shift's records never waits behind a slow upload. A blob
//! is a full image or a thumbnail, named by the SHA-256 of its bytes; the
//! server takes bytes only for a blob a live record of the caller's team
//! references, at the offset it holds (an upload cut anywhere resumes
//! there), checks the whole blob (size, hash, a real image) before anyone
//! can read it, and never takes or serves an erased photo's bytes.
//!
//! Photos are the team's working material, not a resident's record read:
//! uploads and downloads are logged at debug level with hashes only, never
//! content, and are not in the access log.

use std::pin::Pin;

use axum::Json;
use axum::body::{Body, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carnet_core::photo::process::check_image;
use carnet_core::photo::{BlobStatus, PhotoHash};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Authed;
use crate::error::{ServerError, problem};
use crate::metrics::Metrics;
use crate::storage::{BlobState, StorageError};

/// Bytes one upload request may carry (a device sends less, 256 KiB by
/// default): a request is short, so that a cut loses little time.
pub const MAX_UPLOAD_REQUEST: usize = 1 << 20;

/// Bytes gathered from a request body before they are appended (and
/// synced): network frames are a few KiB, a sync per frame would be slow.
/// What arrived is appended when the body ends or breaks, so nothing that
/// arrived is lost by gathering.
const APPEND_BYTES: usize = 128 * 1024;

/// An upload request longer than [`MAX_UPLOAD_REQUEST`].
fn too_long_request() -> ServerError {
    ServerError::BadRequest(format!(
        "an upload request carries at most {MAX_UPLOAD_REQUEST} bytes; send the photo in several requests (what arrived within that is kept)"
    ))
}

/// The blob a path names; a clear 400 otherwise.
fn blob_of(path: &str) -> Result<PhotoHash, ServerError> {
    PhotoHash::parse(path).map_err(|_| {
        ServerError::BadRequest(
            "a photo is named by 64 hexadecimal digits, the SHA-256 of its bytes".into(),
        )
    })
}

/// A blob the team's log references: its size as the reference says.
/// Erased → 410, unreferenced → 404.
fn referenced_size(status: BlobStatus) -> Result<u64, ServerError> {
    match status {
        BlobStatus::Referenced { size, .. } => Ok(size),
        BlobStatus::Erased => Err(ServerError::PhotoErased),
        BlobStatus::Unknown => Err(ServerError::PhotoUnreferenced),
    }
}

/// `GET /v1/photos/{blob}/upload`: how much of the blob the server holds,
/// where the device resumes.
pub async fn upload_status(
    State(state): State<AppState>,
    Authed(device): Authed,
    Path(blob): Path<String>,
) -> Result<Json<BlobState>, ServerError> {
    let blob = blob_of(&blob)?;
    let storage = state.storage.clone();
    let team = device.team_id.clone();
    let held = state
        .blocking(move || {
            referenced_size(storage.photo_blob_status(&team, &blob)?)?;
            Ok(storage.blobs().state(&team, &blob)?)
        })
        .await?;
    tracing::debug!(team = %device.team_id, device = %device.id, blob = %blob, received = held.received, complete = held.complete, "photo upload status");
    Ok(Json(held))
}

/// Query of an upload.
#[derive(Deserialize)]
pub struct UploadParams {
    offset: u64,
}

/// What an upload request may do, once checked.
enum Upload {
    /// The blob is complete already: nothing to take.
    Done(BlobState),
    /// Bytes are taken from `offset` up to `size`; the whole blob must be
    /// an image whose sides fit `max_side`.
    Take { size: u64, max_side: u32 },
}

/// `PUT /v1/photos/{blob}/upload?offset=N`: appends the body at `offset`,
/// as it arrives; completes the blob when it holds the referenced size.
pub async fn upload(
    State(state): State<AppState>,
    Authed(device): Authed,
    Path(blob): Path<String>,
    params: Result<Query<UploadParams>, QueryRejection>,
    body: Body,
) -> Result<Json<BlobState>, ServerError> {
    let blob = blob_of(&blob)?;
    let Query(UploadParams { offset }) = params.map_err(|_| {
        ServerError::BadRequest(
            "expected ?offset=N, the bytes of the photo the server holds (GET …/upload says how many)"
                .into(),
        )
    })?;
    // A length announced beyond the bounds is refused before anything is
    // read (a body without one is checked as it arrives).
    let announced = body.size_hint().exact();
    if announced.is_some_and(|n| n > MAX_UPLOAD_REQUEST as u64) {
        return Err(too_long_request());
    }
    let team = device.team_id.clone();
    let (storage, quota) = (state.storage.clone(), state.config.photo_quota_bytes);
    let checked = state
        .blocking(move || {
            let size = referenced_size(storage.photo_blob_status(&team, &blob)?)?;
            let photos = storage
                .team_reads(&team)?
                .config()
                .map_err(|e| match e {
                    carnet_dashboard::DashboardError::Core(c) => ServerError::Core(c),
                    other => ServerError::Internal(other.to_string()),
                })?
                .photos;
            if size > photos.max_photo_bytes {
                return Err(ServerError::PhotoTooLarge {
                    size,
                    limit: photos.max_photo_bytes,
                });
            }
            let blobs = storage.blobs();
            let held = blobs.state(&team, &blob)?;
            if held.complete {
                return Ok(Upload::Done(held));
            }
            if offset != held.received {
                return Err(ServerError::PhotoOffset {
                    received: held.received,
                });
            }
            if let Some(n) = announced
                && offset.saturating_add(n) > size
            {
                return Err(ServerError::PhotoTooLarge {
                    size: offset.saturating_add(n),
                    limit: size,
                });
            }
            let used = blobs.usage(&team)?;
            if used.saturating_add(size.saturating_sub(held.received)) > quota {
                return Err(ServerError::PhotoQuota { used, quota });
            }
            Ok(Upload::Take {
                size,
                max_side: photos.max_side.max(photos.thumb_side),
            })
        })
        .await?;
    let (size, max_side) = match checked {
        Upload::Done(held) => {
            tracing::debug!(team = %device.team_id, device = %device.id, blob = %blob, "photo upload: already complete");
            return Ok(Json(held));
        }
        Upload::Take { size, max_side } => (size, max_side),
    };
    // On a task of its own: a connection cut mid-body drops this handler,
    // and what arrived must still be appended.
    let receiving = Receiving {
        state: state.clone(),
        team: device.team_id.clone(),
        blob,
        size,
        at: offset,
    };
    let result = tokio::spawn(receiving.run(body, max_side))
        .await
        .map_err(|_| ServerError::Internal("a photo upload task failed".into()))?;
    match &result {
        Ok(held) => tracing::debug!(
            team = %device.team_id, device = %device.id, blob = %blob, offset,
            received = held.received, complete = held.complete, "photo upload"
        ),
        Err(e) => tracing::debug!(
            team = %device.team_id, device = %device.id, blob = %blob, offset, error = %e,
            "photo upload stopped"
        ),
    }
    result.map(Json)
}

/// An upload request's body being appended to its blob.
struct Receiving {
    state: AppState,
    team: String,
    blob: PhotoHash,
    /// The referenced size.
    size: u64,
    /// The bytes held so far.
    at: u64,
}

impl Receiving {
    /// Reads the body to its end, appending as it goes; completes the blob
    /// when it holds `size`. A body that breaks keeps what arrived.
    async fn run(mut self, mut body: Body, max_side: u32) -> Result<BlobState, ServerError> {
        let mut gathered: Vec<u8> = Vec::with_capacity(APPEND_BYTES);
        let mut sent = 0usize;
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
            let data = match frame {
                None => break,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers
                },
                Some(Err(_)) => {
                    // Cut: keep what arrived; the device asks where it stands.
                    self.append(std::mem::take(&mut gathered)).await?;
                    return Err(ServerError::BadRequest(
                        "the request body was cut; what arrived is kept: ask where the upload stands and resume".into(),
                    ));
                }
            };
            sent += data.len();
            if sent > MAX_UPLOAD_REQUEST {
                self.append(std::mem::take(&mut gathered)).await?;
                return Err(too_long_request());
            }
            let total = self.at + (gathered.len() + data.len()) as u64;
            if total > self.size {
                self.append(std::mem::take(&mut gathered)).await?;
                return Err(ServerError::PhotoTooLarge {
                    size: total,
                    limit: self.size,
                });
            }
            gathered.extend_from_slice(&data);
            if gathered.len() >= APPEND_BYTES {
                self.append(std::mem::take(&mut gathered)).await?;
            }
        }
        self.append(gathered).await?;
        if self.at < self.size {
            return Ok(BlobState {
                received: self.at,
                complete: false,
            });
        }
        self.complete(max_side).await?;
        Ok(BlobState {
            received: self.at,
            complete: true,
        })
    }

    /// Appends `bytes` at the offset held.
    async fn append(&mut self, bytes: Vec<u8>) -> Result<(), ServerError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let n = bytes.len() as u64;
        let (blobs, team, blob, at) = (
            self.state.storage.blobs(),
            self.team.clone(),
            self.blob,
            self.at,
        );
        self.at = self
            .state
            .blocking(move || Ok(blobs.append(&team, &blob, at, &bytes)?))
            .await?;
        Metrics::add(&self.state.metrics.photo_bytes_in, n);
        Ok(())
    }

    /// Completes the blob: still not erased, its SHA-256 its name, a real
    /// image; else its bytes are dropped.
    async fn complete(&self, max_side: u32) -> Result<(), ServerError> {
        let (storage, team, blob) = (self.state.storage.clone(), self.team.clone(), self.blob);
        let metrics = self.state.metrics.clone();
        self.state
            .heavy(move || {
                let blobs = storage.blobs();
                if storage.photo_blob_status(&team, &blob)? == BlobStatus::Erased {
                    // Erased while it was being uploaded.
                    blobs.delete(&team, &blob)?;
                    Metrics::add(&metrics.photos_deleted, 1);
                    return Err(ServerError::PhotoErased);
                }
                let is_image = |bytes: &[u8]| {
                    check_image(bytes, max_side).map(|_| ()).map_err(|e| {
                        StorageError::PhotoCorrupt(format!(
                            "the bytes received are not a photo the team takes ({e}); they were dropped"
                        ))
                    })
                };
                Ok(blobs.complete(&team, &blob, &is_image)?)
            })
            .await
    }
}

/// `GET /v1/photos/{blob}`: a complete blob's bytes, or from `Range:
/// bytes=N-` on (206), so that a cut download resumes.
pub async fn download(
    State(state): State<AppState>,
    Authed(device): Authed,
    Path(blob): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ServerError> {
    let blob = blob_of(&blob)?;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (storage, team) = (state.storage.clone(), device.team_id.clone());
    let served = state
        .blocking(move || {
            referenced_size(storage.photo_blob_status(&team, &blob)?).map_err(|e| match e {
                ServerError::PhotoUnreferenced => ServerError::PhotoMissing,
                other => other,
            })?;
            let blobs = storage.blobs();
            let size = blobs.size(&team, &blob)?.ok_or(ServerError::PhotoMissing)?;
            let Some((start, end)) = byte_range(range.as_deref(), size) else {
                return Ok(Served::Unsatisfiable(size));
            };
            let bytes = blobs
                .read(&team, &blob, start, (end - start) as usize)?
                .ok_or(ServerError::PhotoMissing)?;
            let partial = range.is_some() && (start, end) != (0, size);
            let png = if start == 0 {
                bytes.starts_with(PNG)
            } else {
                blobs
                    .read(&team, &blob, 0, PNG.len())?
                    .is_some_and(|b| b.starts_with(PNG))
            };
            Ok(Served::Bytes {
                bytes,
                start,
                size,
                partial,
                png,
            })
        })
        .await?;
    let (bytes, start, size, partial, png) = match served {
        Served::Unsatisfiable(size) => {
            let mut resp = problem(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "bad-range",
                "Range not satisfiable",
                format!("the photo has {size} bytes; ask for a range within them"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
        Served::Bytes {
            bytes,
            start,
            size,
            partial,
            png,
        } => (bytes, start, size, partial, png),
    };
    Metrics::add(&state.metrics.photo_bytes_out, bytes.len() as u64);
    tracing::debug!(team = %device.team_id, device = %device.id, blob = %blob, start, bytes = bytes.len(), "photo download");
    let content_type = if png { "image/png" } else { "image/jpeg" };
    let last = (start + bytes.len() as u64).saturating_sub(1);
    let mut resp = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store"),
            (header::ACCEPT_RANGES, "bytes"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Body::from(bytes),
    )
        .into_response();
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{last}/{size}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// What a download serves.
enum Served {
    Bytes {
        bytes: Vec<u8>,
        start: u64,
        size: u64,
        partial: bool,
        /// A PNG (else a JPEG): the content type.
        png: bool,
    },
    Unsatisfiable(u64),
}

/// How a PNG file starts.
const PNG: &[u8] = b"\x89PNG";

/// The byte range `[start, end)` a `Range` header asks of a blob of `size`
/// bytes: `bytes=N-`, `bytes=N-M` or `bytes=-S` (its last S). No header, or
/// one this does not read (several ranges, another unit), is the whole
/// blob, as HTTP allows; `None` when the range lies outside the blob (416).
fn byte_range(header: Option<&str>, size: u64) -> Option<(u64, u64)> {
    let whole = Some((0, size));
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return whole;
    };
    if spec.contains(',') {
        return whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        (true, false) => {
            let n = parse(last)?;
            (n > 0 && size > 0).then(|| (size.saturating_sub(n), size))
        }
        (false, _) => {
            let start = parse(first)?;
            let end = if last.is_empty() {
                size
            } else {
                parse(last)?.saturating_add(1).min(size)
            };
            (start < size && start < end).then_some((start, end))
        }
        (true, true) => whole,
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_read_as_http_says() {
        assert_eq!(byte_range(None, 100), Some((0, 100)));
        assert_eq!(byte_range(Some("bytes=10-"), 100), Some((10, 100)));
        assert_eq!(byte_range(Some("bytes=10-19"), 100), Some((10, 20)));
        assert_eq!(byte_range(Some("bytes=90-500"), 100), Some((90, 100)));
        assert_eq!(byte_range(Some("bytes=-30"), 100), Some((70, 100)));
        assert_eq!(byte_range(Some("bytes=-300"), 100), Some((0, 100)));
        assert_eq!(byte_range(Some("bytes=100-"), 100), None);
        assert_eq!(byte_range(Some("bytes=20-10"), 100), None);
        assert_eq!(byte_range(Some("bytes=x-"), 100), None);
        // Not read: the whole blob.
        assert_eq!(byte_range(Some("bytes=0-1,5-6"), 100), Some((0, 100)));
        assert_eq!(byte_range(Some("items=0-1"), 100), Some((0, 100)));
    }
}
