//! The photo phase of a sync, after the records: this device's photos go up,
//! then the team's thumbnails (and full photos, when asked) come down, each
//! blob in ranges of [`PHOTO_CHUNK_BYTES`] that resume where a cut left
//! them. Sans-IO like the rest of the session: it reads the store, answers
//! with the next request, and never touches a socket.
//!
//! Uploads ask the server first how much of a blob it holds (a blob it
//! already has, from this device's earlier attempt or from another device,
//! is not sent again), then send the rest; a lost upload is followed by that
//! question again rather than by the same bytes, since the server keeps
//! what arrived of a cut request. Downloads keep what arrived in the
//! store ([`SyncStore::append_photo_part`]) and ask for the rest; a blob is
//! kept only once its SHA-256 matches its name.

use std::collections::{HashSet, VecDeque};

use crate::photo::{BlobTransfer, PhotoHash, Variant};
use crate::sync::problem::Problem;
use crate::sync::protocol::{BlobProgress, Request, SyncSummary};
use crate::sync::session::{Response, SyncStore};
use crate::{Error, Result};

/// What the session does after a photo answer.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send this next (the rest of the same blob).
    Send(Request),
    /// This blob is settled: ask for the next request.
    Next,
    /// The answer was unusable (cut or garbled): try again after a wait,
    /// with this request.
    Retry(Request, Error),
}

/// The photo phase's plan and where it stands.
#[derive(Debug)]
pub(crate) struct PhotoPhase {
    chunk: usize,
    full_too: bool,
    uploads: VecDeque<BlobTransfer>,
    /// Planned once the uploads are over.
    downloads: Option<VecDeque<BlobTransfer>>,
    /// Photos one of whose blobs the server refused: not marked uploaded.
    refused: HashSet<PhotoHash>,
    done: u64,
    total: u64,
    /// Bytes of the blobs settled so far.
    bytes_settled: u64,
    /// Bytes of the current blob on the other side so far.
    bytes_current: u64,
    bytes_total: u64,
}

/// Whether the photo phase, rather than the retry rules, answers a
/// request's non-2xx `status`: the server's word on one blob (not held,
/// erased, another offset, too large, corrupt) settles that blob and the
/// sync goes on.
pub(crate) fn handles(request: &Request, status: u16) -> bool {
    is_photo(request) && matches!(status, 400 | 404 | 409 | 410 | 413 | 416)
}

/// Whether `request` belongs to the photo phase.
pub(crate) fn is_photo(request: &Request) -> bool {
    matches!(
        request,
        Request::PhotoStatus { .. } | Request::PhotoUpload { .. } | Request::PhotoDownload { .. }
    )
}

/// What to send again after `request` got no usable answer: an upload's
/// bytes may have partly arrived, so the server is asked where it stands
/// instead of being sent the same bytes.
pub(crate) fn after_loss(request: Request) -> Request {
    match request {
        Request::PhotoUpload { blob, .. } => Request::PhotoStatus { blob },
        other => other,
    }
}

impl PhotoPhase {
    /// Nothing planned yet.
    fn empty(chunk: usize, full_too: bool) -> PhotoPhase {
        PhotoPhase {
            chunk: chunk.max(1),
            full_too,
            uploads: VecDeque::new(),
            downloads: None,
            refused: HashSet::new(),
            done: 0,
            total: 0,
            bytes_settled: 0,
            bytes_current: 0,
            bytes_total: 0,
        }
    }

    /// The photo phase of a whole sync: this device's pending uploads now,
    /// the downloads once they are over (full photos too when `full_too`).
    pub(crate) fn sync(store: &dyn SyncStore, chunk: usize, full_too: bool) -> Result<PhotoPhase> {
        let uploads: VecDeque<BlobTransfer> = store.photo_uploads()?.into();
        let mut phase = PhotoPhase::empty(chunk, full_too);
        phase.plan_uploads(&uploads);
        phase.uploads = uploads;
        Ok(phase)
    }

    /// Downloads of these blobs only (a full photo someone opened).
    pub(crate) fn fetch(chunk: usize, blobs: Vec<BlobTransfer>) -> PhotoPhase {
        let downloads: VecDeque<BlobTransfer> = blobs.into();
        let mut phase = PhotoPhase::empty(chunk, true);
        phase.plan_downloads(&downloads);
        phase.downloads = Some(downloads);
        phase
    }

