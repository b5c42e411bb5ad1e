//! The client side of sync protocol v1 as a pure state machine: it reads the
//! store, says which request to send next, and takes the response. It never
//! touches a socket, so tests drive it against a server (or a store playing
//! the server) with no network, and the HTTP client only carries bytes.
//!
//! ```text
//!  ┌──────┐ push pages until the device log is acknowledged ┌──────┐ pull pages until !more ┌──────┐
//!  │ Push │ ───────────────────────────────────────────────▶│ Pull │ ─────────────────────▶ │ Done │
//!  └──────┘                                                 └──────┘                        └──────┘
//! ```

use serde::{Deserialize, Serialize};

use crate::doc::Conflict;
use crate::store::{Batch, Cursor, Store};
use crate::sync::wire;
use crate::{RecordId, Result};

/// The origin recorded for changes received from the server; they are never
/// pushed back.
pub const SERVER_ORIGIN: &str = "server";
/// Payload bytes per push request.
pub const PUSH_PAGE_BYTES: usize = 1 << 20;
/// Payload bytes asked per pull response.
pub const PULL_PAGE_BYTES: usize = 1 << 20;

/// Header of a push body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushHeader {
    /// Device log position of the last entry of the body.
    pub upto: u64,
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
}

/// Header of a pull response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PullHeader {
    /// Team log position after this page.
    pub upto: u64,
    /// Whether the team log has more after `upto`.
    pub more: bool,
}

/// The next thing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `POST /v1/sync/push` with this envelope.
    Push {
        /// The compressed envelope.
        body: Vec<u8>,
        /// Entries it carries.
        entries: usize,
    },
    /// `GET /v1/sync/pull?after=…&max_bytes=…`.
    Pull {
        /// The pull cursor.
        after: u64,
        /// Page size.
        max_bytes: usize,
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
    /// Request and response body bytes, for the weak-connection budget.
    pub bytes_sent: u64,
    /// Response body bytes.
    pub bytes_received: u64,
    /// HTTP round trips.
    pub round_trips: u32,
}

/// Conflicts of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordConflicts {
    /// The record.
    pub id: RecordId,
    /// Its unresolved fields.
    pub conflicts: Vec<Conflict>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Push,
    Pull,
    Done,
}

/// One sync run against the server.
pub struct SyncSession<'a> {
    store: &'a Store,
    phase: Phase,
    pending_push_upto: Option<u64>,
    summary: SyncSummary,
}

impl<'a> SyncSession<'a> {
    /// Starts a sync of `store` from its saved cursors.
    pub fn new(store: &'a Store) -> Self {
        SyncSession {
            store,
            phase: Phase::Push,
            pending_push_upto: None,
            summary: SyncSummary::default(),
        }
    }

    /// The request to send now, or `None` when the sync is complete.
    pub fn next_request(&mut self) -> Result<Option<Request>> {
        loop {
            match self.phase {
                Phase::Push => {
                    let after = self.store.cursor(Cursor::Push)?;
                    let batch: Batch =
                        self.store
                            .changes_since(after, PUSH_PAGE_BYTES, Some(SERVER_ORIGIN))?;
                    if batch.entries.is_empty() {
                        if batch.upto > after {
                            // Only server-origin entries were left: nothing to send.
                            self.store.set_cursor(Cursor::Push, batch.upto)?;
                        }
                        self.phase = Phase::Pull;
                        continue;
                    }
                    let body = wire::encode(&PushHeader { upto: batch.upto }, &batch.entries)?;
                    self.pending_push_upto = Some(batch.upto);
                    return Ok(Some(Request::Push {
                        body,
                        entries: batch.entries.len(),
                    }));
                }
                Phase::Pull => {
                    return Ok(Some(Request::Pull {
                        after: self.store.cursor(Cursor::Pull)?,
                        max_bytes: PULL_PAGE_BYTES,
                    }));
                }
                Phase::Done => return Ok(None),
            }
        }
    }

    /// Takes the server's answer to a push.
    pub fn on_push_ack(
        &mut self,
        ack: &PushAck,
        request_bytes: usize,
        response_bytes: usize,
    ) -> Result<()> {
        self.summary.round_trips += 1;
        self.summary.bytes_sent += request_bytes as u64;
        self.summary.bytes_received += response_bytes as u64;
        let sent_upto = self.pending_push_upto.take().unwrap_or(0);
        // The server acknowledges what it committed; never beyond what we sent.
        let upto = ack.acked_upto.min(sent_upto);
        let before = self.store.cursor(Cursor::Push)?;
        if upto > before {
            self.store.set_cursor(Cursor::Push, upto)?;
        }
        self.summary.pushed += ack.applied + ack.duplicates + ack.refused + ack.erased;
        Ok(())
    }

    /// Takes a pull response body: applies it all or nothing, then moves the
    /// pull cursor.
    pub fn on_pull_body(&mut self, body: &[u8], request_bytes: usize) -> Result<()> {
        self.summary.round_trips += 1;
        self.summary.bytes_sent += request_bytes as u64;
        self.summary.bytes_received += body.len() as u64;
        let (header, entries): (PullHeader, _) = wire::decode(body)?;
        let report = self.store.apply(
            SERVER_ORIGIN,
            &Batch {
                entries,
                upto: header.upto,
                more: header.more,
            },
        )?;
        let before = self.store.cursor(Cursor::Pull)?;
        if header.upto > before {
            self.store.set_cursor(Cursor::Pull, header.upto)?;
        }
        self.summary.pulled += report.applied;
        self.summary.erased += report.erased;
        for id in report.records {
            let conflicts = self.store.conflicts(id)?;
            if !conflicts.is_empty() {
                self.summary.conflicts.retain(|c| c.id != id);
                self.summary
                    .conflicts
                    .push(RecordConflicts { id, conflicts });
            }
        }
        if !header.more {
            self.phase = Phase::Done;
        }
        Ok(())
    }

    /// What the sync has done so far.
    pub fn summary(&self) -> &SyncSummary {
        &self.summary
    }

    /// Ends the session and returns its summary.
    pub fn finish(self) -> SyncSummary {
        self.summary
    }
}
