//! Property test of convergence, through the production protocol: several
//! devices do random offline work — including concurrent edits of the same
//! record and erasures — and sync, at random moments and while they keep
//! working, with a server store through a simulated network that loses,
//! duplicates, delays and reorders requests and answers
//! (`carnet_core::sync::sim`, seeded: a failing case replays identically).
//! Once the network heals and everyone syncs until nothing moves, every
//! store (the server's too) must answer every query identically, and no
//! acknowledged edit may be lost. Photos ride along: every photo still
//! attached has its blobs on the server and its thumbnail on every device,
//! and no byte of a removed photo is left anywhere.
//!
//! Cases: `PROPTEST_CASES` (default 64 here; `scripts/test` runs 1000). A
//! failure is saved in `convergence.proptest-regressions` and replayed first
//! on the next run.

use std::collections::BTreeSet;
use std::time::Duration;

use carnet_core::lifecycle::ReportStatus;
use carnet_core::photo::{PhotoHash, Variant};
use carnet_core::store::{GroupBy, Query, StatusChange};
use carnet_core::sync::sim::{Faults, Sim};
use carnet_core::sync::{Retry, SyncOptions};
use carnet_core::{Kind, Record, RecordId, Store};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Op {
    CreateReport {
        store: usize,
    },
    CreateContact {
        store: usize,
    },
    /// Appends a unique word to a report's text.
    AppendText {
        store: usize,
        pick: usize,
    },
    /// Writes a scalar field (concurrent writes conflict).
    SetPlace {
        store: usize,
        pick: usize,
        value: u8,
    },
    /// Adds a unique tag to a note created for the purpose.
    TagNote {
        store: usize,
    },
    ChangeStatus {
        store: usize,
        pick: usize,
        status: usize,
    },
    EraseContact {
        store: usize,
        pick: usize,
    },
    EditContact {
        store: usize,
        pick: usize,
    },
    /// Attaches a new photo to a report.
    AttachPhoto {
        store: usize,
        pick: usize,
    },
    /// Removes (erases) a photo attached earlier.
    RemovePhoto {
        store: usize,
        pick: usize,
    },
    /// Starts a sync of `device` (unless one is running) and delivers
    /// `steps` messages: the sync may still be under way at the next op.
    Sync {
        device: usize,
        steps: u8,
    },
    /// Delivers everything until every sync under way is over.
    Settle,
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    let s = 0..n;
    prop_oneof![
        2 => s.clone().prop_map(|store| Op::CreateReport { store }),
        1 => s.clone().prop_map(|store| Op::CreateContact { store }),
        3 => (s.clone(), any::<usize>()).prop_map(|(store, pick)| Op::AppendText { store, pick }),
        3 => (s.clone(), any::<usize>(), 0u8..4).prop_map(|(store, pick, value)| Op::SetPlace { store, pick, value }),
        1 => s.clone().prop_map(|store| Op::TagNote { store }),
        2 => (s.clone(), any::<usize>(), 0..7usize).prop_map(|(store, pick, status)| Op::ChangeStatus { store, pick, status }),
        1 => (s.clone(), any::<usize>()).prop_map(|(store, pick)| Op::EraseContact { store, pick }),
        1 => (s.clone(), any::<usize>()).prop_map(|(store, pick)| Op::EditContact { store, pick }),
        3 => (s.clone(), any::<usize>()).prop_map(|(store, pick)| Op::AttachPhoto { store, pick }),
        2 => (s.clone(), any::<usize>()).prop_map(|(store, pick)| Op::RemovePhoto { store, pick }),
        4 => (s, 0u8..12).prop_map(|(device, steps)| Op::Sync { device, steps }),
        1 => Just(Op::Settle),
    ]
}

/// The network of a case: how bad it is, and the seed of its faults.
#[derive(Debug, Clone, Copy)]
struct Weather {
    faults: Faults,
    seed: u64,
}

fn weather() -> impl Strategy<Value = Weather> {
    (0u16..400, 0u16..400, 1u64..1500, any::<u64>()).prop_map(|(drop, dup, delay, seed)| Weather {
        faults: Faults {
            drop_per_mille: drop,
            duplicate_per_mille: dup,
            max_delay_ms: delay,
        },
        seed,
    })
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>, Weather)> {
    (2usize..=5).prop_flat_map(|n| (Just(n), proptest::collection::vec(op(n), 5..40), weather()))
}

/// Small pages, so that syncs page; short backoffs cost nothing anyway
/// (time is virtual), three attempts so that some syncs give up.
const OPTIONS: SyncOptions = SyncOptions {
    retry: Retry {
        attempts: 3,
        first_backoff: Duration::from_millis(200),
    },
    push_page_bytes: 600,
    pull_page_bytes: 600,
    photos: true,
    full_photos: Some(false),
    photo_chunk_bytes: 700,
};

