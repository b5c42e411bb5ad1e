//! `POST /v1/sync/push` and `GET /v1/sync/pull`: the change feed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use carnet_core::store::ApplyReport;
use carnet_core::sync::protocol::PullAnswer;
use carnet_core::sync::{PushAck, protocol, wire};
use serde::Deserialize;

use super::bytes_response;
use super::format::DeviceFormat;
use crate::AppState;
use crate::auth::Authed;
use crate::error::ServerError;
use crate::metrics::Metrics;

/// Applies a device's envelope to its team's log, all or nothing, and
/// acknowledges it only once committed, with the log's lineage. Every change
/// must be the device's own (made by the actor bound to it) and pass the
/// core's rules; an erasure of anything but a resident's contact refuses the
/// push (403, with the refused entries counted in the problem). A push made
/// in another lineage (the log was restored since the device's cursor
/// moved) is not applied: the answer acknowledges nothing and tells the
/// lineage, and the device starts over.
pub async fn push(
    State(state): State<AppState>,
    Authed(device): Authed,
    body: Bytes,
) -> Result<Json<PushAck>, ServerError> {
    let storage = state.storage.clone();
    let metrics = state.metrics.clone();
    let size = body.len();
    let (team, dev, bound) = (
        device.team_id.clone(),
        device.id.clone(),
        device.actor.clone(),
    );
    let pushed = state
        .heavy(move || {
            let pushed = protocol::read_push(&body)?;
            let lineage = storage.lineage(&team)?;
            if pushed.is_stale(&lineage) {
                return Ok(Pushed::Stale(lineage));
            }
            let batch = pushed.batch;
            let n = batch.entries.len();
            // A device enrolled before actors were bound gets the actor of its
            // first change (trust on first use: an actor is random and seen by
            // no other device before its first push).
            let actor = match bound {
                Some(a) => Some(a),
                None => match batch.first_actor()? {
                    Some(a) => {
                        storage.bind_actor(&dev, &a)?;
                        tracing::info!(device = %dev, "actor bound at first push");
                        Some(a)
                    }
                    None => None,
                },
            };
            let report = storage
                .push(&team, &dev, actor.as_deref(), &batch)
                .map_err(ServerError::from);
            if let Ok(report) = &report {
                erase_photo_blobs(&*storage, &team, report, &metrics);
            }
            Ok(Pushed::Applied {
                upto: batch.upto,
                entries: n,
                report,
                lineage,
            })
        })
        .await;
    let (upto, entries, report, lineage) = match pushed {
        Ok(Pushed::Stale(lineage)) => {
            tracing::info!(
                team = %device.team_id, device = %device.id,
                "push in an older lineage of the log (restored since): the device starts over"
            );
            return Ok(Json(PushAck::stale(&lineage)));
        }
        Ok(Pushed::Applied {
            upto,
            entries,
            report: Ok(report),
            lineage,
        }) => (upto, entries, report, lineage),
        Ok(Pushed::Applied { report: Err(e), .. }) | Err(e) => {
            if let ServerError::Core(carnet_core::Error::Refused {
                erasures, changes, ..
            }) = &e
            {
                Metrics::add(&state.metrics.refused, (*erasures + *changes) as u64);
                tracing::warn!(
                    team = %device.team_id, device = %device.id, erasures, changes,
                    "push refused by the rules"
                );
            }
            return Err(e);
        }
    };
    let m = &state.metrics;
    Metrics::add(&m.bytes_in, size as u64);
    Metrics::add(&m.applied, report.applied as u64);
    Metrics::add(&m.duplicates, report.duplicates as u64);
    Metrics::add(&m.refused, report.refused as u64);
    Metrics::add(&m.erased, report.erased as u64);
    tracing::info!(
        team = %device.team_id, device = %device.id, bytes = size, entries,
        applied = report.applied, duplicates = report.duplicates, refused = report.refused, erased = report.erased,
        "push committed"
    );
    Ok(Json(PushAck::committed(upto, &report, Some(&lineage))))
}

/// Deletes the bytes of the photos a committed push erased (full images
/// and thumbnails, partial uploads included). A failure is logged, not
/// answered: the push is committed, and the collection round deletes the
/// blobs of erased photos it finds.
fn erase_photo_blobs(
    storage: &dyn crate::Storage,
    team: &str,
    report: &ApplyReport,
    metrics: &Metrics,
) {
    if report.erased_photos.is_empty() {
        return;
    }
    match crate::storage::blobs::erase_photos(&*storage.blobs(), team, &report.erased_photos) {
        Ok(deleted) => {
            Metrics::add(&metrics.photos_deleted, deleted as u64);
            for (full, thumb) in &report.erased_photos {
                tracing::debug!(team, photo = %full, thumb = %thumb, "photo erased");
            }
            tracing::info!(
                team,
                photos = report.erased_photos.len(),
                blobs = deleted,
                "erased photos deleted"
            );
        }
        Err(e) => tracing::error!(
            team, error = %e,
            "erased photos could not be deleted now; the collection round will"
        ),
    }
}

/// What became of a push.
enum Pushed {
    /// Made in another lineage than the log's (this one): not applied.
    Stale(String),
    /// Applied (or refused by the storage) in the log of `lineage`.
    Applied {
        upto: u64,
        entries: usize,
        report: Result<ApplyReport, ServerError>,
        lineage: String,
    },
}

/// Query of a pull.
#[derive(Deserialize)]
pub struct PullParams {
    #[serde(default)]
    after: u64,
    max_bytes: Option<usize>,
    /// The lineage the device's cursor counts in, when it knows one.
    lineage: Option<String>,
}

/// A page of the team log after the device's cursor, without its own changes.
pub async fn pull(
    State(state): State<AppState>,
    Authed(device): Authed,
    Extension(DeviceFormat(format)): Extension<DeviceFormat>,
    params: Result<Query<PullParams>, QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(params) = params.map_err(|_| {
        ServerError::BadRequest("expected ?after=N&max_bytes=B with whole numbers".into())
    })?;
    let max_bytes = protocol::pull_page_bytes(params.max_bytes);
    let storage = state.storage.clone();
    let (team, dev) = (device.team_id.clone(), device.id.clone());
    let (answer, entries) = state
        .heavy(move || {
            // The lineage first: a restore happens only while the server is
            // stopped, so the page read after it is of that lineage.
            let lineage = storage.lineage(&team)?;
            let page = storage.pull(&team, &dev, params.after, max_bytes)?;
            let answer = protocol::pull_answer(&page, params.lineage.as_deref(), &lineage, format)?;
            Ok((answer, page.entries.len()))
        })
        .await?;
    let body = match answer {
        PullAnswer::Page(body) => body,
        PullAnswer::NothingNew { upto } => {
            tracing::info!(team = %device.team_id, device = %device.id, after = params.after, upto, "pull: nothing new");
            return Ok((
                StatusCode::NO_CONTENT,
                [(protocol::UPTO_HEADER, upto.to_string())],
            )
                .into_response());
        }
    };
    Metrics::add(&state.metrics.pulled, entries as u64);
    Metrics::add(&state.metrics.bytes_out, body.len() as u64);
    tracing::info!(team = %device.team_id, device = %device.id, after = params.after, entries, bytes = body.len(), "pull served");
    Ok(bytes_response(wire::CONTENT_TYPE, body))
}
