//! A deterministic in-memory driver of [`SyncSession`]: device stores sync
//! with a server store through a simulated network that loses, duplicates,
//! delays and so reorders requests and answers. Tests use it to run the
//! production protocol under faults with no socket, no thread and no clock.
//!
//! The server side is carnet-server's sync routes with HTTP taken away, on
//! the same core calls: a push is read with [`protocol::read_push`],
//! applied with [`Store::apply_pushed`] as the pushing device (bound to its
//! store's actor, as enrollment binds it) and acknowledged with
//! [`PushAck::committed`]; a pull is served from the server store's log with
//! [`Store::changes_since`], without the device's own entries, as
//! [`protocol::pull_answer`] (a page, or 204 when nothing is new); a wipe order
//! answers 410 and a revocation 401 before anything else; errors get the
//! status the server gives them. Answers carry the server log's lineage;
//! [`Sim::restore`] puts an older copy of the server store in place with a
//! new lineage, as `carnet-server restore` does.
//!
//! Time is virtual (milliseconds, starting at 0) and moves only from one
//! scheduled delivery to the next, so a backoff of seconds costs nothing.
//! Every random choice comes from one generator seeded at [`Sim::new`]: the
//! same seed and the same calls give the same schedule, so a failing seed
//! replays identically.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::json;

use crate::photo::{BlobStatus, PhotoHash};
use crate::sync::protocol::{self, BlobProgress, PullAnswer, PushAck, Request, SyncSummary};
use crate::sync::session::{Effect, Event, RequestId, Response, SyncOptions, SyncSession};
use crate::{Error, Result, Store};

/// How long a device waits for an answer before it counts the request as
/// lost (virtual milliseconds).
pub const TIMEOUT_MS: u64 = 1000;

/// How bad the network is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// Chance in 1000 that a message (request or answer) is lost.
    pub drop_per_mille: u16,
    /// Chance in 1000 that a message that arrives arrives twice.
    pub duplicate_per_mille: u16,
    /// Largest delay of one message, in virtual ms (at least 1). Messages
    /// overtake each other; past [`TIMEOUT_MS`] an answer comes too late.
    pub max_delay_ms: u64,
}

impl Faults {
    /// A network that delivers every message once, in order.
    pub const NONE: Faults = Faults {
        drop_per_mille: 0,
        duplicate_per_mille: 0,
        max_delay_ms: 1,
    };
}

/// What the network and the server saw, to check that faults happened and
/// that the server answered every copy of a push alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests that reached the server (copies included).
    pub served: u64,
    /// Messages lost.
    pub dropped: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Requests a device gave up waiting for.
    pub timeouts: u64,
    /// Copies of a push that the server answered differently from the
    /// first copy (status, or acknowledged position): always 0 for a server
    /// that applies a batch all or nothing, idempotently. (Counts may
    /// differ: an erasure the first copy made is no news to the second.)
    pub inconsistent_copies: u64,
}

/// One enrolled device.
struct Device<'a> {
    store: &'a Store,
    /// Its name on the server: the origin of what it pushes.
    name: String,
    /// The actor bound at enrollment.
    actor: String,
    /// Which of its sessions is current; older sessions' messages are
    /// those of a closed connection.
    generation: u64,
    session: Option<SyncSession>,
    outcome: Option<Result<SyncSummary>>,
    revoked: bool,
    wipe_ordered: bool,
}

/// A message or a timer on its way.
enum Delivery {
    /// A request reaching the server.
    Request(RequestId, Request),
    /// An answer reaching the device.
    Answer(RequestId, Response),
    /// The device's patience for a request runs out.
    Timeout(RequestId),
    /// The device's backoff is over.
    Timer,
}

struct Scheduled {
    device: usize,
    generation: u64,
    what: Delivery,
}

/// How the server answered a push (status, acknowledged position), to
/// compare its copies.
type Fingerprint = (u16, Option<u64>);

/// Devices, a server store and the network between them.
pub struct Sim<'a> {
    server: &'a Store,
    lineage: String,
    devices: Vec<Device<'a>>,
    options: SyncOptions,
    faults: Faults,
    rng: SplitMix,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Scheduled>,
    pushes: HashMap<(usize, u64, RequestId), Fingerprint>,
    stats: Stats,
    /// The server's photo blobs: bytes received so far, and whether whole
    /// and checked.
    blobs: HashMap<PhotoHash, (Vec<u8>, bool)>,
}

impl<'a> Sim<'a> {
    /// A perfect network to `server`; `seed` decides every fault to come,
    /// `options` every device's sessions.
    pub fn new(server: &'a Store, seed: u64, options: SyncOptions) -> Self {
        Sim {
            server,
            lineage: "lineage-0".into(),
            devices: Vec::new(),
            options,
            faults: Faults::NONE,
            rng: SplitMix(seed),
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            pushes: HashMap::new(),
            stats: Stats::default(),
            blobs: HashMap::new(),
        }
    }

