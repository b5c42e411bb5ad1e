//! Random field work on a store, and the ledger of what a caller was told
//! succeeded. Every acknowledged edit leaves a unique mark (a word appended to
//! a report's text, a tag on a note, a status event, a contact, an erasure)
//! so that, after any fault, the ledger says exactly what must be there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use carnet_core::lifecycle::ReportStatus;
use carnet_core::store::{Query, StatusChange};
use carnet_core::{Error, Kind, Record, RecordId, Store};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

/// One operation whose call returned `Ok`: the caller was told it is saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// A report created with `word` as its text.
    Report(RecordId, String),
    /// `word` appended to a report's text.
    Word(RecordId, String),
    /// A note created with a unique tag.
    Tag(RecordId, String),
    /// One status event appended to a report.
    Status(RecordId),
    /// A resident contact created.
    Contact(RecordId),
    /// A resident contact erased.
    Erase(RecordId),
    /// A position saved in the store's settings ([`CURSOR_SETTING`]): a
    /// small durable write of the kind a sync cursor is.
    Cursor(u64),
    /// Not an acknowledgement: an erasure of this contact is about to be
    /// attempted, so the contact may be gone even if no `Erase` follows.
    MayErase(RecordId),
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ack::Report(id, w) => write!(f, "R {id} {w}"),
            Ack::Word(id, w) => write!(f, "W {id} {w}"),
            Ack::Tag(id, t) => write!(f, "T {id} {t}"),
            Ack::Status(id) => write!(f, "S {id}"),
            Ack::Contact(id) => write!(f, "C {id}"),
            Ack::Erase(id) => write!(f, "E {id}"),
            Ack::Cursor(n) => write!(f, "K {n}"),
            Ack::MayErase(id) => write!(f, "e {id}"),
        }
    }
}

impl FromStr for Ack {
    type Err = String;
    fn from_str(line: &str) -> Result<Self, String> {
        let parts: Vec<&str> = line.split(' ').collect();
        let id = |i: usize| -> Result<RecordId, String> {
            parts
                .get(i)
                .ok_or("missing id")?
                .parse()
                .map_err(|e: Error| e.to_string())
        };
        let word = |i: usize| -> Result<String, String> {
            Ok(parts.get(i).ok_or("missing word")?.to_string())
        };
        Ok(match parts.first().copied() {
            Some("R") => Ack::Report(id(1)?, word(2)?),
            Some("W") => Ack::Word(id(1)?, word(2)?),
            Some("T") => Ack::Tag(id(1)?, word(2)?),
            Some("S") => Ack::Status(id(1)?),
            Some("C") => Ack::Contact(id(1)?),
            Some("E") => Ack::Erase(id(1)?),
            Some("e") => Ack::MayErase(id(1)?),
            Some("K") => Ack::Cursor(word(1)?.parse().map_err(|_| "bad cursor")?),
            _ => return Err(format!("unknown line {line:?}")),
        })
    }
}

/// The setting the workers' cursor writes go to (never the sync cursors:
/// the devices of the server campaigns also sync).
pub const CURSOR_SETTING: &str = "reliability.cursor";

