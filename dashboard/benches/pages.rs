//! Page benchmark: server time of every dashboard page over a year of a
//! large team's data (100k records), against the 300 ms budget.
//!
//! `cargo bench -p carnet-dashboard --bench pages` (set
//! `CARNET_BENCH_RECORDS` for another size). Seeds an unencrypted store, as
//! the server keeps it, through the replication path in batches of 10k:
//! 40% notes, 30% dégradation reports (60% of them forwarded and fixed, with
//! status events), 20% activities, 10% contacts (a third with a referral),
//! spread over the last 365 days. Then signs in and times each page through
//! the router, as the server serves it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::ActorId;
use axum::body::Body;
use axum::http::{Request, header};
use carnet_core::doc::RecordDoc;
use carnet_core::store::{Batch, Entry, Payload};
use carnet_core::{Kind, RecordId, Store, now_ms};
use carnet_dashboard::DashboardConfig;
use carnet_dashboard::testing::{DEMO_EMAIL, DEMO_PASSWORD, StaticBackend};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

const DAY: i64 = 86_400_000;
const SECTORS: [&str; 4] = [
    "conte-joliot",
    "viguier-saint-jacques",
    "ozanam-albignac",
    "grazailles-fleming",
];
const CATEGORIES: [&str; 6] = [
    "lighting",
    "lift",
    "graffiti",
    "cleanliness",
    "doors-locks",
    "roads",
];
const BODIES: [&str; 4] = [
    "bailleur",
    "ville-proprete",
    "ville-eclairage",
    "ville-voirie",
];
const TYPES: [&str; 6] = [
    "shift",
    "permanence",
    "aller_vers",
    "meeting",
    "school_outing",
    "welcome_visit",
];
const AXES: [&str; 5] = [
    "cadre-de-vie",
    "tranquillite",
    "jeunesse",
    "acces-droits",
    "participation",
];
const PARTNERS: [&str; 4] = [
    "CAF",
    "France Services",
    "CESF bailleur",
    "Assistante sociale",
];

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn item(status: &str, at: i64, to: Option<&str>) -> Map<String, Value> {
    let mut m =
        obj(json!({"id": RecordId::new().to_string(), "status": status, "at": at, "by": "bench"}));
    if let Some(t) = to {
        m.insert("to".into(), json!(t));
    }
    m
}

