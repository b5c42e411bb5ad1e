//! The client side of sync protocol v1 as a sans-IO state machine, in the
//! style of automerge's `sync` module: a driver feeds it [`Event`]s (the
//! person asked to sync, a response arrived, a request failed, a timer
//! fired, cancel) and performs the [`Effect`]s it returns (send this
//! request, wait this long, report progress, finished). It never touches a
//! socket, a clock or a thread: the HTTP driver (`client.rs`) carries bytes
//! and sleeps, the simulated network ([`super::sim`]) delivers, loses,
//! duplicates and delays them, and both run this same protocol.
//!
//! ```text
//!  ┌──────┐ push pages until the device log is acknowledged ┌──────┐ pull pages until !more ┌──────┐
//!  │ Push │ ───────────────────────────────────────────────▶│ Pull │ ─────────────────────▶ │ Done │
//!  └──────┘                                                 └──────┘                        └──────┘
//!     any answer: 2xx → next page · 401 → Unauthorized · 410 wipe → store wiped, Wiped
//!                 426 → UpdateRequired (this app is too old for the server)
//!                 429, 5xx, lost → wait, send again (bounded) · other 4xx → Server error
//! ```
//!
//! The store is not an effect but a parameter of [`SyncSession::handle`]
//! (as automerge's sync takes the document), through the narrow
//! [`SyncStore`] trait. Its writes are local, synchronous and transactional,
//! and their order is the protocol's safety: a cursor moves only after the
//! page it covers is applied, and a wipe order is carried out before the
//! session ends. Returning them as effects would let a driver reorder or
//! skip them (forget a wipe order, move a cursor before applying); calling
//! them here keeps every driver correct by construction, and tests still put
//! any store behind the trait (one that fails on demand, say).

use std::time::Duration;

use crate::doc::Conflict;
use crate::photo::{BlobTransfer, PhotoHash, PhotoSettings};
use crate::store::{ApplyReport, Batch, Cursor, Entry, Store};
use crate::sync::photos::{self, PhotoPhase, Step};
use crate::sync::problem::Problem;
use crate::sync::protocol::{
    PHOTO_CHUNK_BYTES, PULL_PAGE_BYTES, PUSH_PAGE_BYTES, Phase, Progress, PullHeader, PushAck,
    PushHeader, RecordConflicts, Request, SERVER_ORIGIN, SyncSummary,
};
use crate::sync::retry::{Backoff, Failure, Replay, Retry};
use crate::sync::wire;
use crate::{Error, RecordId, Result};

/// What the session needs of a device's store: its two cursors and the
/// lineage of the server's log they count in, its log, applying the team's
/// pages, the conflicts they leave, and the wipe a supervisor may order.
/// [`Store`] is the one implementation the product uses.
pub trait SyncStore {
    /// A sync cursor.
    fn cursor(&self, which: Cursor) -> Result<u64>;
    /// Moves a sync cursor.
    fn set_cursor(&self, which: Cursor, at: u64) -> Result<()>;
    /// The lineage of the server's log last seen, if any.
    fn lineage(&self) -> Result<Option<String>>;
    /// Remembers the lineage first seen.
    fn set_lineage(&self, lineage: &str) -> Result<()>;
    /// Both cursors back to 0 and `lineage` remembered, at once.
    fn restart_sync(&self, lineage: &str) -> Result<()>;
    /// The log after `after`, without `skip_origin`'s entries, up to about
    /// `max_bytes`.
    fn changes_since(
        &self,
        after: u64,
        max_bytes: usize,
        skip_origin: Option<&str>,
    ) -> Result<Batch>;
    /// Applies a page relayed by `origin`, all or nothing.
    fn apply(&self, origin: &str, batch: &Batch) -> Result<ApplyReport>;
    /// A record's unresolved fields.
    fn conflicts(&self, id: RecordId) -> Result<Vec<Conflict>>;
    /// Erases everything, as a wipe order requires.
    fn wipe(&self) -> Result<()>;
    /// The team's photo settings (whether full photos come at sync).
    fn photo_settings(&self) -> Result<PhotoSettings>;
    /// This device's photo blobs the server may lack, thumbnail then full
    /// of each photo, oldest first.
    fn photo_uploads(&self) -> Result<Vec<BlobTransfer>>;
    /// Blobs of the live records' photos missing here: thumbnails, then
    /// full photos when `full_too`.
    fn photo_downloads(&self, full_too: bool) -> Result<Vec<BlobTransfer>>;
    /// Up to `max` bytes of a stored blob from `offset`.
    fn photo_chunk(&self, blob: PhotoHash, offset: u64, max: usize) -> Result<Vec<u8>>;
    /// Both blobs of `photo` are on the server.
    fn mark_photo_uploaded(&self, photo: PhotoHash) -> Result<()>;
    /// Bytes of `blob` downloaded so far.
    fn photo_part_len(&self, blob: PhotoHash) -> Result<u64>;
    /// Keeps downloaded bytes of `blob` from `offset`; the bytes now held.
    fn append_photo_part(&self, blob: PhotoHash, offset: u64, bytes: &[u8]) -> Result<u64>;
    /// `blob` is whole: kept if its hash matches, else dropped
    /// ([`Error::PhotoCorrupt`]).
    fn finish_photo_download(&self, blob: PhotoHash) -> Result<()>;
}

