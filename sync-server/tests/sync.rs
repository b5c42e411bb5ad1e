//! Devices syncing through the real server on a loopback port: offline work
//! converges, and interrupted syncs (cut connections, a restarted server)
//! resume with nothing lost and nothing doubled.

mod common;

use std::time::Duration;

use carnet_core::store::Batch;
use carnet_core::sync::client::Retry;
use carnet_core::sync::protocol::SERVER_ORIGIN;
use carnet_core::sync::{Phase, PullHeader, wire};
use carnet_core::{Kind, Record};
use carnet_reliability::proxy::Direction;
use common::*;
use serde_json::json;

const ONE_TRY: Retry = Retry {
    attempts: 1,
    first_backoff: Duration::from_millis(10),
};

#[test]
fn three_devices_converge_after_offline_work() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "Carcassonne");
    let server = TestServer::start(data.path());
    let devices: Vec<Device> = ["amina", "bruno", "chloé"]
        .iter()
        .map(|n| enroll(&server, &team_id, "mediator", n))
        .collect();
    let [a, b, c] = [&devices[0], &devices[1], &devices[2]];

    // A shared report first, so that two of them can edit it offline.
    let report = a
        .store
        .create(
            Kind::Report,
            &fields(json!({"sector": "ozanam-albignac", "category": "lift", "place": "Bât. B", "text": "Ascenseur en panne"})),
        )
        .unwrap();
    a.sync(&server.url()).unwrap();
    b.sync(&server.url()).unwrap();

    // A day of offline work across the four sectors.
    let sectors = [
        "conte-joliot",
        "viguier-saint-jacques",
        "ozanam-albignac",
        "grazailles-fleming",
    ];
    for (i, d) in devices.iter().enumerate() {
        for (j, s) in sectors.iter().enumerate() {
            d.note(s, &format!("déambulation {i}-{j}"));
        }
    }
    let contact = c
        .store
        .create(
            Kind::Contact,
            &fields(json!({"name": "Mme Exemple", "consents": ["telephone", "orientation"], "phone": "0600000000"})),
        )
        .unwrap();
    a.store
        .set_field(report, "text", &json!("Ascenseur en panne depuis lundi"))
        .unwrap();
    b.store.set_field(report, "urgent", &json!(true)).unwrap();

    for d in &devices {
        d.sync(&server.url()).unwrap();
    }
    // The first to sync did not see the others' work yet: a second round.
    for d in &devices {
        d.sync(&server.url()).unwrap();
    }
    let expected = a.all();
    assert_eq!(expected.len(), 1 + 12 + 1);
    assert_eq!(b.all(), expected);
    assert_eq!(c.all(), expected);
    match a.store.get(report).unwrap() {
        Record::Report(r) => {
            assert_eq!(r.text, "Ascenseur en panne depuis lundi");
            assert!(r.urgent, "both concurrent edits survive");
        }
        other => panic!("not a report: {other:?}"),
    }

    // An erasure travels as a tombstone to everyone.
    b.store.erase(contact).unwrap();
    b.sync(&server.url()).unwrap();
    for d in [a, c] {
        let s = d.sync(&server.url()).unwrap();
        assert_eq!(s.erased, 1);
        assert!(d.store.get(contact).is_err());
    }
    assert_eq!(a.all(), c.all());
    assert_eq!(a.all().len(), 13);
}

#[test]
fn a_connection_cut_mid_push_resumes_with_nothing_lost_or_doubled() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let proxy = cut_proxy(server.addr);
    let a = enroll(&server, &team_id, "mediator", "a");
    let b = enroll(&server, &team_id, "mediator", "b");
    for i in 0..300 {
        a.note(
            "conte-joliot",
            &format!("observation numéro {i} dans la cage d'escalier"),
        );
    }
    proxy.cut_next(Direction::Up, 1500);
    let err = a.sync_with(&proxy.url(), ONE_TRY).unwrap_err();
    assert!(matches!(err, carnet_core::Error::Network(_)), "{err}");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(
        server_log_head(data.path(), &team_id),
        0,
        "a cut body applies nothing"
    );

    let s = a.sync_with(&proxy.url(), ONE_TRY).unwrap();
    assert_eq!(s.pushed, 300);
    assert_eq!(server_log_head(data.path(), &team_id), 300);
    b.sync(&server.url()).unwrap();
    assert_eq!(b.all(), a.all());
    assert_eq!(b.all().len(), 300);
}