    fn plan_uploads(&mut self, blobs: &VecDeque<BlobTransfer>) {
        // An upload moves a photo: its two blobs count as one.
        let photos: HashSet<PhotoHash> = blobs.iter().map(|b| b.photo).collect();
        self.total += photos.len() as u64;
        self.bytes_total += blobs.iter().map(|b| b.size).sum::<u64>();
    }

    fn plan_downloads(&mut self, blobs: &VecDeque<BlobTransfer>) {
        // A download moves a thumbnail or a full photo, each counted.
        self.total += blobs.len() as u64;
        self.bytes_total += blobs.iter().map(|b| b.size).sum::<u64>();
    }

    /// (photos done, photos to move, bytes done, bytes to move), for
    /// [`crate::sync::Progress::with_photos`].
    pub(crate) fn counts(&self) -> (u64, u64, u64, u64) {
        (
            self.done,
            self.total,
            self.bytes_settled + self.bytes_current,
            self.bytes_total,
        )
    }

    /// The next request, or `None` when every blob is settled. Downloads
    /// are planned when the uploads are over.
    pub(crate) fn next(&mut self, store: &dyn SyncStore) -> Result<Option<Request>> {
        if let Some(up) = self.uploads.front() {
            return Ok(Some(Request::PhotoStatus { blob: up.blob }));
        }
        if self.downloads.is_none() {
            let downloads: VecDeque<BlobTransfer> = store.photo_downloads(self.full_too)?.into();
            self.plan_downloads(&downloads);
            self.downloads = Some(downloads);
        }
        while let Some(down) = self.downloads.as_ref().and_then(|d| d.front()).copied() {
            let held = store.photo_part_len(down.blob)?;
            if held < down.size {
                return Ok(Some(self.range(&down, held)));
            }
            // Whole already (a sync cut between the last range and the check).
            self.finish_download(store, &down, &mut SyncSummary::default())?;
        }
        Ok(None)
    }

    fn range(&self, down: &BlobTransfer, from: u64) -> Request {
        Request::PhotoDownload {
            blob: down.blob,
            offset: from,
            len: (down.size - from).min(self.chunk as u64),
        }
    }

    /// Takes the answer to `request` (a 2xx, or a status [`handles`] says
    /// is the photo phase's).
    pub(crate) fn on_answer(
        &mut self,
        store: &dyn SyncStore,
        request: &Request,
        response: &Response,
        summary: &mut SyncSummary,
    ) -> Result<Step> {
        match request {
            Request::PhotoStatus { blob } | Request::PhotoUpload { blob, .. } => {
                self.on_upload_answer(store, *blob, request, response, summary)
            }
            Request::PhotoDownload { blob, offset, len } => {
                self.on_download_answer(store, *blob, *offset, *len, response, summary)
            }
            Request::Push { .. } | Request::Pull { .. } => Err(Error::Internal(
                "the photo phase was given a records request".into(),
            )),
        }
    }

    fn on_upload_answer(
        &mut self,
        store: &dyn SyncStore,
        blob: PhotoHash,
        request: &Request,
        response: &Response,
        summary: &mut SyncSummary,
    ) -> Result<Step> {
        let Some(up) = self.uploads.front().copied().filter(|u| u.blob == blob) else {
            return Ok(Step::Next);
        };
        match response.status {
            200..=299 | 409 => {
                let Ok(held) = serde_json::from_slice::<BlobProgress>(&response.body) else {
                    return Ok(Step::Retry(
                        Request::PhotoStatus { blob },
                        Error::Network("unreadable answer to a photo upload".into()),
                    ));
                };
                if let Request::PhotoUpload { body, .. } = request
                    && response.status < 300
                {
                    summary.photo_bytes_sent += body.len() as u64;
                }
                self.bytes_current = held.received.min(up.size);
                if held.complete {
                    self.settle_bytes(up.size);
                    self.uploads.pop_front();
                    if up.variant == Variant::Full {
                        self.photo_settled(store, up.photo, summary)?;
                    }
                    return Ok(Step::Next);
                }
                let body = store.photo_chunk(blob, held.received, self.chunk)?;
                if body.is_empty() {
                    // The server holds more than the blob has: it cannot be
                    // finished from here.
                    self.refuse(
                        up.photo,
                        "the server holds a longer copy of a photo",
                        summary,
                    );
                    return Ok(Step::Next);
                }
                Ok(Step::Send(Request::PhotoUpload {
                    blob,
                    offset: held.received,
                    body,
                }))
            }
            // No live record of the team names it, or it was erased: the
            // pull has brought (or will bring) why; nothing to send.
            404 | 410 => {
                self.bytes_current = 0;
                self.uploads.pop_front();
                self.refused.insert(up.photo);
                if up.variant == Variant::Full {
                    summary.photos_left += 1;
                    self.done += 1;
                }
                Ok(Step::Next)
            }
            _ => {
                let why = Problem::parse(&response.body).explanation();
                self.refuse(up.photo, &why, summary);
                Ok(Step::Next)
            }
        }
    }