impl SyncStore for Store {
    fn cursor(&self, which: Cursor) -> Result<u64> {
        Store::cursor(self, which)
    }
    fn set_cursor(&self, which: Cursor, at: u64) -> Result<()> {
        Store::set_cursor(self, which, at)
    }
    fn lineage(&self) -> Result<Option<String>> {
        Store::lineage(self)
    }
    fn set_lineage(&self, lineage: &str) -> Result<()> {
        Store::set_lineage(self, lineage)
    }
    fn restart_sync(&self, lineage: &str) -> Result<()> {
        Store::restart_sync(self, lineage)
    }
    fn changes_since(
        &self,
        after: u64,
        max_bytes: usize,
        skip_origin: Option<&str>,
    ) -> Result<Batch> {
        Store::changes_since(self, after, max_bytes, skip_origin)
    }
    fn apply(&self, origin: &str, batch: &Batch) -> Result<ApplyReport> {
        Store::apply(self, origin, batch)
    }
    fn conflicts(&self, id: RecordId) -> Result<Vec<Conflict>> {
        Store::conflicts(self, id)
    }
    fn wipe(&self) -> Result<()> {
        Store::wipe(self)
    }
    fn photo_settings(&self) -> Result<PhotoSettings> {
        Ok(Store::config(self).photos)
    }
    fn photo_uploads(&self) -> Result<Vec<BlobTransfer>> {
        Store::photo_uploads(self)
    }
    fn photo_downloads(&self, full_too: bool) -> Result<Vec<BlobTransfer>> {
        Store::photo_downloads(self, full_too)
    }
    fn photo_chunk(&self, blob: PhotoHash, offset: u64, max: usize) -> Result<Vec<u8>> {
        Store::photo_chunk(self, blob, offset, max)
    }
    fn mark_photo_uploaded(&self, photo: PhotoHash) -> Result<()> {
        Store::mark_photo_uploaded(self, photo)
    }
    fn photo_part_len(&self, blob: PhotoHash) -> Result<u64> {
        Store::photo_part_len(self, blob)
    }
    fn append_photo_part(&self, blob: PhotoHash, offset: u64, bytes: &[u8]) -> Result<u64> {
        Store::append_photo_part(self, blob, offset, bytes)
    }
    fn finish_photo_download(&self, blob: PhotoHash) -> Result<()> {
        Store::finish_photo_download(self, blob)
    }
}

/// Names one attempt of a request, so that an answer is matched to the
/// attempt it answers: a late, duplicated or stray answer is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The server's answer, as the driver received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<Duration>,
    /// The `Carnet-Upto` header of a `204` pull answer: where the pull
    /// cursor moves though nothing came (past this device's own changes).
    pub upto: Option<u64>,
}

