//! Injected failures and panics inside a store operation, a sync and a
//! request handler become errors to their caller, and the next call works:
//! no poisoned lock, no half-written transaction, no dead worker.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use carnet_core::store::{ApplyReport, Batch, Page, Query, RecordDetails};
use carnet_core::sync::client::{Client, Retry};
use carnet_core::{Kind, RecordId, Store, TeamConfig};
use carnet_reliability::server::{Device, InProcess, test_retry};
use carnet_reliability::work::{check_log, check_store};
use carnet_server::storage::{Account, Device as ServerDevice, Enrolled, IssuedCode};
use carnet_server::{AppState, Config, Role, SqliteStorage, Storage};
use serde_json::json;

fn report(store: &Store, text: &str) -> carnet_core::Result<RecordId> {
    let f =
        json!({"sector": "conte-joliot", "category": "lighting", "place": "hall", "text": text});
    store.create(Kind::Report, f.as_object().unwrap())
}

/// A write that fails halfway (a trigger the store does not know about
/// aborts its change-log insert, as a full disk would) leaves nothing behind,
/// and the store works once the fault is gone.
#[test]
fn a_write_failing_halfway_rolls_back_and_the_next_call_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open_unencrypted(&path).unwrap();
    let kept = report(&store, "avant").unwrap();
    let side = rusqlite::Connection::open(&path).unwrap();
    side.execute_batch(
        "CREATE TRIGGER inject_fault BEFORE INSERT ON change_log
         WHEN (SELECT value FROM meta WHERE key = 'setting.fault') = 'on'
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END;",
    )
    .unwrap();
    store.set_setting("fault", Some("on")).unwrap();
    let head = store.log_head().unwrap();
    let listed = store.list(&Query::default()).unwrap();
    assert!(
        report(&store, "pendant").is_err(),
        "the injected fault must surface as an error"
    );
    assert!(
        store
            .set_field(kept, "text", &json!("avant modifié"))
            .is_err()
    );
    // An apply from a peer fails the same way, all or nothing.
    let other = Store::open_unencrypted(dir.path().join("o.db")).unwrap();
    report(&other, "d'ailleurs").unwrap();
    let batch = other.changes_since(0, usize::MAX, None).unwrap();
    assert!(store.apply("peer", &batch).is_err());
    assert_eq!(
        store.log_head().unwrap(),
        head,
        "a failed write left log entries"
    );
    assert_eq!(
        store.list(&Query::default()).unwrap(),
        listed,
        "a failed write left records"
    );
    store.set_setting("fault", None).unwrap();
    report(&store, "après").unwrap();
    store
        .set_field(kept, "text", &json!("avant modifié"))
        .unwrap();
    store.apply("peer", &batch).unwrap();
    assert_eq!(store.list(&Query::default()).unwrap().items.len(), 3);
    check_log(&store).unwrap();
}

/// A panic while another thread uses the store (here: in the caller's code
/// between two store calls, on a shared store) poisons nothing.
#[test]
fn a_panicking_thread_sharing_the_store_poisons_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_unencrypted(dir.path().join("s.db")).unwrap());
    let s = store.clone();
    let r = std::thread::spawn(move || {
        report(&s, "un").unwrap();
        panic!("injected panic in a thread using the store");
    })
    .join();
    assert!(r.is_err());
    report(&store, "deux").unwrap();
    assert_eq!(store.list(&Query::default()).unwrap().items.len(), 2);
}

// A panic inside a store write transaction itself is tested in the core,
// where a write can be made to panic after writing:
// `carnet-core` `store::tests::a_panic_inside_a_write_rolls_back_and_the_next_call_works`.

/// Storage that panics on demand, around the real one.
struct PanickingStorage {
    inner: SqliteStorage,
    /// Panics left before applying a push.
    before_push: AtomicUsize,
    /// Panics left after a push was committed (the device never hears of it).
    after_push: AtomicUsize,
    /// Panics left on pull.
    on_pull: AtomicUsize,
}

fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