#[test]
fn a_lost_push_acknowledgement_is_answered_again_without_doubling() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let proxy = cut_proxy(server.addr);
    let a = enroll(&server, &team_id, "mediator", "a");
    for i in 0..50 {
        a.note("conte-joliot", &format!("note {i}"));
    }
    // The server commits, then the answer is cut inside its headers.
    proxy.cut_next(Direction::Down, 20);
    a.sync_with(&proxy.url(), ONE_TRY).unwrap_err();
    assert_eq!(
        server_log_head(data.path(), &team_id),
        50,
        "committed before the answer was lost"
    );
    let s = a.sync_with(&proxy.url(), ONE_TRY).unwrap();
    assert_eq!(
        s.pushed, 50,
        "the same entries are sent again and acknowledged as duplicates"
    );
    assert_eq!(
        server_log_head(data.path(), &team_id),
        50,
        "nothing doubled"
    );
    let s = a.sync(&server.url()).unwrap();
    assert_eq!((s.pushed, s.pulled), (0, 0));
}

#[test]
fn a_connection_cut_mid_pull_resumes_with_nothing_lost_or_doubled() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let proxy = cut_proxy(server.addr);
    let a = enroll(&server, &team_id, "mediator", "a");
    let b = enroll(&server, &team_id, "mediator", "b");
    for i in 0..300 {
        a.note(
            "grazailles-fleming",
            &format!("observation {i} près du city stade"),
        );
    }
    a.sync(&server.url()).unwrap();

    proxy.cut_next(Direction::Down, 3000);
    b.sync_with(&proxy.url(), ONE_TRY).unwrap_err();
    assert_eq!(proxy.cuts(), 1);
    assert!(b.all().is_empty(), "a truncated page applies nothing");
    let s = b.sync_with(&proxy.url(), ONE_TRY).unwrap();
    assert_eq!(s.pulled, 300);
    assert_eq!(b.all(), a.all());
    // With the retries a real sync has, the cut is not even an error.
    let c = enroll(&server, &team_id, "mediator", "c");
    proxy.cut_next(Direction::Down, 3000);
    c.sync(&proxy.url()).unwrap();
    assert_eq!(c.all(), a.all());
}

#[test]
fn a_server_restarted_mid_sync_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let mut server = TestServer::start(data.path());
    let addr = server.addr;
    let restart = |s: TestServer| {
        s.stop();
        TestServer::start_with(
            carnet_server::Config {
                data_dir: data.path().to_path_buf(),
                ..Default::default()
            },
            addr,
        )
    };
    let a = enroll(&server, &team_id, "mediator", "a");
    let b = enroll(&server, &team_id, "mediator", "b");
    for i in 0..200 {
        a.note(
            "viguier-saint-jacques",
            &format!("observation {i}: tags sur la façade"),
        );
    }

    // The server stops (gracefully) as soon as A's push is acknowledged, and
    // comes back on the same address; the client's retries carry the rest
    // of the sync (its pull) over the gap.
    let url = server.url();
    let (pushed, after_push) = std::sync::mpsc::channel();
    let syncing = std::thread::spawn(move || {
        let retry = Retry {
            attempts: 8,
            first_backoff: Duration::from_millis(100),
        };
        let s = a.sync_progress(&url, retry, &mut |p| {
            if p.phase == Phase::Push {
                let _ = pushed.send(());
            }
        });
        (a, s)
    });
    after_push.recv().unwrap();
    server = restart(server);
    let (a, result) = syncing.join().unwrap();
    assert_eq!(result.unwrap().pushed, 200);
    assert_eq!(
        a.sync(&server.url()).unwrap().pushed,
        0,
        "nothing left to push"
    );
    assert_eq!(
        server_log_head(data.path(), &team_id),
        200,
        "every change exactly once"
    );

    // B pulls in small pages, with a restart between two of them: the pages
    // after the restart continue from its cursor.
    let mut after = 0u64;
    let mut pages = 0;
    loop {
        let (status, body) = get(
            &server,
            &format!("/v1/sync/pull?after={after}&max_bytes=2000"),
            b.token(),
        );
        assert_eq!(status, 200);
        let (header, entries): (PullHeader, _) = wire::decode(&body).unwrap();
        b.store
            .apply(
                SERVER_ORIGIN,
                &Batch {
                    entries,
                    upto: header.upto,
                    more: header.more,
                },
            )
            .unwrap();
        assert!(header.upto > after);
        after = header.upto;
        pages += 1;
        if pages == 2 {
            server = restart(server);
        }
        if !header.more {
            break;
        }
    }
    assert!(pages > 3, "{pages} pages");
    assert_eq!(b.all().len(), 200);
    assert_eq!(b.all(), a.all());
}