/// What happened, told to the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The person (or the app's scheduler) asked to sync.
    Start,
    /// An answer to the attempt `id`.
    Response {
        /// The attempt answered.
        id: RequestId,
        /// The answer.
        response: Response,
    },
    /// The attempt `id` got no answer (connection refused, reset, timed out).
    TransportFailed {
        /// The attempt that failed.
        id: RequestId,
        /// Whether it surely never reached the server (no connection made).
        unsent: bool,
        /// The transport's explanation (addresses and causes, no data).
        error: String,
    },
    /// The wait asked by [`Effect::Wait`] is over.
    TimerFired,
    /// The person cancelled: the session stops at once; what was exchanged
    /// is kept and the next sync resumes from the cursors.
    Cancel,
}

/// What the driver must do.
#[derive(Debug)]
pub enum Effect {
    /// Send this request, then tell [`Event::Response`] or
    /// [`Event::TransportFailed`] with its id.
    Send {
        /// The attempt's name, to give back with its answer.
        id: RequestId,
        /// What to send.
        request: Request,
    },
    /// Wait this long, then tell [`Event::TimerFired`] (a backoff before
    /// sending again).
    Wait(Duration),
    /// Tell the person where the sync stands.
    Progress(Progress),
    /// The sync is over: its summary, or why it stopped (a wipe order has
    /// already been carried out when this says [`Error::Wiped`]).
    Finished(Result<SyncSummary>),
}

/// How a session pages and retries.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// Attempts and backoff of each request.
    pub retry: Retry,
    /// Payload bytes per push request.
    pub push_page_bytes: usize,
    /// Payload bytes asked per pull response.
    pub pull_page_bytes: usize,
    /// Whether photos move after the records (off: records only, as on a
    /// connection the person pays by the megabyte).
    pub photos: bool,
    /// Whether full photos come at sync rather than when opened; `None`:
    /// as the team's settings say ([`PhotoSettings::download_full`]).
    pub full_photos: Option<bool>,
    /// Photo bytes per upload request and per download range.
    pub photo_chunk_bytes: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            retry: Retry::default(),
            push_page_bytes: PUSH_PAGE_BYTES,
            pull_page_bytes: PULL_PAGE_BYTES,
            photos: true,
            full_photos: None,
            photo_chunk_bytes: PHOTO_CHUNK_BYTES,
        }
    }
}

/// What an answer's lineage means for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lineage {
    /// The cursors count in the server's log: go on.
    Same,
    /// The server's log has a new lineage: the cursors were reset and the
    /// sync starts over; the answer's content is not used.
    Restarted,
}

/// Where the session is.
#[derive(Debug)]
enum State {
    /// Not started.
    Idle,
    /// `request` is out as attempt `id`.
    InFlight { id: RequestId, request: Request },
    /// `request` failed; it goes again when the timer fires.
    BackingOff { request: Request },
    /// Over; every later event is ignored.
    Finished,
}

/// One sync run against the server: push pages until the device's log is
/// acknowledged, then pull pages until the team's log has no more.
#[derive(Debug)]
pub struct SyncSession {
    options: SyncOptions,
    state: State,
    phase: Phase,
    backoff: Backoff,
    next_id: u64,
    summary: SyncSummary,
    /// The photo phase, once the records are synced (or from the start for
    /// [`SyncSession::fetch_photos`]).
    photos: Option<PhotoPhase>,
}

impl SyncSession {
    /// A session that starts at [`Event::Start`], from the store's cursors.
    pub fn new(options: SyncOptions) -> Self {
        SyncSession {
            options,
            state: State::Idle,
            phase: Phase::Push,
            backoff: Backoff::new(options.retry),
            next_id: 0,
            summary: SyncSummary::default(),
            photos: None,
        }
    }

    /// A session that only downloads `blobs` (a full photo someone opened,
    /// not fetched at sync): no push, no pull, the same resumable ranges.
    pub fn fetch_photos(options: SyncOptions, blobs: Vec<BlobTransfer>) -> Self {
        let mut session = SyncSession::new(options);
        session.phase = Phase::Photos;
        session.photos = Some(PhotoPhase::fetch(options.photo_chunk_bytes, blobs));
        session
    }