impl Storage for PanickingStorage {
    fn create_team(
        &self,
        name: &str,
        config: &TeamConfig,
    ) -> carnet_server::storage::Result<String> {
        self.inner.create_team(name, config)
    }
    fn issue_code(
        &self,
        team_id: &str,
        role: Role,
        name: Option<&str>,
        ttl_ms: i64,
    ) -> carnet_server::storage::Result<IssuedCode> {
        self.inner.issue_code(team_id, role, name, ttl_ms)
    }
    fn redeem_code(
        &self,
        code: &str,
        device_name: &str,
        actor: Option<&str>,
    ) -> carnet_server::storage::Result<Enrolled> {
        self.inner.redeem_code(code, device_name, actor)
    }
    fn create_account(
        &self,
        team_id: &str,
        name: &str,
        email: &str,
    ) -> carnet_server::storage::Result<Account> {
        self.inner.create_account(team_id, name, email)
    }
    fn account(&self, account_id: &str) -> carnet_server::storage::Result<Option<Account>> {
        self.inner.account(account_id)
    }
    fn account_by_email(&self, email: &str) -> carnet_server::storage::Result<Option<Account>> {
        self.inner.account_by_email(email)
    }
    fn accounts(&self, team_id: &str) -> carnet_server::storage::Result<Vec<Account>> {
        self.inner.accounts(team_id)
    }
    fn issue_invitation(
        &self,
        account_id: &str,
        ttl_ms: i64,
    ) -> carnet_server::storage::Result<IssuedCode> {
        self.inner.issue_invitation(account_id, ttl_ms)
    }
    fn invitation(&self, token: &str) -> carnet_server::storage::Result<Option<Account>> {
        self.inner.invitation(token)
    }
    fn accept_invitation(
        &self,
        token: &str,
        password_hash: &str,
        totp_secret: Option<&str>,
    ) -> carnet_server::storage::Result<Account> {
        self.inner
            .accept_invitation(token, password_hash, totp_secret)
    }
    fn set_password(&self, account_id: &str, hash: &str) -> carnet_server::storage::Result<()> {
        self.inner.set_password(account_id, hash)
    }
    fn set_totp(
        &self,
        account_id: &str,
        secret: Option<&str>,
    ) -> carnet_server::storage::Result<()> {
        self.inner.set_totp(account_id, secret)
    }
    fn use_totp_step(&self, account_id: &str, step: i64) -> carnet_server::storage::Result<bool> {
        self.inner.use_totp_step(account_id, step)
    }
    fn disable_account(
        &self,
        team_id: &str,
        account_id: &str,
    ) -> carnet_server::storage::Result<Option<Account>> {
        self.inner.disable_account(team_id, account_id)
    }
    fn require_totp(&self, team_id: &str) -> carnet_server::storage::Result<bool> {
        self.inner.require_totp(team_id)
    }
    fn set_require_totp(&self, team_id: &str, on: bool) -> carnet_server::storage::Result<()> {
        self.inner.set_require_totp(team_id, on)
    }
    fn teams_without_accounts(&self) -> carnet_server::storage::Result<Vec<String>> {
        self.inner.teams_without_accounts()
    }
    fn bind_actor(&self, device_id: &str, actor: &str) -> carnet_server::storage::Result<()> {
        self.inner.bind_actor(device_id, actor)
    }
    fn actor_names(
        &self,
        team_id: &str,
    ) -> carnet_server::storage::Result<std::collections::HashMap<String, String>> {
        self.inner.actor_names(team_id)
    }
    fn rotate_token(&self, device_id: &str) -> carnet_server::storage::Result<String> {
        self.inner.rotate_token(device_id)
    }
    fn revoke_inactive(
        &self,
        unseen_for_ms: i64,
    ) -> carnet_server::storage::Result<Vec<ServerDevice>> {
        self.inner.revoke_inactive(unseen_for_ms)
    }
    fn authenticate(&self, token: &str) -> carnet_server::storage::Result<Option<ServerDevice>> {
        self.inner.authenticate(token)
    }
    fn touch(&self, device_id: &str) -> carnet_server::storage::Result<()> {
        self.inner.touch(device_id)
    }
    fn devices(&self, team_id: &str) -> carnet_server::storage::Result<Vec<ServerDevice>> {
        self.inner.devices(team_id)
    }
    fn revoke(
        &self,
        team_id: &str,
        device_id: &str,
    ) -> carnet_server::storage::Result<Option<ServerDevice>> {
        self.inner.revoke(team_id, device_id)
    }
    fn order_wipe(
        &self,
        team_id: &str,
        device_id: &str,
    ) -> carnet_server::storage::Result<Option<ServerDevice>> {
        self.inner.order_wipe(team_id, device_id)
    }
    fn act(
        &self,
        team_id: &str,
        origin: &str,
        actor: &str,
        author: &str,
        id: carnet_core::RecordId,
        action: &carnet_core::edit::Action,
    ) -> carnet_server::storage::Result<ApplyReport> {
        self.inner.act(team_id, origin, actor, author, id, action)
    }

    fn team_ids(&self) -> carnet_server::storage::Result<Vec<String>> {
        self.inner.team_ids()
    }

    fn push(
        &self,
        team_id: &str,
        device_id: &str,
        actor: Option<&str>,
        batch: &Batch,
    ) -> carnet_server::storage::Result<ApplyReport> {
        if take(&self.before_push) {
            panic!("injected panic before a push");
        }
        let r = self.inner.push(team_id, device_id, actor, batch)?;
        if take(&self.after_push) {
            panic!("injected panic after a push was committed");
        }
        Ok(r)
    }
    fn pull(
        &self,
        team_id: &str,
        device_id: &str,
        after: u64,
        max_bytes: usize,
    ) -> carnet_server::storage::Result<Batch> {
        if take(&self.on_pull) {
            panic!("injected panic in a pull");
        }
        self.inner.pull(team_id, device_id, after, max_bytes)
    }
    fn log_head(&self, team_id: &str) -> carnet_server::storage::Result<u64> {
        self.inner.log_head(team_id)
    }
    fn lineage(&self, team_id: &str) -> carnet_server::storage::Result<String> {
        self.inner.lineage(team_id)
    }
    fn renew_lineages(&self) -> carnet_server::storage::Result<usize> {
        self.inner.renew_lineages()
    }
    fn records(&self, team_id: &str, query: &Query) -> carnet_server::storage::Result<Page> {
        self.inner.records(team_id, query)
    }
    fn record(&self, team_id: &str, id: RecordId) -> carnet_server::storage::Result<RecordDetails> {
        self.inner.record(team_id, id)
    }
    fn team_reads(
        &self,
        team_id: &str,
    ) -> carnet_server::storage::Result<Arc<dyn carnet_server::storage::TeamReads>> {
        self.inner.team_reads(team_id)
    }
    fn blobs(&self) -> Arc<dyn carnet_server::storage::BlobStore> {
        self.inner.blobs()
    }
    fn photo_blob_status(
        &self,
        team_id: &str,
        blob: &carnet_server::storage::PhotoHash,
    ) -> carnet_server::storage::Result<carnet_server::storage::BlobStatus> {
        self.inner.photo_blob_status(team_id, blob)
    }
}