#[test]
fn nothing_new_is_answered_204_only_in_the_lineage_the_device_names() {
    let data = tempfile::tempdir().unwrap();
    let (team_id, _) = team(data.path(), "t");
    let server = TestServer::start(data.path());
    let a = enroll(&server, &team_id, "mediator", "a");
    let b = enroll(&server, &team_id, "mediator", "b");
    a.note("grazailles-fleming", "poubelles débordantes rue Fleming");
    a.sync(&server.url()).unwrap();
    assert_eq!(b.sync(&server.url()).unwrap().pulled, 1);
    let lineage = b.store.lineage().unwrap().expect("a lineage, once synced");
    let head = b.store.cursor(carnet_core::store::Cursor::Pull).unwrap();
    let pull = |after: u64, lineage: &str| {
        get(
            &server,
            &format!("/v1/sync/pull?after={after}&max_bytes=100000{lineage}"),
            b.token(),
        )
    };

    let (status, body) = pull(head, &format!("&lineage={lineage}"));
    assert_eq!((status, body.len()), (204, 0), "nothing new: no envelope");
    // A device that names no lineage (an older app) or another one (its
    // cursor counts in a log restored since) gets a page naming the log's.
    for named in [String::new(), "&lineage=0123".to_string()] {
        let (status, body) = pull(head, &named);
        assert_eq!(status, 200);
        let (header, entries): (PullHeader, _) = wire::decode(&body).unwrap();
        assert!(entries.is_empty() && !header.more);
        assert_eq!(header.lineage.as_deref(), Some(lineage.as_str()));
    }
    // Something new in the same lineage: a page.
    let (status, body) = pull(0, &format!("&lineage={lineage}"));
    assert_eq!(status, 200);
    assert_eq!(wire::decode::<PullHeader>(&body).unwrap().1.len(), 1);

    // A sync with nothing either way: one round trip, nothing received.
    let s = b.sync(&server.url()).unwrap();
    assert_eq!(
        (s.pushed, s.pulled, s.round_trips, s.bytes_received),
        (0, 0, 1, 0)
    );
    assert_eq!(
        b.store.cursor(carnet_core::store::Cursor::Pull).unwrap(),
        head
    );

    // After its push, a device's pull gets no envelope either (it is not
    // sent its own change), and its cursor moves past that change.
    a.note("grazailles-fleming", "encombrants devant le local vélos");
    let s = a.sync(&server.url()).unwrap();
    assert_eq!((s.pushed, s.round_trips), (1, 2));
    assert_eq!(b.sync(&server.url()).unwrap().pulled, 1);
    let cursor = |d: &Device| d.store.cursor(carnet_core::store::Cursor::Pull).unwrap();
    assert_eq!(cursor(&a), cursor(&b));
    let s = a.sync(&server.url()).unwrap();
    assert_eq!((s.round_trips, s.bytes_received), (1, 0));
}