    /// Takes an event and returns what to do. `store` is the device's store
    /// (the same one for the whole session). Events that do not fit (an
    /// answer to an attempt that is not the one out, a timer when not
    /// waiting, anything once finished) change nothing and return nothing.
    pub fn handle(&mut self, store: &dyn SyncStore, event: Event) -> Vec<Effect> {
        let mut out = Vec::new();
        let state = std::mem::replace(&mut self.state, State::Finished);
        self.state = match (event, state) {
            (Event::Start, State::Idle) => self.advance(store, &mut out),
            (Event::Cancel, State::Idle | State::InFlight { .. } | State::BackingOff { .. }) => {
                self.finish(Err(Error::Cancelled), &mut out)
            }
            (
                Event::Response { id, response },
                State::InFlight {
                    id: out_id,
                    request,
                },
            ) if id == out_id => self.on_response(store, request, response, &mut out),
            (
                Event::TransportFailed { id, unsent, error },
                State::InFlight {
                    id: out_id,
                    request,
                },
            ) if id == out_id => {
                let failure = if unsent {
                    Failure::Unsent
                } else {
                    Failure::Transport
                };
                self.failed(request, failure, None, Error::Network(error), &mut out)
            }
            (Event::TimerFired, State::BackingOff { request }) => self.send(request, &mut out),
            (_, state) => state,
        };
        out
    }

    /// The next request from the cursors: a push page while the device has
    /// unacknowledged entries, then pull pages.
    fn advance(&mut self, store: &dyn SyncStore, out: &mut Vec<Effect>) -> State {
        match self.next_request(store) {
            Ok(Some(request)) => {
                self.backoff.reset();
                self.send(request, out)
            }
            Ok(None) => self.done(out),
            Err(e) => self.finish(Err(e), out),
        }
    }

    /// Every phase is over: the last progress, then the summary.
    fn done(&mut self, out: &mut Vec<Effect>) -> State {
        self.phase = Phase::Done;
        out.push(Effect::Progress(self.progress(Phase::Done)));
        let summary = std::mem::take(&mut self.summary);
        self.finish(Ok(summary), out)
    }

    fn progress(&self, phase: Phase) -> Progress {
        let progress = Progress::of(phase, &self.summary);
        match &self.photos {
            Some(p) => progress.with_photos(p.counts()),
            None => progress,
        }
    }

    /// The next request from the cursors and the photo plan; `None` when
    /// nothing is left.
    fn next_request(&mut self, store: &dyn SyncStore) -> Result<Option<Request>> {
        match self.phase {
            Phase::Push | Phase::Pull => self.next_records_request(store).map(Some),
            Phase::Photos => match self.photos.as_mut() {
                Some(p) => p.next(store),
                None => Ok(None),
            },
            Phase::Done => Ok(None),
        }
    }

    fn next_records_request(&mut self, store: &dyn SyncStore) -> Result<Request> {
        if self.phase == Phase::Push {
            let after = store.cursor(Cursor::Push)?;
            let batch =
                store.changes_since(after, self.options.push_page_bytes, Some(SERVER_ORIGIN))?;
            if !batch.entries.is_empty() {
                let header = PushHeader {
                    upto: batch.upto,
                    lineage: store.lineage()?,
                };
                let body = wire::encode(&header, &batch.entries)?;
                return Ok(Request::Push {
                    body,
                    entries: batch.entries.len(),
                    upto: batch.upto,
                });
            }
            if batch.upto > after {
                // Only the server's own entries were left: nothing to send.
                store.set_cursor(Cursor::Push, batch.upto)?;
            }
            self.phase = Phase::Pull;
        }
        Ok(Request::Pull {
            after: store.cursor(Cursor::Pull)?,
            max_bytes: self.options.pull_page_bytes,
            lineage: store.lineage()?,
        })
    }

    fn send(&mut self, request: Request, out: &mut Vec<Effect>) -> State {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        out.push(Effect::Send {
            id,
            request: request.clone(),
        });
        State::InFlight { id, request }
    }

    fn on_response(
        &mut self,
        store: &dyn SyncStore,
        request: Request,
        response: Response,
        out: &mut Vec<Effect>,
    ) -> State {
        let status = response.status;
        if (200..300).contains(&status) || photos::handles(&request, status) {
            return self.on_success(store, request, response, out);
        }
        let problem = Problem::parse(&response.body);
        if status == 410 && problem.name() == "wipe" {
            // A supervisor ordered this (lost) device wiped.
            let result = store.wipe().and(Err(Error::Wiped));
            return self.finish(result, out);
        }
        let retry_after = response.retry_after;
        self.failed(
            request,
            Failure::Status(status),
            retry_after,
            problem.into_error(status),
            out,
        )
    }