/// Panics in request handlers (inside the storage call, before and after a
/// push commits, and in a pull) become 500s; the server keeps serving, the
/// client's retry completes the sync, and nothing is lost or doubled.
#[test]
fn handler_panics_become_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (team, _) = carnet_server::init_team(&data, "panique").unwrap();
    let codes: Vec<String> = (0..2)
        .map(|i| {
            carnet_server::issue_code(
                &data,
                &team,
                carnet_server::Role::Mediator,
                Some(&format!("m{i}")),
            )
            .unwrap()
        })
        .collect();
    let storage = Arc::new(PanickingStorage {
        inner: SqliteStorage::open(&data).unwrap(),
        before_push: AtomicUsize::new(0),
        after_push: AtomicUsize::new(0),
        on_pull: AtomicUsize::new(0),
    });
    let config = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let server = InProcess::start(AppState::with_storage(storage.clone(), config));
    let mut a =
        Device::enroll(&server.base(), dir.path(), "ma", &codes[0], 1, test_retry()).unwrap();
    let mut b =
        Device::enroll(&server.base(), dir.path(), "mb", &codes[1], 2, test_retry()).unwrap();

    // One attempt only: the panic is the caller's error, a 500.
    let once = Client::new(&server.base()).unwrap().with_retry(Retry {
        attempts: 1,
        first_backoff: Default::default(),
    });
    a.work(20).unwrap();
    storage.before_push.store(1, Ordering::SeqCst);
    match once.sync(&a.store, &a.token, &mut |_| {}, &AtomicBool::new(false)) {
        Err(carnet_core::Error::Server { status: 500, .. }) => {}
        other => panic!("expected a 500, got {other:?}"),
    }
    // The next call works.
    a.sync().unwrap();

    // Committed, then panicked: the device retries, the server sees duplicates only.
    a.work(20).unwrap();
    storage.after_push.store(1, Ordering::SeqCst);
    a.sync().unwrap();
    // Pull panics once; the retry completes it.
    b.work(20).unwrap();
    storage.on_pull.store(2, Ordering::SeqCst);
    b.sync().unwrap();
    a.sync().unwrap();
    b.sync().unwrap();

    let mut ledger = a.ledger.clone();
    ledger.extend(&b.ledger);
    for d in [&a, &b] {
        let c = check_store(&d.store, &ledger, 0, false).unwrap();
        assert!(
            c.lost.is_empty() && c.doubled.is_empty() && c.extra_events == 0,
            "{}: {c:?}",
            d.name
        );
    }
    assert_eq!(
        carnet_reliability::server::picture(&a.store, true),
        carnet_reliability::server::picture(&b.store, true),
        "the devices disagree"
    );
    drop(server);
}

/// A panic in the sync's progress callback (the app's code, called by the
/// sync between requests) reaches the caller, and the next sync works.
#[test]
fn a_panic_inside_a_sync_leaves_the_next_sync_working() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let (team, _) = carnet_server::init_team(&data, "panique").unwrap();
    let code =
        carnet_server::issue_code(&data, &team, carnet_server::Role::Mediator, None).unwrap();
    let config = Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let server = InProcess::start(AppState::open(config).unwrap());
    let mut a = Device::enroll(&server.base(), dir.path(), "ma", &code, 3, test_retry()).unwrap();
    a.work(30).unwrap();
    let client = Client::new(&server.base())
        .unwrap()
        .with_retry(test_retry());
    let r = catch_unwind(AssertUnwindSafe(|| {
        client.sync(
            &a.store,
            &a.token,
            &mut |_| panic!("injected panic in the progress callback"),
            &AtomicBool::new(false),
        )
    }));
    assert!(r.is_err());
    a.work(10).unwrap();
    a.sync().unwrap();
    // The server holds everything the device acknowledged.
    drop(server);
    let team_store =
        Store::open_unencrypted(carnet_reliability::server::team_db(&data, &team)).unwrap();
    let c = check_store(&team_store, &a.ledger, 0, false).unwrap();
    assert!(c.lost.is_empty() && c.doubled.is_empty(), "{c:?}");
}