/// The changes a device would send for record `i`, created `age` ms ago.
fn record(actor: &ActorId, i: usize, now: i64) -> Vec<Entry> {
    let created = now - (i as i64 * 7919 % 365) * DAY - (i as i64 % 86_400) * 1000;
    let sector = SECTORS[i % 4];
    let axis = AXES[i % 5];
    let id = RecordId::new();
    let (kind, fields) = match i % 10 {
        0..=3 => (
            Kind::Note,
            obj(
                json!({"sector": sector, "text": format!("Observation {i} : hall calme, jeunes au pied de la tour"), "axes": [axis], "residents_met": i % 9, "observed_at": created}),
            ),
        ),
        4..=6 => (
            Kind::Report,
            obj(
                json!({"sector": sector, "category": CATEGORIES[i % 6], "place": format!("Bât. {} hall {}", i % 40, i % 3), "text": "Dégradation constatée lors de la tournée", "axes": ["cadre-de-vie"]}),
            ),
        ),
        7..=8 => (
            Kind::Activity,
            obj(
                json!({"activity_type": TYPES[i % 6], "sector": sector, "started_at": created, "met_known": i % 20, "met_new": i % 5, "referrals": i % 3, "partners": [PARTNERS[i % 4]], "axes": [axis, "participation"]}),
            ),
        ),
        _ => (
            Kind::Contact,
            obj(
                json!({"name": format!("Résident {i}"), "consents": ["telephone", "orientation"], "phone": "06 12 34 56 78", "address": format!("{} rue des Lilas", i % 90), "sector": sector, "topics": ["logement"]}),
            ),
        ),
    };
    let (mut doc, h) =
        RecordDoc::create(actor, id, kind, "bench", created, &fields).expect("create");
    let mut hashes = vec![h];
    if kind == Kind::Report && i % 5 < 3 {
        let fwd = created + (1 + i as i64 % 4) * DAY;
        let fixed = fwd + (i as i64 % 30) * DAY / 2 + DAY;
        hashes.push(
            doc.append(
                "events",
                &item("forwarded", fwd, Some(BODIES[i % 4])),
                "status",
                "bench",
                fwd,
            )
            .expect("event"),
        );
        if fixed < now {
            hashes.push(
                doc.append(
                    "events",
                    &item("resolved", fixed, None),
                    "status",
                    "bench",
                    fixed,
                )
                .expect("event"),
            );
        }
    }
    if kind == Kind::Contact && i.is_multiple_of(3) {
        let at = created + DAY;
        let it = obj(
            json!({"id": RecordId::new().to_string(), "at": at, "by": "bench", "text": "Orientation", "referral": PARTNERS[i % 4]}),
        );
        hashes.push(
            doc.append("interactions", &it, "interaction", "bench", at)
                .expect("interaction"),
        );
    }
    hashes
        .into_iter()
        .map(|h| Entry {
            record_id: id,
            payload: Payload::Change(doc.change_bytes(&h).expect("change")),
        })
        .collect()
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let n: usize = std::env::var("CARNET_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runs: usize = std::env::var("CARNET_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let dir = tempfile::tempdir().unwrap();
    // CARNET_BENCH_DB keeps the seeded store between runs (seeding is the slow part).
    let db = std::env::var("CARNET_BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("team.db"));
    let seeded = db.exists();
    let store = Arc::new(Store::open_unencrypted(&db).unwrap());
    let now = now_ms();
    let t = Instant::now();
    if !seeded {
        let actor = ActorId::random();
        let mut i = 0;
        while i < n {
            let k = 10_000.min(n - i);
            let entries = (i..i + k).flat_map(|j| record(&actor, j, now)).collect();
            store
                .apply(
                    "device",
                    &Batch {
                        entries,
                        upto: 0,
                        more: false,
                    },
                )
                .unwrap();
            i += k;
        }
        // The store's own checkpointer may be copying the log back at this
        // very moment (a checkpoint then says so, and retrying is safe).
        let mut tries = 0;
        while let Err(e) = store.checkpoint() {
            tries += 1;
            assert!(tries < 100, "the log could not be emptied: {e}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    let total: u64 = store
        .count(&Default::default(), carnet_core::store::GroupBy::Kind)
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum();
    println!(
        "carnet-dashboard page benchmark: {total} records over 365 days ({} in {:.1} s)\n",
        if seeded { "reused" } else { "seeded" },
        t.elapsed().as_secs_f64()
    );

    let backend = StaticBackend::single("team", store.clone(), "Bench");
    let config = DashboardConfig {
        secure_cookies: false,
        ..DashboardConfig::new(dir.path().join("dash"))
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let router = carnet_dashboard::router(Arc::new(backend), config).unwrap();
        let call = |req: Request<Body>| {
            let r = router.clone();
            async move {
                let resp = r.oneshot(req).await.unwrap();
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .unwrap();
                (status, headers, body)
            }
        };
        // Sign in as a browser does.
        let (_, h, body) = call(
            Request::get("/dashboard/connexion")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let pre = h[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let html = String::from_utf8_lossy(&body);
        let i = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        let csrf = &html[i..i + 64];
        let (_, h, _) = call(
            Request::post("/dashboard/connexion")
                .header(header::COOKIE, pre)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "csrf={csrf}&email={}&password={}",
                    DEMO_EMAIL.replace('@', "%40"),
                    DEMO_PASSWORD.replace(' ', "+").replace('é', "%C3%A9")
                )))
                .unwrap(),
        )
        .await;
        let cookie = h[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();

        let report = store
            .list(&carnet_core::store::Query {
                kind: Some(Kind::Report),
                status: Some("resolved".into()),
                limit: Some(1),
                ..Default::default()
            })
            .unwrap()
            .items[0]
            .header()
            .id;
        let pages = [
            "/dashboard/degradations".to_string(),
            "/dashboard/degradations?secteur=ozanam-albignac&page=20".into(),
            "/dashboard/retards".into(),
            format!("/dashboard/signalements/{report}"),
            "/dashboard/delais".into(),
            "/dashboard/activite".into(),
            "/dashboard/rapport".into(),
            "/dashboard/rapport.xlsx".into(),
            "/dashboard/rapport.csv".into(),
            "/dashboard/exports".into(),
            "/dashboard/journal".into(),
        ];
        println!(
            "{:<58} {:>11} {:>11} {:>9}",
            "page (server time)", "first", "median", "bytes"
        );
        println!(
            "  first: the first request, nothing cached (as right after a sync); median: of {runs} requests\n"
        );
        let mut worst = Duration::ZERO;
        for p in &pages {
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..runs {
                let t = Instant::now();
                let (status, _, body) = call(
                    Request::get(p.as_str())
                        .header(header::COOKIE, &cookie)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await;
                times.push(t.elapsed());
                assert!(status.is_success(), "{p}: {status}");
                size = body.len();
            }
            let first = times[0];
            worst = worst.max(first);
            println!(
                "{:<58} {:>11} {:>11} {:>9}{}",
                p,
                ms(first),
                ms(pct(&mut times, 0.5)),
                size,
                if first > Duration::from_millis(300) {
                    "  first over 300 ms"
                } else {
                    ""
                }
            );
        }
        println!("\nslowest first request: {}  (budget 300 ms)", ms(worst));

        // Exports are downloads, not pages: one full run each, for the record.
        for p in [
            "/dashboard/exports/journal.csv",
            "/dashboard/exports/journal.xlsx",
            "/dashboard/exports/journal.json",
        ] {
            let t = Instant::now();
            let (status, _, body) = call(
                Request::get(p)
                    .header(header::COOKIE, &cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert!(status.is_success());
            println!(
                "export {p}: {:.2} s, {:.1} MB",
                t.elapsed().as_secs_f64(),
                body.len() as f64 / 1e6
            );
        }
    });
}