    fn on_success(
        &mut self,
        store: &dyn SyncStore,
        request: Request,
        response: Response,
        out: &mut Vec<Effect>,
    ) -> State {
        let step = match &request {
            Request::Push { upto, .. } => match serde_json::from_slice::<PushAck>(&response.body) {
                Ok(ack) => match self.follow_lineage(store, ack.lineage.as_deref()) {
                    Ok(Lineage::Same) => self.on_push_ack(store, *upto, &ack),
                    Ok(Lineage::Restarted) => Ok(()),
                    Err(e) => Err(e),
                },
                // Cut or garbled on the way: sending the page again is safe.
                Err(_) => {
                    let e = Error::Network("unreadable push acknowledgement".into());
                    return self.failed(request, Failure::Transport, None, e, out);
                }
            },
            // Nothing new in the lineage the request named: an empty last
            // page, the cursor moved where the server says (past this
            // device's own changes), else left where it is.
            Request::Pull { after, .. } if response.status == 204 => self.on_pull_page(
                store,
                *after,
                PullHeader {
                    upto: response.upto.unwrap_or(*after),
                    more: false,
                    lineage: None,
                },
                Vec::new(),
            ),
            Request::Pull { after, .. } => match wire::decode(&response.body) {
                Ok((header, entries)) => self.on_pull_page(store, *after, header, entries),
                Err(e) => Err(e),
            },
            Request::PhotoStatus { .. }
            | Request::PhotoUpload { .. }
            | Request::PhotoDownload { .. } => {
                return self.on_photo_answer(store, request, response, out);
            }
        };
        self.count_exchange(&request, &response);
        match step {
            Err(e) => self.finish(Err(e), out),
            Ok(()) => {
                let phase = match request {
                    Request::Push { .. } => Phase::Push,
                    _ => Phase::Pull,
                };
                out.push(Effect::Progress(Progress::of(phase, &self.summary)));
                self.advance(store, out)
            }
        }
    }

    fn count_exchange(&mut self, request: &Request, response: &Response) {
        self.summary.round_trips += 1;
        self.summary.bytes_sent += request.body_len() as u64;
        self.summary.bytes_received += response.body.len() as u64;
    }

    /// The records are synced: plans the photo phase.
    fn start_photos(&mut self, store: &dyn SyncStore) -> Result<()> {
        let full_too = match self.options.full_photos {
            Some(full) => full,
            None => store.photo_settings()?.download_full,
        };
        self.photos = Some(PhotoPhase::sync(
            store,
            self.options.photo_chunk_bytes,
            full_too,
        )?);
        Ok(())
    }

    fn on_photo_answer(
        &mut self,
        store: &dyn SyncStore,
        request: Request,
        response: Response,
        out: &mut Vec<Effect>,
    ) -> State {
        self.count_exchange(&request, &response);
        let step = match self.photos.as_mut() {
            Some(p) => p.on_answer(store, &request, &response, &mut self.summary),
            None => Err(Error::Internal(
                "a photo answer arrived outside the photo phase".into(),
            )),
        };
        match step {
            Err(e) => self.finish(Err(e), out),
            Ok(Step::Retry(again, error)) => {
                self.failed(again, Failure::Transport, None, error, out)
            }
            Ok(Step::Send(next)) => {
                out.push(Effect::Progress(self.progress(Phase::Photos)));
                self.backoff.reset();
                self.send(next, out)
            }
            Ok(Step::Next) => {
                out.push(Effect::Progress(self.progress(Phase::Photos)));
                self.advance(store, out)
            }
        }
    }

