//! What sync protocol v1 exchanges and reports: the requests, the headers of
//! their envelopes, the server's acknowledgement, and what a sync tells the
//! person who asked for it. The state machine that uses them is
//! [`super::session`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::doc::Conflict;
use crate::photo::PhotoHash;
use crate::store::{ApplyReport, Batch};
use crate::sync::wire;
use crate::{RecordId, Result};

/// The record-document format this build reads and writes, sent by every
/// request of a device (`Carnet-Format`) and by every answer of the
/// server's device routes. Documents gain keys over time, and an app that
/// meets a key it does not know refuses the document: a change that older
/// apps would misread bumps this number (`docs/sync-protocol.md`, "Format
/// versions").
///
/// - 1: the first documents (contacts, reports, notes).
/// - 2: `photos` on reports and notes.
/// - 3: `comments` on reports; `keep_until` and per-purpose `consents` on
///   contacts.
/// - 4: envelopes compressed with Carnet's zstd dictionary 1
///   ([`wire::DICTIONARY_FORMAT`]), which an older app cannot decompress;
///   no new shape in documents, so a server goes on serving format 3.
pub const FORMAT: u32 = 4;
/// The oldest format a server still serves: a device sending less (or no
/// `Carnet-Format` at all) gets a 426 "please update" answer and nothing of
/// its request is read. Raised once a team's log holds shapes that older
/// apps refuse.
pub const MIN_FORMAT: u32 = 3;
/// The header that carries [`FORMAT`] both ways.
pub const FORMAT_HEADER: &str = "carnet-format";
/// The format of a server that names none: the last one before the header
/// existed.
pub const UNNAMED_SERVER_FORMAT: u32 = 2;

/// The format a `Carnet-Format` header value names; `None` when absent or
/// not a number (a device built before the header, or a damaged value).
pub fn parse_format(value: Option<&[u8]>) -> Option<u32> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}

/// The origin recorded for changes received from the server; they are never
/// pushed back.
pub const SERVER_ORIGIN: &str = "server";
/// Payload bytes per push request.
pub const PUSH_PAGE_BYTES: usize = 1 << 20;
/// Payload bytes asked per pull response (and served when a device names
/// no page size).
pub const PULL_PAGE_BYTES: usize = 1 << 20;
/// The largest pull page a server serves, whatever a device asks for.
pub const MAX_PULL_BYTES: usize = 4 << 20;
/// Photo bytes per upload request and per download range: on a weak
/// connection a cut loses at most what was in flight of one, and a slow
/// link still answers each within seconds (256 KiB at 1 Mbit/s: 2 s).
pub const PHOTO_CHUNK_BYTES: usize = 256 << 10;
/// The most photo bytes a server takes in one upload request.
pub const MAX_PHOTO_CHUNK_BYTES: usize = 1 << 20;

/// How much of a blob the server holds: the answer to an upload status
/// request and to every upload (a refused offset's problem carries it too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProgress {
    /// Bytes held, from the start: the next upload starts here.
    pub received: u64,
    /// Whether the blob is whole and checked (hash, image): nothing to send.
    pub complete: bool,
}

/// Header of a push body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PushHeader {
    /// Device log position of the last entry of the body.
    pub upto: u64,
    /// The lineage of the server's log the device's push cursor counts in
    /// (the last one it was told), if any. A server whose log has another
    /// lineage (restored from a backup since) applies nothing and answers
    /// [`PushAck::stale`]: the changes may build on ones it lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
}

/// The server's answer to a push.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PushAck {
    /// The device may move its push cursor here.
    pub acked_upto: u64,
    /// Changes new to the server.
    pub applied: usize,
    /// Changes it already had.
    pub duplicates: usize,
    /// Changes refused because their record was erased.
    pub refused: usize,
    /// Records erased by this push.
    pub erased: usize,
    /// The lineage of the server's team log (see [`PullHeader::lineage`]);
    /// absent from servers older than lineages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
}

impl PushAck {
    /// The acknowledgement of a push whose envelope ended at device log
    /// position `upto`, once `report` is committed into the log of
    /// `lineage`.
    pub fn committed(upto: u64, report: &ApplyReport, lineage: Option<&str>) -> PushAck {
        PushAck {
            acked_upto: upto,
            applied: report.applied,
            duplicates: report.duplicates,
            refused: report.refused,
            erased: report.erased,
            lineage: lineage.map(str::to_string),
        }
    }