/// What was acknowledged to a user and must survive.
#[derive(Default)]
struct Ledger {
    words: Vec<(RecordId, String)>,
    tags: Vec<(RecordId, String)>,
    events: usize,
    reports: Vec<RecordId>,
    contacts: Vec<RecordId>,
    erased: BTreeSet<RecordId>,
    photos: Vec<(RecordId, PhotoHash, PhotoHash)>,
    removed: BTreeSet<PhotoHash>,
    counter: usize,
}

/// A small PNG, different for every `c`: a photo of its own.
fn photo_bytes(c: usize) -> Vec<u8> {
    let img = image::RgbImage::from_fn(48, 32, |x, y| {
        image::Rgb([
            (c % 251) as u8,
            (c / 251 % 251) as u8,
            (x * 5 + y * 3) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn fields(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn report_text(s: &Store, id: RecordId) -> Option<String> {
    match s.get(id) {
        Ok(Record::Report(r)) => Some(r.text),
        _ => None,
    }
}

/// Heals the network, lets every sync under way end, then syncs every
/// device in turn until a whole round moves nothing.
fn heal(sim: &mut Sim<'_>, devices: usize) {
    sim.set_faults(Faults::NONE);
    sim.run();
    for _round in 0..10 {
        let mut moved = false;
        for d in 0..devices {
            let s = sim
                .sync(d)
                .unwrap_or_else(|e| panic!("a healed network syncs every device: {e}"));
            moved |= s.pushed > 0 || s.pulled > 0 || s.photos_sent > 0 || s.thumbnails_received > 0;
        }
        if !moved {
            return;
        }
    }
    panic!("stores did not quiesce");
}

fn picture(s: &Store) -> Value {
    let all = s
        .list(&Query {
            limit: Some(1000),
            ..Default::default()
        })
        .unwrap();
    let mut details = Vec::new();
    for r in &all.items {
        let d = s.details(r.header().id).unwrap();
        details.push(
            json!({"record": d.record, "conflicts": d.conflicts, "history": d.history.len()}),
        );
    }
    json!({
        "list": all.items,
        "details": details,
        "by_status": s.count(&Query { kind: Some(Kind::Report), ..Default::default() }, GroupBy::Status).unwrap(),
        "by_kind": s.count(&Query::default(), GroupBy::Kind).unwrap(),
        "open": s.open_reports(None).unwrap().iter().map(|o| o.report.header().id).collect::<Vec<_>>(),
        "search": s.list(&Query { text: Some("w1".into()), ..Default::default() }).unwrap().items.len(),
    })
}

fn run(n: usize, ops: Vec<Op>, weather: Weather) {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        Some("/dev/shm")
    } else {
        None
    };
    let dir = match base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let stores: Vec<Store> = (0..n)
        .map(|i| {
            let s = Store::open_unencrypted(dir.path().join(format!("s{i}.db"))).unwrap();
            s.set_author(&format!("m{i}")).unwrap();
            s
        })
        .collect();
    let server = Store::open_unencrypted(dir.path().join("server.db")).unwrap();
    let mut sim = Sim::new(&server, weather.seed, OPTIONS);
    for s in &stores {
        sim.enroll(s);
    }
    sim.set_faults(weather.faults);
    let mut l = Ledger::default();
    let pick = |v: &Vec<RecordId>, p: usize| {
        if v.is_empty() {
            None
        } else {
            Some(v[p % v.len()])
        }
    };
    for op in ops {
        l.counter += 1;
        let c = l.counter;
        match op {
            Op::CreateReport { store } => {
                let id = stores[store]
                    .create(Kind::Report, &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "p", "text": format!("w{c}")})))
                    .unwrap();
                l.words.push((id, format!("w{c}")));
                l.reports.push(id);
            }
            Op::CreateContact { store } => {
                let id = stores[store]
                    .create(
                        Kind::Contact,
                        &fields(
                            json!({"name": format!("Resident {c}"), "consents": ["telephone"]}),
                        ),
                    )
                    .unwrap();
                l.contacts.push(id);
            }
            Op::AppendText { store, pick: p } => {
                let Some(id) = pick(&l.reports, p) else {
                    continue;
                };
                let s = &stores[store];
                let Some(text) = report_text(s, id) else {
                    continue;
                };
                s.set_field(id, "text", &json!(format!("{text} w{c}")))
                    .unwrap();
                l.words.push((id, format!("w{c}")));
            }
            Op::SetPlace {
                store,
                pick: p,
                value,
            } => {
                let Some(id) = pick(&l.reports, p) else {
                    continue;
                };
                if report_text(&stores[store], id).is_some() {
                    stores[store]
                        .set_field(id, "place", &json!(format!("place {value}")))
                        .unwrap();
                }
            }
            Op::TagNote { store } => {
                let s = &stores[store];
                let id = s.create(Kind::Note, &fields(json!({"sector": "ozanam-albignac", "text": "n", "tags": [format!("t{c}")]}))).unwrap();
                l.tags.push((id, format!("t{c}")));
            }
            Op::ChangeStatus {
                store,
                pick: p,
                status,
            } => {
                let Some(id) = pick(&l.reports, p) else {
                    continue;
                };
                let st = ReportStatus::ALL[status];
                let change = StatusChange {
                    status: Some(st),
                    to: Some("bailleur".into()),
                    duplicate_of: Some(RecordId::new()),
                    ..Default::default()
                };
                match stores[store].change_status(id, &change) {
                    Ok(()) => l.events += 1,
                    Err(
                        carnet_core::Error::InvalidTransition { .. }
                        | carnet_core::Error::NotFound(_),
                    ) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::EraseContact { store, pick: p } => {
                let Some(id) = pick(&l.contacts, p) else {
                    continue;
                };
                match stores[store].erase(id) {
                    Ok(()) => {
                        l.erased.insert(id);
                    }
                    Err(carnet_core::Error::NotFound(_) | carnet_core::Error::Erased(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::EditContact { store, pick: p } => {
                let Some(id) = pick(&l.contacts, p) else {
                    continue;
                };
                match stores[store].set_field(id, "phone", &json!(format!("06 {c:08}"))) {
                    Ok(())
                    | Err(carnet_core::Error::NotFound(_) | carnet_core::Error::Erased(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::AttachPhoto { store, pick: p } => {
                let Some(id) = pick(&l.reports, p) else {
                    continue;
                };
                match stores[store].attach_photo(id, &photo_bytes(c)) {
                    Ok(photo) => l.photos.push((id, photo.hash, photo.thumb)),
                    Err(
                        carnet_core::Error::NotFound(_) | carnet_core::Error::TooManyPhotos { .. },
                    ) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::RemovePhoto { store, pick: p } => {
                if l.photos.is_empty() {
                    continue;
                }
                let (id, hash, _) = l.photos[p % l.photos.len()];
                match stores[store].remove_photo(id, hash) {
                    Ok(()) => {
                        l.removed.insert(hash);
                    }
                    Err(
                        carnet_core::Error::NotFound(_)
                        | carnet_core::Error::PhotoNotFound(_)
                        | carnet_core::Error::PhotoErased(_),
                    ) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            Op::Sync { device, steps } => {
                sim.start(device).unwrap();
                for _ in 0..steps {
                    sim.step();
                }
            }
            Op::Settle => sim.run(),
        }
    }
    heal(&mut sim, n);
    assert_eq!(
        sim.stats().inconsistent_copies,
        0,
        "a duplicate push must apply the same way"
    );
    let first = picture(&server);
    for s in &stores {
        assert_eq!(picture(s), first, "stores disagree after healing");
    }
    let s = &stores[0];
    for (id, word) in &l.words {
        let text = report_text(s, *id).expect("report lost");
        assert!(
            text.split_whitespace().any(|w| w == word),
            "acknowledged word {word} lost from {text:?}"
        );
    }
    for (id, tag) in &l.tags {
        let Ok(Record::Note(n)) = s.get(*id) else {
            panic!("note lost")
        };
        assert!(n.tags.contains(tag), "acknowledged tag lost");
    }
    let events: usize = l
        .reports
        .iter()
        .map(|id| match s.get(*id) {
            Ok(Record::Report(r)) => r.events.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(events, l.events, "status events lost or doubled");
    for (_, hash, thumb) in &l.photos {
        let removed = l.removed.contains(hash);
        assert_eq!(
            sim.has_blob(hash) && sim.has_blob(thumb),
            !removed,
            "the server's blobs of a photo {}",
            if removed { "removed" } else { "attached" }
        );
        for st in &stores {
            let thumbnail = st.photo(*hash, Variant::Thumb);
            if removed {
                assert!(
                    matches!(
                        thumbnail,
                        Err(carnet_core::Error::PhotoErased(_)
                            | carnet_core::Error::PhotoNotFound(_))
                    ),
                    "a removed photo's bytes left on a device: {thumbnail:?}"
                );
            } else {
                assert!(
                    thumbnail.is_ok(),
                    "a thumbnail missing after healing: {thumbnail:?}"
                );
            }
        }
    }
    for id in &l.contacts {
        let erased = l.erased.contains(id);
        for st in stores.iter().chain([&server]) {
            assert_eq!(
                matches!(st.get(*id), Err(carnet_core::Error::Erased(_))),
                erased,
                "erasure not propagated"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        max_shrink_iters: 2000,
        .. ProptestConfig::default()
    })]

    #[test]
    fn stores_converge_and_lose_no_acknowledged_edit((n, ops, weather) in scenario()) {
        run(n, ops, weather);
    }
}