    /// Compares the lineage of the server's log in an answer with the one
    /// the cursors count in. None told (an older server) or first seen:
    /// carry on (first seen: remembered). Another one: the server was
    /// restored from a backup and may lack changes this device pushed and
    /// hold a shorter log than the pull cursor; the cursors go back to 0
    /// with the new lineage remembered (one transaction) and the sync
    /// starts over from the push, in this same session. A second change
    /// within one session ends it rather than starting over for ever.
    fn follow_lineage(&mut self, store: &dyn SyncStore, told: Option<&str>) -> Result<Lineage> {
        let Some(told) = told else {
            return Ok(Lineage::Same);
        };
        match store.lineage()? {
            Some(known) if known == told => Ok(Lineage::Same),
            None => {
                store.set_lineage(told)?;
                Ok(Lineage::Same)
            }
            Some(_) if self.summary.restarted => Err(Error::Network(
                "the server's log changed lineage twice during one sync; try again later".into(),
            )),
            Some(_) => {
                store.restart_sync(told)?;
                self.summary.restarted = true;
                self.phase = Phase::Push;
                Ok(Lineage::Restarted)
            }
        }
    }

    /// Moves the push cursor to what the server committed, never beyond
    /// what this page carried.
    fn on_push_ack(&mut self, store: &dyn SyncStore, sent_upto: u64, ack: &PushAck) -> Result<()> {
        let upto = ack.acked_upto.min(sent_upto);
        let before = store.cursor(Cursor::Push)?;
        if upto <= before {
            // Sending the same page again would loop for ever.
            return Err(Error::Network(
                "the server acknowledged none of the changes sent; try again later".into(),
            ));
        }
        store.set_cursor(Cursor::Push, upto)?;
        self.summary.pushed += ack.applied + ack.duplicates + ack.refused + ack.erased;
        Ok(())
    }

    /// Applies a pull page all or nothing, then moves the pull cursor. A
    /// page that cannot be decoded or applied changes nothing; the next sync
    /// asks for it again.
    fn on_pull_page(
        &mut self,
        store: &dyn SyncStore,
        after: u64,
        header: PullHeader,
        entries: Vec<Entry>,
    ) -> Result<()> {
        if self.follow_lineage(store, header.lineage.as_deref())? == Lineage::Restarted {
            // Its entries follow a cursor of the old lineage: the whole
            // log is pulled again after the push.
            return Ok(());
        }
        if header.more && header.upto <= after {
            return Err(Error::Network(
                "the server's pull page did not move forward; try again later".into(),
            ));
        }
        // An empty page writes nothing (and syncs nothing to disk).
        let report = if entries.is_empty() {
            ApplyReport::default()
        } else {
            store.apply(
                SERVER_ORIGIN,
                &Batch {
                    entries,
                    upto: header.upto,
                    more: header.more,
                },
            )?
        };
        if header.upto > store.cursor(Cursor::Pull)? {
            store.set_cursor(Cursor::Pull, header.upto)?;
        }
        self.summary.pulled += report.applied;
        self.summary.erased += report.erased;
        for id in report.records {
            let conflicts = store.conflicts(id)?;
            if !conflicts.is_empty() {
                self.summary.conflicts.retain(|c| c.id != id);
                self.summary
                    .conflicts
                    .push(RecordConflicts { id, conflicts });
            }
        }
        if !header.more {
            if self.options.photos {
                self.phase = Phase::Photos;
                self.start_photos(store)?;
            } else {
                self.phase = Phase::Done;
            }
        }
        Ok(())
    }

    /// An attempt failed: wait and send again if it may succeed later and
    /// attempts are left, otherwise stop with `error`.
    fn failed(
        &mut self,
        request: Request,
        failure: Failure,
        retry_after: Option<Duration>,
        error: Error,
        out: &mut Vec<Effect>,
    ) -> State {
        if !Replay::Safe.allows(failure) {
            return self.finish(Err(error), out);
        }
        let request = photos::after_loss(request);
        match self.backoff.after_failure(retry_after) {
            Some(wait) => {
                tracing::debug!(?failure, ?wait, error = %error, "sync request failed; retrying");
                out.push(Effect::Wait(wait));
                State::BackingOff { request }
            }
            None => self.finish(Err(error), out),
        }
    }

    fn finish(&mut self, result: Result<SyncSummary>, out: &mut Vec<Effect>) -> State {
        out.push(Effect::Finished(result));
        State::Finished
    }
}

#[cfg(test)]
mod tests;