    /// Both blobs of `photo` are on the server (unless one was refused).
    fn photo_settled(
        &mut self,
        store: &dyn SyncStore,
        photo: PhotoHash,
        summary: &mut SyncSummary,
    ) -> Result<()> {
        self.done += 1;
        if self.refused.contains(&photo) {
            summary.photos_left += 1;
        } else {
            store.mark_photo_uploaded(photo)?;
            summary.photos_sent += 1;
        }
        Ok(())
    }

    /// The server refused a blob of `photo` (too large, quota, corrupt):
    /// the photo's remaining blobs are dropped from this sync and it stays
    /// pending for a later one.
    fn refuse(&mut self, photo: PhotoHash, why: &str, summary: &mut SyncSummary) {
        self.bytes_current = 0;
        let before = self.uploads.len();
        self.uploads.retain(|u| u.photo != photo);
        if before != self.uploads.len() {
            self.done += 1;
            summary.photos_left += 1;
        }
        self.refused.insert(photo);
        summary.photo_problem = Some(why.to_string());
    }

    fn on_download_answer(
        &mut self,
        store: &dyn SyncStore,
        blob: PhotoHash,
        offset: u64,
        len: u64,
        response: &Response,
        summary: &mut SyncSummary,
    ) -> Result<Step> {
        let Some(down) = self
            .downloads
            .as_ref()
            .and_then(|d| d.front())
            .copied()
            .filter(|d| d.blob == blob)
        else {
            return Ok(Step::Next);
        };
        let status = response.status;
        if !(200..300).contains(&status) {
            // Not on the server yet (its device has not sent it), erased,
            // or a range past its end: left for a later sync.
            self.skip_download(summary);
            return Ok(Step::Next);
        }
        let body = &response.body;
        // A server that ignored the range answers 200 with the whole blob:
        // usable only from the start.
        let usable = !body.is_empty()
            && (status == 206 || offset == 0)
            && body.len() as u64 <= down.size - offset
            && (status != 206 || body.len() as u64 <= len);
        if !usable {
            return Ok(Step::Retry(
                self.range(&down, offset),
                Error::Network("a photo download answered with the wrong bytes".into()),
            ));
        }
        let held = store.append_photo_part(blob, offset, body)?;
        summary.photo_bytes_received += body.len() as u64;
        self.bytes_current = held;
        if held < down.size {
            return Ok(Step::Send(self.range(&down, held)));
        }
        self.finish_download(store, &down, summary)?;
        Ok(Step::Next)
    }

    /// The blob is whole: checked against its hash and kept, or dropped.
    fn finish_download(
        &mut self,
        store: &dyn SyncStore,
        down: &BlobTransfer,
        summary: &mut SyncSummary,
    ) -> Result<()> {
        match store.finish_photo_download(down.blob) {
            Ok(()) => {
                if let Some(d) = self.downloads.as_mut() {
                    d.pop_front();
                }
                self.settle_bytes(down.size);
                self.done += 1;
                match down.variant {
                    Variant::Full => summary.photos_received += 1,
                    Variant::Thumb => summary.thumbnails_received += 1,
                }
                Ok(())
            }
            Err(Error::PhotoCorrupt(_)) => {
                summary.photo_problem = Some(
                    "a photo arrived damaged and was dropped; the next sync fetches it again"
                        .into(),
                );
                self.skip_download(summary);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A blob of `size` bytes is over.
    fn settle_bytes(&mut self, size: u64) {
        self.bytes_settled += size;
        self.bytes_current = 0;
    }

    fn skip_download(&mut self, summary: &mut SyncSummary) {
        self.bytes_current = 0;
        if let Some(d) = self.downloads.as_mut() {
            d.pop_front();
        }
        self.done += 1;
        summary.photos_left += 1;
    }
}