    /// The answer to a push made in another lineage than the log's
    /// (`lineage`): nothing applied, nothing acknowledged; the device sees
    /// the new lineage and starts its sync over.
    pub fn stale(lineage: &str) -> PushAck {
        PushAck {
            lineage: Some(lineage.to_string()),
            ..PushAck::default()
        }
    }
}

/// A push as a server reads it.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The batch to apply (its `upto` is the device log position an
    /// acknowledgement may cover).
    pub batch: Batch,
    /// The lineage the device's push cursor counts in, if it told one.
    pub lineage: Option<String>,
}

impl Pushed {
    /// Whether the device pushed in another lineage than `current`, the
    /// log's: its changes may build on ones the log lost, so they are not
    /// applied ([`PushAck::stale`]).
    pub fn is_stale(&self, current: &str) -> bool {
        self.lineage.as_deref().is_some_and(|l| l != current)
    }
}

/// The server's side of a push, before the storage applies it: the
/// envelope read into the batch to apply and the lineage the device
/// pushes in. Every server — carnet-server's storages and the simulated
/// network — reads pushes here.
pub fn read_push(body: &[u8]) -> Result<Pushed> {
    let (header, entries): (PushHeader, _) = wire::decode(body)?;
    Ok(Pushed {
        batch: Batch {
            entries,
            upto: header.upto,
            more: false,
        },
        lineage: header.lineage,
    })
}

/// The header of a `204 No Content` pull answer that says where the
/// device's pull cursor moves (past its own changes, which it is not sent).
pub const UPTO_HEADER: &str = "carnet-upto";

/// The server's answer to a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullAnswer {
    /// `200` with this envelope.
    Page(Vec<u8>),
    /// `204 No Content` with [`UPTO_HEADER`]: nothing for the device in the
    /// lineage it named; its cursor moves to `upto`.
    NothingNew {
        /// Where the device's pull cursor moves.
        upto: u64,
    },
}

/// The server's side of a pull: a page of the team log (from
/// [`crate::Store::changes_since`]) in the log's `lineage`, for a device
/// whose request named lineage `known` and `format`. Nothing new (the page
/// empty and the last one) in the log's own lineage is a
/// [`PullAnswer::NothingNew`]; anything else an envelope naming the log's
/// lineage, compressed so that an app of `format` reads it
/// ([`wire::encode_for`]).
pub fn pull_answer(
    page: &Batch,
    known: Option<&str>,
    lineage: &str,
    format: u32,
) -> Result<PullAnswer> {
    if known == Some(lineage) && page.entries.is_empty() && !page.more {
        return Ok(PullAnswer::NothingNew { upto: page.upto });
    }
    pull_body(page, Some(lineage), format).map(PullAnswer::Page)
}

/// A page of the team log in the log's `lineage`, as a pull's envelope for
/// an app of `format` (see [`pull_answer`]).
pub fn pull_body(page: &Batch, lineage: Option<&str>, format: u32) -> Result<Vec<u8>> {
    wire::encode_for(
        format,
        &PullHeader {
            upto: page.upto,
            more: page.more,
            lineage: lineage.map(str::to_string),
        },
        &page.entries,
    )
}

/// The page size a server serves for a device's `max_bytes` (none: the
/// default page).
pub fn pull_page_bytes(asked: Option<usize>) -> usize {
    asked.unwrap_or(PULL_PAGE_BYTES).clamp(1, MAX_PULL_BYTES)
}

/// Header of a pull response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PullHeader {
    /// Team log position after this page.
    pub upto: u64,
    /// Whether the team log has more after `upto`.
    pub more: bool,
    /// The lineage of the server's team log: an opaque string that changes
    /// when the server is restored from a backup, so that devices whose
    /// cursors point into the log as it was start over (push everything
    /// they made, pull everything). Absent from servers older than
    /// lineages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
}