    /// Enrolls `store` as a new device, bound to its actor; returns its
    /// number. A store wiped by a wipe order is enrolled again this way.
    pub fn enroll(&mut self, store: &'a Store) -> usize {
        let n = self.devices.len();
        self.devices.push(Device {
            store,
            name: format!("device-{n}"),
            actor: store.peer_id(),
            generation: 0,
            session: None,
            outcome: None,
            revoked: false,
            wipe_ordered: false,
        });
        n
    }

    /// Changes the network's faults from now on (messages on their way keep
    /// their fate).
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// The server is restored from `backup` (an older copy of its store):
    /// from now on it serves that store, in a new lineage of its log.
    pub fn restore(&mut self, backup: &'a Store) {
        self.server = backup;
        self.lineage = format!("lineage-{:016x}", self.rng.next());
    }

    /// A supervisor orders `device` wiped.
    pub fn order_wipe(&mut self, device: usize) -> Result<()> {
        self.device(device)?.wipe_ordered = true;
        Ok(())
    }

    /// A supervisor revokes `device`.
    pub fn revoke(&mut self, device: usize) -> Result<()> {
        self.device(device)?.revoked = true;
        Ok(())
    }

    /// Whether the server holds `blob` whole.
    pub fn has_blob(&self, blob: &PhotoHash) -> bool {
        self.blobs.get(blob).is_some_and(|(_, whole)| *whole)
    }

    /// Blobs the server holds, whole or partly.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// What happened so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Starts a sync of `device`, unless one is running; its outcome is kept
    /// for [`Sim::take_outcome`].
    pub fn start(&mut self, device: usize) -> Result<()> {
        let options = self.options;
        let d = self.device(device)?;
        if d.session.is_some() {
            return Ok(());
        }
        d.generation += 1;
        d.outcome = None;
        d.session = Some(SyncSession::new(options));
        self.tell(device, Event::Start);
        Ok(())
    }

    /// Delivers the next message or timer; false when nothing is left (every
    /// sync is over).
    pub fn step(&mut self) -> bool {
        let Some(((at, _), next)) = self.queue.pop_first() else {
            return false;
        };
        self.now = self.now.max(at);
        let current = self
            .devices
            .get(next.device)
            .is_some_and(|d| d.generation == next.generation && d.session.is_some());
        match next.what {
            Delivery::Request(id, request) => {
                let response = self.serve(next.device, &request);
                if let Request::Push { .. } = request {
                    self.compare_copies((next.device, next.generation, id), &response);
                }
                self.post(next.device, next.generation, Delivery::Answer(id, response));
            }
            Delivery::Answer(id, response) if current => {
                self.tell(next.device, Event::Response { id, response });
            }
            Delivery::Timeout(id) if current => {
                let event = Event::TransportFailed {
                    id,
                    unsent: false,
                    error: "no answer in time".into(),
                };
                if self.tell(next.device, event) {
                    self.stats.timeouts += 1;
                }
            }
            Delivery::Timer if current => {
                self.tell(next.device, Event::TimerFired);
            }
            // For a session that is over: a closed connection's traffic.
            Delivery::Answer(..) | Delivery::Timeout(_) | Delivery::Timer => {}
        }
        true
    }

    /// Delivers everything until every sync is over.
    pub fn run(&mut self) {
        while self.step() {}
    }

    /// Syncs `device` to the end (other devices' syncs run meanwhile).
    pub fn sync(&mut self, device: usize) -> Result<SyncSummary> {
        self.start(device)?;
        while self.device(device)?.session.is_some() && self.step() {}
        self.take_outcome(device)?.unwrap_or_else(|| {
            Err(Error::Internal(
                "a simulated sync stopped without finishing".into(),
            ))
        })
    }

    /// How the last finished sync of `device` ended, once.
    pub fn take_outcome(&mut self, device: usize) -> Result<Option<Result<SyncSummary>>> {
        Ok(self.device(device)?.outcome.take())
    }

