//! Each answer the server can give, and what the session makes of it.

use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;
use crate::Kind;
use crate::photo::PhotoHash;

fn store(dir: &TempDir, name: &str) -> Store {
    Store::open_unencrypted(dir.path().join(format!("{name}.db"))).unwrap()
}

fn note(s: &Store, text: &str) -> RecordId {
    let Value::Object(fields) = json!({"sector": "conte-joliot", "text": text}) else {
        unreachable!()
    };
    s.create(Kind::Note, &fields).unwrap()
}

fn quick() -> SyncOptions {
    SyncOptions {
        retry: Retry {
            attempts: 3,
            first_backoff: Duration::from_millis(100),
        },
        ..SyncOptions::default()
    }
}

fn answer(status: u16, body: Vec<u8>) -> Response {
    Response {
        status,
        body,
        retry_after: None,
        upto: None,
    }
}

fn ack(upto: u64, applied: usize) -> Response {
    let ack = PushAck {
        acked_upto: upto,
        applied,
        ..PushAck::default()
    };
    answer(200, serde_json::to_vec(&ack).unwrap())
}

fn problem(status: u16, name: &str, detail: &str) -> Response {
    let body = json!({
        "type": format!("https://carnet.invalid/problems/{name}"),
        "title": "t", "status": status, "detail": detail,
    });
    answer(status, serde_json::to_vec(&body).unwrap())
}

/// A pull page of `team`'s log after `after`.
fn page(team: &Store, after: u64, max_bytes: usize) -> Response {
    let batch = team.changes_since(after, max_bytes, None).unwrap();
    let header = PullHeader {
        upto: batch.upto,
        more: batch.more,
        lineage: None,
    };
    answer(200, wire::encode(&header, &batch.entries).unwrap())
}

/// The request the effects send.
fn sent(effects: &[Effect]) -> (RequestId, Request) {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Send { id, request } => Some((*id, request.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no request in {effects:?}"))
}

fn outcome(effects: Vec<Effect>) -> Result<SyncSummary> {
    effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Finished(r) => Some(r),
            _ => None,
        })
        .expect("the session did not finish")
}

fn respond(s: &mut SyncSession, st: &dyn SyncStore, id: RequestId, r: Response) -> Vec<Effect> {
    s.handle(st, Event::Response { id, response: r })
}

fn lost(s: &mut SyncSession, st: &dyn SyncStore, id: RequestId) -> Vec<Effect> {
    s.handle(
        st,
        Event::TransportFailed {
            id,
            unsent: false,
            error: "connection reset".into(),
        },
    )
}

#[test]
fn pushes_then_pulls_and_moves_each_cursor_only_after_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    note(&device, "mine");
    let theirs = note(&team, "theirs");
    let mut s = SyncSession::new(quick());
    let (id, push) = sent(&s.handle(&device, Event::Start));
    let Request::Push { entries, upto, .. } = push else {
        panic!("{push:?}")
    };
    assert_eq!(entries, 1);
    assert_eq!(
        device.cursor(Cursor::Push).unwrap(),
        0,
        "moved before the ack"
    );
    let effects = respond(&mut s, &device, id, ack(upto, 1));
    assert!(matches!(&effects[0], Effect::Progress(p) if p.phase == Phase::Push && p.pushed == 1));
    assert_eq!(device.cursor(Cursor::Push).unwrap(), upto);
    let (id, pull) = sent(&effects);
    assert_eq!(
        pull,
        Request::Pull {
            after: 0,
            max_bytes: PULL_PAGE_BYTES,
            lineage: None,
        }
    );
    let effects = respond(&mut s, &device, id, page(&team, 0, 1 << 20));
    let phases: Vec<Phase> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Progress(p) => Some(p.phase),
            _ => None,
        })
        .collect();
    assert_eq!(phases, [Phase::Pull, Phase::Done]);
    let summary = outcome(effects).unwrap();
    assert_eq!(
        (summary.pushed, summary.pulled, summary.round_trips),
        (1, 1, 2)
    );
    assert_eq!(
        device.cursor(Cursor::Pull).unwrap(),
        team.log_head().unwrap()
    );
    assert!(device.get(theirs).is_ok());
    // Finished: nothing more happens.
    assert!(s.handle(&device, Event::TimerFired).is_empty());
    assert!(s.handle(&device, Event::Start).is_empty());
}