/// The cursor last saved under [`CURSOR_SETTING`] (0 if none).
fn saved_cursor(store: &Store) -> carnet_core::Result<u64> {
    Ok(store
        .setting(CURSOR_SETTING)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Makes random edits to one store, each marked uniquely with `prefix`.
pub struct Worker {
    /// Unique mark prefix (device and run), e.g. `d3r2`.
    pub prefix: String,
    counter: u64,
    reports: Vec<RecordId>,
    contacts: Vec<RecordId>,
    cursor: u64,
    /// Whether to include erasures (and thus WAL checkpoints).
    pub erase: bool,
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

impl Worker {
    /// A worker over `store`, knowing the records already in it.
    pub fn new(store: &Store, prefix: impl Into<String>) -> carnet_core::Result<Worker> {
        let mut w = Worker {
            prefix: prefix.into(),
            counter: 0,
            reports: vec![],
            contacts: vec![],
            cursor: 0,
            erase: true,
        };
        w.refresh(store)?;
        w.cursor = saved_cursor(store)?;
        Ok(w)
    }

    /// Re-reads which reports and contacts the store holds (after a pull).
    pub fn refresh(&mut self, store: &Store) -> carnet_core::Result<()> {
        let ids = |kind| -> carnet_core::Result<Vec<RecordId>> {
            Ok(store
                .list(&Query {
                    kind: Some(kind),
                    limit: Some(1000),
                    ..Default::default()
                })?
                .items
                .iter()
                .map(|r| r.header().id)
                .collect())
        };
        self.reports = ids(Kind::Report)?;
        self.contacts = ids(Kind::Contact)?;
        Ok(())
    }

    fn mark(&mut self, what: char) -> String {
        self.counter += 1;
        format!("{}{what}{}", self.prefix, self.counter)
    }

    /// Does one random operation. `Ok(Some(ack))` when the store said it was
    /// saved; `Ok(None)` when the operation did not apply (nothing to edit,
    /// a record erased by a peer, a transition no longer allowed); `Err` for
    /// anything else, which is a failure of the store.
    pub fn step(&mut self, store: &Store, rng: &mut StdRng) -> carnet_core::Result<Option<Ack>> {
        self.step_with(store, rng, &mut |_| {})
    }

    /// [`Worker::step`], telling `intent` about an erasure before trying it.
    pub fn step_with(
        &mut self,
        store: &Store,
        rng: &mut StdRng,
        intent: &mut dyn FnMut(Ack),
    ) -> carnet_core::Result<Option<Ack>> {
        let roll = rng.random_range(0..100);
        let pick = |v: &Vec<RecordId>, rng: &mut StdRng| {
            if v.is_empty() {
                None
            } else {
                Some(v[rng.random_range(0..v.len())])
            }
        };
        let result = match roll {
            0..25 => {
                let word = self.mark('w');
                let input = fields(
                    json!({"sector": "conte-joliot", "category": "lighting", "place": "hall B", "text": word}),
                );
                let id = store.create(Kind::Report, &input)?;
                self.reports.push(id);
                Ok(Some(Ack::Report(id, word)))
            }
            25..55 => {
                let Some(id) = pick(&self.reports, rng) else {
                    return Ok(None);
                };
                let text = match store.get(id) {
                    Ok(Record::Report(r)) => r.text,
                    Ok(_) => return Ok(None),
                    Err(Error::NotFound(_) | Error::Erased(_)) => return Ok(None),
                    Err(e) => return Err(e),
                };
                // Keep texts bounded: the schema caps their length.
                if text.len() > 3000 {
                    return Ok(None);
                }
                let word = self.mark('w');
                store
                    .set_field(id, "text", &json!(format!("{text} {word}")))
                    .map(|()| Some(Ack::Word(id, word)))
            }
            55..65 => {
                let tag = self.mark('t');
                let input = fields(
                    json!({"sector": "ozanam-albignac", "text": "ronde du soir", "tags": [tag]}),
                );
                store
                    .create(Kind::Note, &input)
                    .map(|id| Some(Ack::Tag(id, tag)))
            }
            65..80 => {
                let Some(id) = pick(&self.reports, rng) else {
                    return Ok(None);
                };
                let status = match store.get(id) {
                    Ok(Record::Report(r)) => r.status,
                    Ok(_) | Err(Error::NotFound(_) | Error::Erased(_)) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let next = status.allowed_next();
                let to: ReportStatus = next[rng.random_range(0..next.len())];
                let change = StatusChange {
                    status: Some(to),
                    to: Some("bailleur".into()),
                    duplicate_of: Some(RecordId::new()),
                    comment: Some(self.mark('c')),
                    ..Default::default()
                };
                match store.change_status(id, &change) {
                    Ok(()) => Ok(Some(Ack::Status(id))),
                    Err(Error::InvalidTransition { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            80..88 => {
                let name = self.mark('n');
                let id = store.create(
                    Kind::Contact,
                    &fields(json!({"name": format!("Résident {name}")})),
                )?;
                self.contacts.push(id);
                Ok(Some(Ack::Contact(id)))
            }
            88..93 if self.erase => {
                let Some(id) = pick(&self.contacts, rng) else {
                    return Ok(None);
                };
                self.contacts.retain(|c| *c != id);
                intent(Ack::MayErase(id));
                match store.erase(id) {
                    Ok(()) => Ok(Some(Ack::Erase(id))),
                    Err(Error::NotFound(_) | Error::Erased(_)) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            _ => {
                self.cursor += rng.random_range(1..5);
                store
                    .set_setting(CURSOR_SETTING, Some(&self.cursor.to_string()))
                    .map(|()| Some(Ack::Cursor(self.cursor)))
            }
        };
        match result {
            Err(Error::NotFound(_) | Error::Erased(_)) => Ok(None),
            other => other,
        }
    }
}

/// Everything acknowledged, for checking a store (or a team log) later.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// Reports created (their first word is in `words`).
    pub reports: BTreeSet<RecordId>,
    /// Words appended, per report.
    pub words: Vec<(RecordId, String)>,
    /// Note tags.
    pub tags: Vec<(RecordId, String)>,
    /// Acknowledged status events per report.
    pub events: BTreeMap<RecordId, usize>,
    /// Contacts created.
    pub contacts: BTreeSet<RecordId>,
    /// Contacts erased.
    pub erased: BTreeSet<RecordId>,
    /// Contacts whose erasure was attempted without an acknowledgement.
    pub maybe_erased: BTreeSet<RecordId>,
    /// Highest peer cursor acknowledged.
    pub cursor: u64,
}

impl Ledger {
    /// Adds one acknowledgement.
    pub fn record(&mut self, ack: &Ack) {
        match ack {
            Ack::Report(id, w) => {
                self.reports.insert(*id);
                self.words.push((*id, w.clone()));
            }
            Ack::Word(id, w) => self.words.push((*id, w.clone())),
            Ack::Tag(id, t) => self.tags.push((*id, t.clone())),
            Ack::Status(id) => *self.events.entry(*id).or_default() += 1,
            Ack::Contact(id) => {
                self.contacts.insert(*id);
            }
            Ack::Erase(id) => {
                self.erased.insert(*id);
            }
            Ack::Cursor(n) => self.cursor = self.cursor.max(*n),
            Ack::MayErase(id) => {
                self.maybe_erased.insert(*id);
            }
        }
    }

    /// Merges another ledger (another device's).
    pub fn extend(&mut self, other: &Ledger) {
        self.reports.extend(other.reports.iter().copied());
        self.words.extend(other.words.iter().cloned());
        self.tags.extend(other.tags.iter().cloned());
        for (id, n) in &other.events {
            *self.events.entry(*id).or_default() += n;
        }
        self.contacts.extend(other.contacts.iter().copied());
        self.erased.extend(other.erased.iter().copied());
        self.maybe_erased.extend(other.maybe_erased.iter().copied());
        self.cursor = self.cursor.max(other.cursor);
    }

    /// Total acknowledged status events.
    pub fn total_events(&self) -> usize {
        self.events.values().sum()
    }
}

/// How a store compares with a ledger.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Check {
    /// Acknowledged things missing (must be empty).
    pub lost: Vec<String>,
    /// Status events present beyond those acknowledged, summed over reports.
    pub extra_events: usize,
    /// Reports with more events than acknowledged plus `slack` (must be empty).
    pub doubled: Vec<String>,
    /// Contacts erased by an attempt that was never acknowledged (in flight
    /// at a kill): allowed, but only for contacts announced by `MayErase`.
    pub unacknowledged_erasures: usize,
}

/// Checks that every acknowledged mark is in `store`. `event_slack` is how
/// many unacknowledged status events one report may hold beyond its
/// acknowledged count (a writer killed after commit but before it could
/// report: 1 per kill; 0 when every write was acknowledged).
pub fn check_store(
    store: &Store,
    ledger: &Ledger,
    event_slack: usize,
    check_cursor: bool,
) -> carnet_core::Result<Check> {
    let mut c = Check::default();
    let mut texts: BTreeMap<RecordId, Option<String>> = BTreeMap::new();
    for (id, word) in &ledger.words {
        let text = texts.entry(*id).or_insert_with(|| match store.get(*id) {
            Ok(Record::Report(r)) => Some(r.text),
            _ => None,
        });
        match text {
            Some(t) if t.split_whitespace().filter(|w| w == word).count() > 1 => c
                .doubled
                .push(format!("word {word} appears more than once in report {id}")),
            Some(t) if t.split_whitespace().any(|w| w == word) => {}
            Some(_) => c.lost.push(format!("word {word} of report {id}")),
            None => c.lost.push(format!("report {id} (word {word})")),
        }
    }
    for (id, tag) in &ledger.tags {
        match store.get(*id) {
            Ok(Record::Note(n)) if n.tags.contains(tag) => {}
            other => c.lost.push(format!(
                "tag {tag} of note {id}: {:?}",
                other.map(|r| r.header().id)
            )),
        }
    }
    for id in &ledger.reports {
        let have = match store.get(*id) {
            Ok(Record::Report(r)) => r.events.len(),
            _ => {
                c.lost.push(format!("report {id}"));
                continue;
            }
        };
        let want = ledger.events.get(id).copied().unwrap_or(0);
        if have < want {
            c.lost
                .push(format!("{} status events of report {id}", want - have));
        } else {
            c.extra_events += have - want;
            if have > want + event_slack {
                c.doubled.push(format!(
                    "report {id}: {have} status events, {want} acknowledged"
                ));
            }
        }
    }
    for id in &ledger.contacts {
        let erased = ledger.erased.contains(id);
        match (store.get(*id), erased) {
            (Ok(Record::Contact(_)), false) | (Err(Error::Erased(_)), true) => {}
            (Err(Error::Erased(_)), false) if ledger.maybe_erased.contains(id) => {
                c.unacknowledged_erasures += 1
            }
            (got, _) => c.lost.push(format!(
                "contact {id} (erased: {erased}) reads as {:?}",
                got.map(|r| r.header().id)
            )),
        }
    }
    for id in ledger.erased.difference(&ledger.contacts) {
        if !matches!(store.get(*id), Err(Error::Erased(_))) {
            c.lost.push(format!("erasure of {id}"));
        }
    }
    if check_cursor {
        let acked = saved_cursor(store)?;
        if acked < ledger.cursor {
            c.lost.push(format!(
                "saved cursor at {acked}, {} acknowledged",
                ledger.cursor
            ));
        }
    }
    Ok(c)
}

/// Every logged change can still be read back from its document (the log
/// and the documents agree). Returns the number of log entries.
pub fn check_log(store: &Store) -> carnet_core::Result<usize> {
    let mut after = 0;
    let mut n = 0;
    loop {
        let b = store.changes_since(after, 8 << 20, None)?;
        n += b.entries.len();
        if !b.more {
            return Ok(n);
        }
        after = b.upto;
    }
}

/// `PRAGMA integrity_check` on a database file opened read-only with
/// rusqlite directly (no Store): `"ok"` or the problems found.
pub fn integrity_check(path: &std::path::Path) -> rusqlite::Result<String> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows.join("; "))
}

/// The writer processes' work (`crash-writer`, `power-writer`): opens the
/// store at `db`, says so ("O", which tells the campaign the fault came
/// after the open), then makes `steps` edits (None: until the process is
/// killed), each intent and each acknowledgement printed on stdout and
/// flushed, an acknowledgement only after the call that made it returned.
/// A store error ends the process with code 3, which the campaigns count as
/// a writer failure.
pub fn write_and_acknowledge(db: &str, prefix: &str, rng: &mut StdRng, steps: Option<u64>) {
    use std::io::Write;
    let say = |line: &dyn fmt::Display| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let fail = |what: &str, e: &dyn fmt::Display| -> ! {
        eprintln!("{what}: {e}");
        std::process::exit(3)
    };
    let store = Store::open_unencrypted(db).unwrap_or_else(|e| fail("open failed", &e));
    say(&"O");
    let mut worker = Worker::new(&store, prefix.to_string())
        .unwrap_or_else(|e| fail("reading the store failed", &e));
    let mut done = 0;
    while steps.is_none_or(|n| done < n) {
        done += 1;
        match worker.step_with(&store, rng, &mut |a: Ack| say(&a)) {
            Ok(Some(ack)) => say(&ack),
            Ok(None) => {}
            Err(e) => fail("store error", &e),
        }
    }
}