    fn device(&mut self, device: usize) -> Result<&mut Device<'a>> {
        self.devices
            .get_mut(device)
            .ok_or_else(|| Error::invalid("device", "no such simulated device"))
    }

    /// Gives `event` to the device's session and carries out its effects;
    /// whether the session did anything with it.
    fn tell(&mut self, device: usize, event: Event) -> bool {
        let Some(d) = self.devices.get_mut(device) else {
            return false;
        };
        let (store, generation) = (d.store, d.generation);
        let Some(session) = d.session.as_mut() else {
            return false;
        };
        let effects = session.handle(store, event);
        let acted = !effects.is_empty();
        for effect in effects {
            match effect {
                Effect::Send { id, request } => {
                    let at = self.now + TIMEOUT_MS;
                    self.schedule(at, device, generation, Delivery::Timeout(id));
                    self.post(device, generation, Delivery::Request(id, request));
                }
                Effect::Wait(wait) => {
                    let at = self.now.saturating_add(millis(wait));
                    self.schedule(at, device, generation, Delivery::Timer);
                }
                Effect::Progress(_) => {}
                Effect::Finished(result) => {
                    let d = &mut self.devices[device];
                    d.session = None;
                    d.outcome = Some(result);
                }
            }
        }
        acted
    }

    /// Puts a message on the network: lost, delivered once or twice, after
    /// random delays.
    fn post(&mut self, device: usize, generation: u64, what: Delivery) {
        let f = self.faults;
        if self.rng.chance(f.drop_per_mille) {
            self.stats.dropped += 1;
            return;
        }
        if self.rng.chance(f.duplicate_per_mille) {
            self.stats.duplicated += 1;
            let copy = match &what {
                Delivery::Request(id, r) => Delivery::Request(*id, r.clone()),
                Delivery::Answer(id, r) => Delivery::Answer(*id, r.clone()),
                Delivery::Timeout(id) => Delivery::Timeout(*id),
                Delivery::Timer => Delivery::Timer,
            };
            let at = self.now + self.delay();
            self.schedule(at, device, generation, copy);
        }
        let at = self.now + self.delay();
        self.schedule(at, device, generation, what);
    }

    fn delay(&mut self) -> u64 {
        1 + self.rng.below(self.faults.max_delay_ms.max(1))
    }

    fn schedule(&mut self, at: u64, device: usize, generation: u64, what: Delivery) {
        self.seq += 1;
        self.queue.insert(
            (at, self.seq),
            Scheduled {
                device,
                generation,
                what,
            },
        );
    }

    fn compare_copies(&mut self, key: (usize, u64, RequestId), response: &Response) {
        let acked = serde_json::from_slice::<PushAck>(&response.body)
            .ok()
            .map(|a| a.acked_upto);
        let print = (response.status, acked);
        match self.pushes.get(&key) {
            Some(first) if *first != print => self.stats.inconsistent_copies += 1,
            Some(_) => {}
            None => {
                self.pushes.insert(key, print);
            }
        }
    }

    /// The server's answer to a device's request.
    fn serve(&mut self, device: usize, request: &Request) -> Response {
        self.stats.served += 1;
        let Some(d) = self.devices.get(device) else {
            return problem(401, "unauthorized", "unknown device");
        };
        if d.wipe_ordered {
            return problem(410, "wipe", "this device was ordered wiped");
        }
        if d.revoked {
            return problem(401, "unauthorized", "revoked device");
        }
        let served = match request {
            Request::Push { body, .. } => {
                let (name, actor) = (d.name.clone(), d.actor.clone());
                self.push(&name, &actor, body).and_then(|ack| {
                    serde_json::to_vec(&ack).map_err(|e| Error::Internal(e.to_string()))
                })
            }
            Request::Pull {
                after,
                max_bytes,
                lineage,
            } => match self.pull(d, *after, *max_bytes, lineage.as_deref()) {
                Ok(PullAnswer::NothingNew { upto }) => {
                    return Response {
                        status: 204,
                        body: Vec::new(),
                        retry_after: None,
                        upto: Some(upto),
                    };
                }
                Ok(PullAnswer::Page(body)) => Ok(body),
                Err(e) => Err(e),
            },
            Request::PhotoStatus { blob } => return self.blob_status(*blob),
            Request::PhotoUpload { blob, offset, body } => {
                return self.blob_upload(*blob, *offset, body);
            }
            Request::PhotoDownload { blob, offset, len } => {
                return self.blob_download(*blob, *offset, *len);
            }
        };
        match served {
            Ok(body) => Response {
                status: 200,
                body,
                retry_after: None,
                upto: None,
            },
            Err(e) => refusal(&e),
        }
    }

    fn push(&mut self, name: &str, actor: &str, body: &[u8]) -> Result<PushAck> {
        let pushed = protocol::read_push(body)?;
        if pushed.is_stale(&self.lineage) {
            return Ok(PushAck::stale(&self.lineage));
        }
        let batch = pushed.batch;
        let report = self.server.apply_pushed(name, Some(actor), &batch)?;
        // As carnet-server does once a push commits: erased photos' bytes go.
        for (full, thumb) in &report.erased_photos {
            self.blobs.remove(full);
            self.blobs.remove(thumb);
        }
        Ok(PushAck::committed(batch.upto, &report, Some(&self.lineage)))
    }

    /// How much of `blob` the server holds (`GET /v1/photos/{blob}/upload`).
    fn blob_status(&self, blob: PhotoHash) -> Response {
        match self.server.photo_blob_status(blob) {
            Ok(BlobStatus::Referenced { .. }) => self.held(200, &blob),
            Ok(BlobStatus::Erased) => problem(410, "photo-erased", "photo erased"),
            Ok(BlobStatus::Unknown) => problem(404, "photo-unreferenced", "no record names it"),
            Err(e) => refusal(&e),
        }
    }

    fn held(&self, status: u16, blob: &PhotoHash) -> Response {
        let (received, complete) = self
            .blobs
            .get(blob)
            .map_or((0, false), |(bytes, whole)| (bytes.len() as u64, *whole));
        let body = serde_json::to_vec(&BlobProgress { received, complete }).unwrap_or_default();
        Response {
            status,
            body,
            retry_after: None,
            upto: None,
        }
    }

    /// `PUT /v1/photos/{blob}/upload?offset=…`, as carnet-server checks it.
    fn blob_upload(&mut self, blob: PhotoHash, offset: u64, body: &[u8]) -> Response {
        let size = match self.server.photo_blob_status(blob) {
            Ok(BlobStatus::Referenced { size, .. }) => size,
            Ok(BlobStatus::Erased) => return problem(410, "photo-erased", "photo erased"),
            Ok(BlobStatus::Unknown) => {
                return problem(404, "photo-unreferenced", "no record names it");
            }
            Err(e) => return refusal(&e),
        };
        let entry = self.blobs.entry(blob).or_default();
        if entry.1 || offset != entry.0.len() as u64 {
            return self.held(409, &blob);
        }
        if offset + body.len() as u64 > size {
            return problem(413, "photo-too-large", "more bytes than the photo has");
        }
        entry.0.extend_from_slice(body);
        if entry.0.len() as u64 == size {
            if PhotoHash::of(&entry.0) != blob {
                self.blobs.remove(&blob);
                return problem(
                    400,
                    "photo-corrupt",
                    "the bytes do not match the photo's hash",
                );
            }
            entry.1 = true;
        }
        self.held(200, &blob)
    }

    /// `GET /v1/photos/{blob}` with a range.
    fn blob_download(&self, blob: PhotoHash, offset: u64, len: u64) -> Response {
        if let Ok(BlobStatus::Erased) = self.server.photo_blob_status(blob) {
            return problem(410, "photo-erased", "photo erased");
        }
        match self.blobs.get(&blob) {
            Some((bytes, true)) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                if start >= bytes.len() {
                    return problem(416, "range", "past the end of the photo");
                }
                let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                Response {
                    status: 206,
                    body: bytes[start..end.min(bytes.len())].to_vec(),
                    retry_after: None,
                    upto: None,
                }
            }
            _ => problem(404, "photo-missing", "not uploaded yet"),
        }
    }

    fn pull(
        &self,
        d: &Device<'_>,
        after: u64,
        max_bytes: usize,
        known: Option<&str>,
    ) -> Result<PullAnswer> {
        let page = self.server.changes_since(
            after,
            protocol::pull_page_bytes(Some(max_bytes)),
            Some(&d.name),
        )?;
        protocol::pull_answer(&page, known, &self.lineage, protocol::FORMAT)
    }
}

/// The server's answer to a core error, with the status carnet-server
/// gives it.
fn refusal(e: &Error) -> Response {
    match e {
        Error::TooLarge { .. } => problem(413, "too-large", "body too large"),
        Error::Refused { .. } => problem(403, "refused", "changes this device may not make"),
        Error::RejectedChanges(_) | Error::Invalid { .. } | Error::InvalidTransition { .. } => {
            problem(400, "bad-request", "malformed or unverifiable request")
        }
        Error::NotFound(_) => problem(404, "not-found", "not found"),
        Error::Erased(_) => problem(404, "erased", "record erased"),
        _ => problem(500, "internal", "internal server error"),
    }
}

fn problem(status: u16, name: &str, detail: &str) -> Response {
    let body = json!({
        "type": format!("https://carnet.invalid/problems/{name}"),
        "title": name, "status": status, "detail": detail,
    });
    Response {
        status,
        body: body.to_string().into_bytes(),
        retry_after: None,
        upto: None,
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform and
/// version, which a seeded replay needs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (> 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, per_mille: u16) -> bool {
        per_mille > 0 && self.below(1000) < u64::from(per_mille)
    }
}

/// A session's wait in virtual milliseconds.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