#[test]
fn a_pull_names_the_known_lineage_and_takes_nothing_new_as_the_last_page() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    let team = store(&dir, "team");
    note(&team, "theirs");
    device.set_lineage("ab12").unwrap();
    device
        .set_cursor(Cursor::Pull, team.log_head().unwrap())
        .unwrap();
    let mut s = SyncSession::new(SyncOptions {
        photos: false,
        ..quick()
    });
    let (id, pull) = sent(&s.handle(&device, Event::Start));
    let head = team.log_head().unwrap();
    assert_eq!(
        pull,
        Request::Pull {
            after: head,
            max_bytes: PULL_PAGE_BYTES,
            lineage: Some("ab12".into()),
        }
    );
    let summary = outcome(respond(&mut s, &device, id, answer(204, Vec::new()))).unwrap();
    assert_eq!((summary.pulled, summary.round_trips), (0, 1));
    assert_eq!(device.cursor(Cursor::Pull).unwrap(), head);
    assert_eq!(device.lineage().unwrap().as_deref(), Some("ab12"));

    // Past this device's own changes: nothing comes, the cursor moves.
    let mut s = SyncSession::new(SyncOptions {
        photos: false,
        ..quick()
    });
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let mut past_own = answer(204, Vec::new());
    past_own.upto = Some(head + 3);
    outcome(respond(&mut s, &device, id, past_own)).unwrap();
    assert_eq!(device.cursor(Cursor::Pull).unwrap(), head + 3);
}

#[test]
fn an_ack_beyond_what_was_sent_is_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (id, push) = sent(&s.handle(&device, Event::Start));
    let Request::Push { upto, .. } = push else {
        panic!()
    };
    respond(&mut s, &device, id, ack(upto + 100, 1));
    assert_eq!(device.cursor(Cursor::Push).unwrap(), upto);
}

#[test]
fn an_ack_that_covers_nothing_stops_the_sync_instead_of_looping() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let r = outcome(respond(&mut s, &device, id, ack(0, 0)));
    assert!(matches!(r, Err(Error::Network(_))), "{r:?}");
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
}

#[test]
fn pages_are_pushed_and_pulled_one_after_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    for i in 0..3 {
        note(&device, &format!("mine {i}"));
        note(&team, &format!("theirs {i}"));
    }
    let mut s = SyncSession::new(SyncOptions {
        push_page_bytes: 1,
        pull_page_bytes: 1,
        ..quick()
    });
    let mut effects = s.handle(&device, Event::Start);
    let mut pushes = 0;
    let mut pulls = 0;
    loop {
        let (id, request) = sent(&effects);
        effects = match request {
            Request::Push { entries, upto, .. } => {
                assert_eq!(entries, 1);
                pushes += 1;
                respond(&mut s, &device, id, ack(upto, 1))
            }
            Request::Pull {
                after, max_bytes, ..
            } => {
                pulls += 1;
                let effects = respond(&mut s, &device, id, page(&team, after, max_bytes));
                if effects.iter().any(|e| matches!(e, Effect::Finished(_))) {
                    break;
                }
                effects
            }
            other => panic!("no photo to move: {other:?}"),
        };
    }
    assert_eq!((pushes, pulls), (3, 3));
    assert_eq!(device.log_head().unwrap(), 6);
}

#[test]
fn a_pull_page_that_does_not_move_forward_stops_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let body = wire::encode(
        &PullHeader {
            upto: 0,
            more: true,
            lineage: None,
        },
        &[],
    )
    .unwrap();
    let r = outcome(respond(&mut s, &device, id, answer(200, body)));
    assert!(matches!(r, Err(Error::Network(_))), "{r:?}");
}

#[test]
fn a_device_with_only_the_servers_changes_pushes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    note(&team, "theirs");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    outcome(respond(&mut s, &device, id, page(&team, 0, 1 << 20))).unwrap();
    let mut s = SyncSession::new(quick());
    let (_, request) = sent(&s.handle(&device, Event::Start));
    assert!(
        matches!(request, Request::Pull { after: 1, .. }),
        "{request:?}"
    );
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 1);
}

#[test]
fn unauthorized_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let effects = respond(&mut s, &device, id, problem(401, "unauthorized", "enroll"));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Wait(_))));
    assert!(matches!(outcome(effects), Err(Error::Unauthorized)));
}