/// A request of the sync protocol, as the session asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `POST /v1/sync/push` with this envelope.
    Push {
        /// The compressed envelope.
        body: Vec<u8>,
        /// Entries it carries.
        entries: usize,
        /// Device log position of its last entry: the most an
        /// acknowledgement of it may cover.
        upto: u64,
    },
    /// `GET /v1/sync/pull?after=…&max_bytes=…[&lineage=…]`.
    Pull {
        /// The pull cursor.
        after: u64,
        /// Page size.
        max_bytes: usize,
        /// The lineage the cursor counts in, once known. A server that
        /// holds nothing new after `after` in that lineage answers
        /// `204 No Content` with [`UPTO_HEADER`] and no envelope: the most
        /// frequent answer, on the weakest connections, costs its status
        /// line and headers only. Servers before it ignore the parameter
        /// and send an empty page.
        lineage: Option<String>,
    },
    /// `GET /v1/photos/{blob}/upload`: how much of a blob the server holds.
    PhotoStatus {
        /// The blob.
        blob: PhotoHash,
    },
    /// `PUT /v1/photos/{blob}/upload?offset=…` with the blob's bytes from
    /// `offset`.
    PhotoUpload {
        /// The blob.
        blob: PhotoHash,
        /// Where `body` starts in the blob.
        offset: u64,
        /// The bytes.
        body: Vec<u8>,
    },
    /// `GET /v1/photos/{blob}` with `Range: bytes=offset-(offset+len-1)`.
    PhotoDownload {
        /// The blob.
        blob: PhotoHash,
        /// First byte asked.
        offset: u64,
        /// Bytes asked (at least 1).
        len: u64,
    },
}

/// What a sync did, for the person who asked for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncSummary {
    /// Log entries pushed (changes and erasures).
    pub pushed: usize,
    /// Log entries pulled and new to this device.
    pub pulled: usize,
    /// Records erased on this device by the pull.
    pub erased: usize,
    /// Records touched by the pull that now hold concurrent values.
    pub conflicts: Vec<RecordConflicts>,
    /// Request body bytes, for the weak-connection budget.
    pub bytes_sent: u64,
    /// Response body bytes.
    pub bytes_received: u64,
    /// HTTP round trips.
    pub round_trips: u32,
    /// Whether the server's log had a new lineage (it was restored from a
    /// backup), so that this sync started over: pushed everything this
    /// device made and pulled the whole log again.
    #[serde(default)]
    pub restarted: bool,
    /// Photos whose upload finished (both blobs on the server).
    #[serde(default)]
    pub photos_sent: u64,
    /// Full photos downloaded.
    #[serde(default)]
    pub photos_received: u64,
    /// Thumbnails downloaded.
    #[serde(default)]
    pub thumbnails_received: u64,
    /// Photo bytes sent (also counted in `bytes_sent`).
    #[serde(default)]
    pub photo_bytes_sent: u64,
    /// Photo bytes received (also counted in `bytes_received`).
    #[serde(default)]
    pub photo_bytes_received: u64,
    /// Photos left for a later sync: not on the server yet for a download,
    /// or refused by it for an upload (`photo_problem` says why).
    #[serde(default)]
    pub photos_left: u64,
    /// The server's last refusal of a photo (quota, size), for the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_problem: Option<String>,
}

/// Conflicts of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordConflicts {
    /// The record.
    pub id: RecordId,
    /// Its unresolved fields.
    pub conflicts: Vec<Conflict>,
}

impl Request {
    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Push { .. } => "POST",
            Request::PhotoUpload { .. } => "PUT",
            Request::Pull { .. } | Request::PhotoStatus { .. } | Request::PhotoDownload { .. } => {
                "GET"
            }
        }
    }

    /// The path and query, after the server's address.
    pub fn path(&self) -> String {
        match self {
            Request::Push { .. } => "/v1/sync/push".into(),
            Request::Pull {
                after,
                max_bytes,
                lineage,
            } => match lineage {
                // Lineages are hexadecimal (the server makes them): nothing
                // to escape.
                Some(l) => format!("/v1/sync/pull?after={after}&max_bytes={max_bytes}&lineage={l}"),
                None => format!("/v1/sync/pull?after={after}&max_bytes={max_bytes}"),
            },
            Request::PhotoStatus { blob } => format!("/v1/photos/{blob}/upload"),
            Request::PhotoUpload { blob, offset, .. } => {
                format!("/v1/photos/{blob}/upload?offset={offset}")
            }
            Request::PhotoDownload { blob, .. } => format!("/v1/photos/{blob}"),
        }
    }

    /// The `Range` header a download asks with.
    pub fn range(&self) -> Option<String> {
        match self {
            Request::PhotoDownload { offset, len, .. } => Some(format!(
                "bytes={offset}-{}",
                offset.saturating_add((*len).max(1) - 1)
            )),
            _ => None,
        }
    }

    /// The body's bytes (none for a pull or a read).
    pub fn body_len(&self) -> usize {
        match self {
            Request::Push { body, .. } | Request::PhotoUpload { body, .. } => body.len(),
            Request::Pull { .. } | Request::PhotoStatus { .. } | Request::PhotoDownload { .. } => 0,
        }
    }

    /// The body sent, if any.
    pub fn body(&self) -> Option<&[u8]> {
        match self {
            Request::Push { body, .. } | Request::PhotoUpload { body, .. } => Some(body),
            Request::Pull { .. } | Request::PhotoStatus { .. } | Request::PhotoDownload { .. } => {
                None
            }
        }
    }
}