#[test]
fn update_required_stops_at_once_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "mine");
    let mut s = SyncSession::new(quick());
    let (id, request) = sent(&s.handle(&device, Event::Start));
    assert!(matches!(request, Request::Push { .. }), "{request:?}");
    let effects = respond(
        &mut s,
        &device,
        id,
        problem(426, "update-required", "update Carnet"),
    );
    assert!(!effects.iter().any(|e| matches!(e, Effect::Wait(_))));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Send { .. })));
    let r = outcome(effects);
    assert!(matches!(r, Err(Error::UpdateRequired)), "{r:?}");
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
    let mut again = SyncSession::new(quick());
    let (_, request) = sent(&again.handle(&device, Event::Start));
    assert!(matches!(request, Request::Push { .. }), "{request:?}");
}

#[test]
fn a_wipe_order_wipes_the_store_before_the_session_ends() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    let id_note = note(&device, "a lost phone's note");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let r = outcome(respond(&mut s, &device, id, problem(410, "wipe", "wiped")));
    assert!(matches!(r, Err(Error::Wiped)), "{r:?}");
    assert!(matches!(device.get(id_note), Err(Error::NotFound(_))));
    assert_eq!(device.log_head().unwrap(), 0);
}

#[test]
fn a_410_that_is_not_a_wipe_order_wipes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    let id_note = note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let r = outcome(respond(&mut s, &device, id, problem(410, "gone", "moved")));
    assert!(matches!(r, Err(Error::Server { status: 410, .. })), "{r:?}");
    assert!(device.get(id_note).is_ok());
}

#[test]
fn other_client_errors_are_final_and_say_what_the_server_said() {
    for status in [400, 403, 404, 405, 409, 413] {
        let dir = tempfile::tempdir().unwrap();
        let device = store(&dir, "device");
        note(&device, "a");
        let mut s = SyncSession::new(quick());
        let (id, _) = sent(&s.handle(&device, Event::Start));
        let effects = respond(&mut s, &device, id, problem(status, "x", "fix this"));
        assert_eq!(effects.len(), 1, "{status}: {effects:?}");
        match outcome(effects) {
            Err(Error::Server {
                status: got,
                detail,
            }) => {
                assert_eq!((got, detail.as_str()), (status, "fix this"));
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
    }
}

#[test]
fn failures_that_may_pass_later_are_retried_a_bounded_number_of_times() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (first, request) = sent(&s.handle(&device, Event::Start));
    let effects = respond(&mut s, &device, first, problem(503, "internal", ""));
    assert!(matches!(effects[..], [Effect::Wait(w)] if w == Duration::from_millis(100)));
    let (second, again) = sent(&s.handle(&device, Event::TimerFired));
    assert_ne!(first, second);
    assert_eq!(again, request, "the same page goes again");
    let effects = lost(&mut s, &device, second);
    assert!(matches!(effects[..], [Effect::Wait(w)] if w == Duration::from_millis(200)));
    let (third, _) = sent(&s.handle(&device, Event::TimerFired));
    let r = outcome(respond(
        &mut s,
        &device,
        third,
        problem(429, "rate-limited", ""),
    ));
    assert!(matches!(r, Err(Error::Server { status: 429, .. })), "{r:?}");
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
}

#[test]
fn retries_start_afresh_for_each_request() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (id, push) = sent(&s.handle(&device, Event::Start));
    lost(&mut s, &device, id);
    let (id, _) = sent(&s.handle(&device, Event::TimerFired));
    lost(&mut s, &device, id);
    let (id, _) = sent(&s.handle(&device, Event::TimerFired));
    let Request::Push { upto, .. } = push else {
        panic!()
    };
    let (id_pull, _) = sent(&respond(&mut s, &device, id, ack(upto, 1)));
    let effects = lost(&mut s, &device, id_pull);
    assert!(matches!(effects[..], [Effect::Wait(w)] if w == Duration::from_millis(100)));
}

#[test]
fn the_servers_retry_after_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let mut r = problem(429, "rate-limited", "");
    r.retry_after = Some(Duration::from_secs(2));
    let effects = respond(&mut s, &device, id, r);
    assert!(matches!(effects[..], [Effect::Wait(w)] if w == Duration::from_secs(2)));
}

#[test]
fn an_unreadable_push_ack_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let effects = respond(&mut s, &device, id, answer(200, b"{\"acked".to_vec()));
    assert!(matches!(effects[..], [Effect::Wait(_)]), "{effects:?}");
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
}

#[test]
fn late_duplicated_and_stray_answers_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (first, push) = sent(&s.handle(&device, Event::Start));
    let Request::Push { upto, .. } = push else {
        panic!()
    };
    lost(&mut s, &device, first);
    // The first attempt's answer arrives while waiting, then after the resend.
    assert!(respond(&mut s, &device, first, ack(upto, 1)).is_empty());
    let (second, _) = sent(&s.handle(&device, Event::TimerFired));
    assert!(respond(&mut s, &device, first, ack(upto, 1)).is_empty());
    assert!(respond(&mut s, &device, RequestId(99), ack(upto, 1)).is_empty());
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
    let effects = respond(&mut s, &device, second, ack(upto, 1));
    let (pull, _) = sent(&effects);
    // The same answer twice: the second is not for the attempt out.
    assert!(respond(&mut s, &device, second, ack(upto, 1)).is_empty());
    assert!(lost(&mut s, &device, second).is_empty());
    assert!(
        s.handle(&device, Event::TimerFired).is_empty(),
        "not waiting"
    );
    assert_ne!(pull, second);
}

#[test]
fn cancel_stops_at_once_and_a_later_answer_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    note(&device, "a");
    let mut s = SyncSession::new(quick());
    let (id, push) = sent(&s.handle(&device, Event::Start));
    let Request::Push { upto, .. } = push else {
        panic!()
    };
    assert!(matches!(
        outcome(s.handle(&device, Event::Cancel)),
        Err(Error::Cancelled)
    ));
    assert!(respond(&mut s, &device, id, ack(upto, 1)).is_empty());
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
    // Cancelling while waiting to retry, too.
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    lost(&mut s, &device, id);
    assert!(matches!(
        outcome(s.handle(&device, Event::Cancel)),
        Err(Error::Cancelled)
    ));
    assert!(s.handle(&device, Event::TimerFired).is_empty());
}

#[test]
fn a_page_that_cannot_be_decoded_moves_no_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let r = outcome(respond(
        &mut s,
        &device,
        id,
        answer(200, b"garbage".to_vec()),
    ));
    assert!(matches!(r, Err(Error::RejectedChanges(_))), "{r:?}");
    assert_eq!(device.cursor(Cursor::Pull).unwrap(), 0);
}

/// A store whose applying fails, as a full disk would.
struct FailingApply<'a>(&'a Store);

impl SyncStore for FailingApply<'_> {
    fn cursor(&self, which: Cursor) -> Result<u64> {
        self.0.cursor(which)
    }
    fn set_cursor(&self, which: Cursor, at: u64) -> Result<()> {
        self.0.set_cursor(which, at)
    }
    fn lineage(&self) -> Result<Option<String>> {
        self.0.lineage()
    }
    fn set_lineage(&self, lineage: &str) -> Result<()> {
        self.0.set_lineage(lineage)
    }
    fn restart_sync(&self, lineage: &str) -> Result<()> {
        self.0.restart_sync(lineage)
    }
    fn changes_since(&self, after: u64, max: usize, skip: Option<&str>) -> Result<Batch> {
        self.0.changes_since(after, max, skip)
    }
    fn apply(&self, _: &str, _: &Batch) -> Result<ApplyReport> {
        Err(Error::Io("no space left on device".into()))
    }
    fn conflicts(&self, id: RecordId) -> Result<Vec<Conflict>> {
        self.0.conflicts(id)
    }
    fn wipe(&self) -> Result<()> {
        self.0.wipe()
    }
    fn photo_settings(&self) -> Result<crate::photo::PhotoSettings> {
        self.0.photo_settings()
    }
    fn photo_uploads(&self) -> Result<Vec<crate::photo::BlobTransfer>> {
        self.0.photo_uploads()
    }
    fn photo_downloads(&self, full_too: bool) -> Result<Vec<crate::photo::BlobTransfer>> {
        self.0.photo_downloads(full_too)
    }
    fn photo_chunk(&self, blob: PhotoHash, offset: u64, max: usize) -> Result<Vec<u8>> {
        self.0.photo_chunk(blob, offset, max)
    }
    fn mark_photo_uploaded(&self, photo: PhotoHash) -> Result<()> {
        self.0.mark_photo_uploaded(photo)
    }
    fn photo_part_len(&self, blob: PhotoHash) -> Result<u64> {
        self.0.photo_part_len(blob)
    }
    fn append_photo_part(&self, blob: PhotoHash, offset: u64, bytes: &[u8]) -> Result<u64> {
        self.0.append_photo_part(blob, offset, bytes)
    }
    fn finish_photo_download(&self, blob: PhotoHash) -> Result<()> {
        self.0.finish_photo_download(blob)
    }
}