/// Where a sync stands. Serialised in lowercase (`"push"`), as the command
/// line's JSON and the apps show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Sending this device's changes.
    Push,
    /// Receiving the team's.
    Pull,
    /// Sending this device's photos, then receiving the team's thumbnails
    /// (and full photos when the team or the person asks for them), after
    /// the records: a slow upload never holds back the shift's text.
    Photos,
    /// Finished, with nothing left to send or receive.
    Done,
}

impl Phase {
    /// The phase's name, as serialised.
    pub fn code(self) -> &'static str {
        match self {
            Phase::Push => "push",
            Phase::Pull => "pull",
            Phase::Photos => "photos",
            Phase::Done => "done",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Where a sync stands, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The phase of the request just answered; [`Phase::Done`] once, last.
    pub phase: Phase,
    /// Entries pushed so far.
    pub pushed: u64,
    /// Entries pulled so far.
    pub pulled: u64,
    /// Bytes sent and received so far.
    pub bytes: u64,
    /// Photos (uploads, then downloads) finished so far in the photo phase.
    #[serde(default)]
    pub photos_done: u64,
    /// Photos the photo phase has to move (known once it starts).
    #[serde(default)]
    pub photos_total: u64,
    /// Photo bytes moved so far.
    #[serde(default)]
    pub photo_bytes_done: u64,
    /// Photo bytes the photo phase has to move.
    #[serde(default)]
    pub photo_bytes_total: u64,
}

impl Progress {
    /// Where a sync that did `summary` stands in `phase` (no photo moved
    /// yet: see [`Progress::with_photos`]).
    pub fn of(phase: Phase, summary: &SyncSummary) -> Progress {
        Progress {
            phase,
            pushed: summary.pushed as u64,
            pulled: summary.pulled as u64,
            bytes: summary.bytes_sent + summary.bytes_received,
            photos_done: 0,
            photos_total: 0,
            photo_bytes_done: 0,
            photo_bytes_total: 0,
        }
    }

    /// The same with the photo phase's counts: (photos done, photos to
    /// move, bytes done, bytes to move).
    pub fn with_photos(
        mut self,
        (done, total, bytes_done, bytes_total): (u64, u64, u64, u64),
    ) -> Progress {
        self.photos_done = done;
        self.photos_total = total;
        self.photo_bytes_done = bytes_done;
        self.photo_bytes_total = bytes_total;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_serialise_as_the_command_line_shows_them() {
        for phase in [Phase::Push, Phase::Pull, Phase::Photos, Phase::Done] {
            assert_eq!(
                serde_json::to_value(phase).unwrap(),
                serde_json::json!(phase.to_string())
            );
        }
        assert_eq!(Phase::Pull.to_string(), "pull");
    }

    #[test]
    fn requests_name_their_route() {
        let pull = Request::Pull {
            after: 3,
            max_bytes: 10,
            lineage: None,
        };
        assert_eq!(pull.method(), "GET");
        assert_eq!(pull.path(), "/v1/sync/pull?after=3&max_bytes=10");
        assert_eq!(pull.body_len(), 0);
        let known = Request::Pull {
            after: 3,
            max_bytes: 10,
            lineage: Some("ab12".into()),
        };
        assert_eq!(
            known.path(),
            "/v1/sync/pull?after=3&max_bytes=10&lineage=ab12"
        );
    }

    #[test]
    fn nothing_new_is_answered_only_in_the_logs_own_lineage() {
        let empty = Batch {
            upto: 7,
            ..Default::default()
        };
        assert_eq!(
            pull_answer(&empty, Some("ab"), "ab", FORMAT).unwrap(),
            PullAnswer::NothingNew { upto: 7 }
        );
        for known in [None, Some("cd")] {
            let PullAnswer::Page(body) = pull_answer(&empty, known, "ab", FORMAT).unwrap() else {
                panic!("a page for a device that names {known:?}");
            };
            let (header, entries) = wire::decode::<PullHeader>(&body).unwrap();
            assert_eq!((header.upto, header.lineage.as_deref()), (7, Some("ab")));
            assert!(entries.is_empty());
        }
        let more = Batch {
            upto: 7,
            more: true,
            ..Default::default()
        };
        assert!(matches!(
            pull_answer(&more, Some("ab"), "ab", FORMAT).unwrap(),
            PullAnswer::Page(_)
        ));
    }
}