#[test]
fn a_page_that_cannot_be_applied_moves_no_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    note(&team, "theirs");
    let failing = FailingApply(&device);
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&failing, Event::Start));
    let r = outcome(respond(&mut s, &failing, id, page(&team, 0, 1 << 20)));
    assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
    assert_eq!(device.cursor(Cursor::Pull).unwrap(), 0);
}

fn ack_in(upto: u64, applied: usize, lineage: &str) -> Response {
    let ack = PushAck {
        acked_upto: upto,
        applied,
        lineage: Some(lineage.into()),
        ..PushAck::default()
    };
    answer(200, serde_json::to_vec(&ack).unwrap())
}

fn stale(lineage: &str) -> Response {
    answer(200, serde_json::to_vec(&PushAck::stale(lineage)).unwrap())
}

/// A pull page of `team`'s log after `after`, in `lineage`.
fn page_in(team: &Store, after: u64, lineage: &str) -> Response {
    let batch = team.changes_since(after, 1 << 20, None).unwrap();
    answer(
        200,
        crate::sync::protocol::pull_body(&batch, Some(lineage), crate::sync::protocol::FORMAT)
            .unwrap(),
    )
}

/// The lineage a push request carries in its header.
fn pushed_lineage(request: &Request) -> Option<String> {
    let Request::Push { body, .. } = request else {
        panic!("{request:?}")
    };
    crate::sync::protocol::read_push(body).unwrap().lineage
}

/// Syncs `device` with a server whose log is `team`, in `lineage`, to the
/// end: every push acknowledged, every page served.
fn sync_in(device: &Store, team: &Store, lineage: &str) -> SyncSummary {
    let mut s = SyncSession::new(quick());
    let mut effects = s.handle(device, Event::Start);
    loop {
        if let Some(Effect::Finished(r)) = effects.last() {
            return r.as_ref().unwrap().clone();
        }
        let (id, request) = sent(&effects);
        let response = match request {
            Request::Push { body, .. } => {
                let pushed = crate::sync::protocol::read_push(&body).unwrap();
                if pushed.is_stale(lineage) {
                    stale(lineage)
                } else {
                    let report = team.apply("device", &pushed.batch).unwrap();
                    ack_in(pushed.batch.upto, report.applied, lineage)
                }
            }
            Request::Pull { after, .. } => page_in(team, after, lineage),
            other => panic!("no photo to move: {other:?}"),
        };
        effects = respond(&mut s, device, id, response);
    }
}

#[test]
fn the_first_lineage_seen_is_remembered_and_moves_no_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    note(&device, "mine");
    note(&team, "theirs");
    assert_eq!(device.lineage().unwrap(), None);
    let mut s = SyncSession::new(quick());
    let (id, push) = sent(&s.handle(&device, Event::Start));
    assert_eq!(pushed_lineage(&push), None, "none known yet");
    let Request::Push { upto, .. } = push else {
        panic!()
    };
    let (id, _) = sent(&respond(&mut s, &device, id, ack_in(upto, 1, "L1")));
    assert_eq!(device.lineage().unwrap().as_deref(), Some("L1"));
    assert_eq!(device.cursor(Cursor::Push).unwrap(), upto);
    let summary = outcome(respond(&mut s, &device, id, page_in(&team, 0, "L1"))).unwrap();
    assert!(!summary.restarted);
    assert_eq!(summary.pulled, 1);
    // The next push tells the lineage its cursor counts in.
    note(&device, "more");
    let mut s = SyncSession::new(quick());
    let (_, push) = sent(&s.handle(&device, Event::Start));
    assert_eq!(pushed_lineage(&push).as_deref(), Some("L1"));
}

#[test]
fn answers_without_a_lineage_leave_the_cursors_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    device.set_lineage("L1").unwrap();
    note(&team, "theirs");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let summary = outcome(respond(&mut s, &device, id, page(&team, 0, 1 << 20))).unwrap();
    assert!(!summary.restarted);
    assert_eq!(device.lineage().unwrap().as_deref(), Some("L1"));
    assert_eq!(device.cursor(Cursor::Pull).unwrap(), 1);
}

#[test]
fn a_pull_page_in_a_new_lineage_starts_the_sync_over_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    let mine = note(&device, "mine, before the backup");
    note(&team, "theirs");
    sync_in(&device, &team, "L1");
    // The server's log as it was backed up; then more work on both sides.
    let backup = store(&dir, "backup");
    backup
        .apply("copy", &team.changes_since(0, 1 << 20, None).unwrap())
        .unwrap();
    let later = note(&device, "mine, after the backup");
    sync_in(&device, &team, "L1");
    let (push_at, pull_at) = (
        device.cursor(Cursor::Push).unwrap(),
        device.cursor(Cursor::Pull).unwrap(),
    );
    assert!(push_at > 0 && pull_at > 0);

    // Restored: the server holds the backup in a new lineage. The device has
    // nothing new, so the sync opens with a pull past the restored head.
    let mut s = SyncSession::new(quick());
    let (id, pull) = sent(&s.handle(&device, Event::Start));
    assert!(matches!(pull, Request::Pull { after, .. } if after == pull_at));
    let effects = respond(&mut s, &device, id, page_in(&backup, pull_at, "L2"));
    assert_eq!(device.cursor(Cursor::Push).unwrap(), 0);
    assert_eq!(device.cursor(Cursor::Pull).unwrap(), 0);
    assert_eq!(device.lineage().unwrap().as_deref(), Some("L2"));
    // Every change the device made goes again, in the new lineage.
    let (id, push) = sent(&effects);
    let Request::Push {
        entries,
        upto,
        body,
    } = push
    else {
        panic!("{push:?}")
    };
    assert_eq!(entries, 2, "its own two notes, not the server's");
    let pushed = crate::sync::protocol::read_push(&body).unwrap();
    assert_eq!(pushed.lineage.as_deref(), Some("L2"));
    let report = backup.apply("device", &pushed.batch).unwrap();
    assert_eq!((report.applied, report.duplicates), (1, 1));
    let (id, pull) = sent(&respond(&mut s, &device, id, ack_in(upto, 1, "L2")));
    assert!(matches!(pull, Request::Pull { after: 0, .. }), "{pull:?}");
    let summary = outcome(respond(&mut s, &device, id, page_in(&backup, 0, "L2"))).unwrap();
    assert!(summary.restarted);
    assert_eq!(summary.pulled, 0, "the device had all of it");
    assert_eq!(
        device.cursor(Cursor::Pull).unwrap(),
        backup.log_head().unwrap()
    );
    assert!(backup.get(mine).is_ok() && backup.get(later).is_ok());
    assert_eq!(device.log_head().unwrap(), 3, "nothing doubled");
}

#[test]
fn a_push_in_an_old_lineage_is_answered_stale_and_everything_goes_again() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    note(&device, "one");
    sync_in(&device, &team, "L1");
    note(&device, "two");
    let mut s = SyncSession::new(quick());
    let (id, push) = sent(&s.handle(&device, Event::Start));
    let Request::Push { entries: 1, .. } = push else {
        panic!("{push:?}")
    };
    let effects = respond(&mut s, &device, id, stale("L2"));
    let (id, again) = sent(&effects);
    assert_eq!(pushed_lineage(&again).as_deref(), Some("L2"));
    let Request::Push { entries, upto, .. } = again else {
        panic!("{again:?}")
    };
    assert_eq!(entries, 2, "from the start of the device's log");
    let (id, _) = sent(&respond(&mut s, &device, id, ack_in(upto, 2, "L2")));
    let summary = outcome(respond(&mut s, &device, id, page_in(&team, 0, "L2"))).unwrap();
    assert!(summary.restarted);
    assert_eq!(summary.pushed, 2);
}

#[test]
fn a_second_lineage_change_in_one_sync_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let (device, team) = (store(&dir, "device"), store(&dir, "team"));
    note(&device, "one");
    sync_in(&device, &team, "L1");
    let mut s = SyncSession::new(quick());
    let (id, _) = sent(&s.handle(&device, Event::Start));
    let (id, _) = sent(&respond(&mut s, &device, id, page_in(&team, 0, "L2")));
    let r = outcome(respond(&mut s, &device, id, stale("L3")));
    assert!(matches!(r, Err(Error::Network(_))), "{r:?}");
    assert_eq!(device.lineage().unwrap().as_deref(), Some("L2"));
    // The next sync goes on from the reset cursors, in L3.
    let summary = sync_in(&device, &team, "L3");
    assert!(summary.restarted);
    assert_eq!(device.lineage().unwrap().as_deref(), Some("L3"));
}

#[test]
fn a_wipe_forgets_the_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let device = store(&dir, "device");
    device.set_lineage("L1").unwrap();
    device.wipe().unwrap();
    assert_eq!(device.lineage().unwrap(), None);
}
