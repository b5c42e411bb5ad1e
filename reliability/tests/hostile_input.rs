//! Hostile pushes found by fuzzing, replayed against the server's router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use carnet_core::sync::protocol::{FORMAT, FORMAT_HEADER};
use carnet_core::sync::wire;
use carnet_reliability::fuzzing::{base_batch, batch_from};
use carnet_server::{AppState, Config, SqliteStorage, Storage};
use serde_json::json;
use tower::ServiceExt;

fn push(
    router: &axum::Router,
    rt: &tokio::runtime::Runtime,
    token: &str,
    body: Vec<u8>,
) -> (u16, String) {
    rt.block_on(async {
        let req = Request::post("/v1/sync/push")
            .header(FORMAT_HEADER, FORMAT)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", wire::CONTENT_TYPE)
            .body(Body::from(body))
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    })
}

/// A change that makes automerge 0.12.0 panic inside `apply_changes`
/// (`op_set2/change/batch.rs:1121`, an `unwrap` on `None`). The core catches
/// the panic, but reports it as `Error::Internal`, which the server answers
/// with a 500 — and the client retries 500s. Hostile input must be a 400 and
/// change nothing.
#[test]
fn a_change_that_panics_automerge_is_refused_as_the_clients_fault_not_500() {
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz-regressions/apply_changes/automerge-panic-caught-390"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (team, _) = carnet_server::init_team(dir.path(), "hostile").unwrap();
    let code =
        carnet_server::issue_code(dir.path(), &team, carnet_server::Role::Mediator, None).unwrap();
    let storage = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let token = storage.redeem_code(&code, "m", None).unwrap().token;
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let router = carnet_server::app(AppState::with_storage(storage.clone(), config));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let base = base_batch();
    let (status, _) = push(
        &router,
        &rt,
        &token,
        wire::encode(&json!({"upto": base.upto}), &base.entries).unwrap(),
    );
    assert_eq!(status, 200, "the fixture's base must be accepted");
    let head = storage.log_head(&team).unwrap();

    let hostile = batch_from(&input);
    let (status, body) = push(
        &router,
        &rt,
        &token,
        wire::encode(&json!({"upto": head + 1}), &hostile.entries).unwrap(),
    );
    assert_eq!(
        storage.log_head(&team).unwrap(),
        head,
        "a refused push changed the team log"
    );
    // 400 for bytes that cannot be verified, 403 when the batch also breaks
    // the push rules (this one erases a note first): never a 500, which
    // every client retries.
    assert!(
        status == 400 || status == 403,
        "hostile changes must be refused as the client's fault, got {status}: {body}"
    );
}

const CORRUPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fuzz-regressions/apply_changes/crash-2d0cd4aa285c7b8175b410730e6bd38d2ec7a811"
);

/// Found by `cargo fuzz run apply_changes` in its first minute: a valid change
/// of a report's text with one bit flipped in its operation columns (byte
/// 152 of 189) still decodes, applies (its hash is then in the document, so
/// the check passes) and is committed — but the saved document no longer
/// loads ("error inflating document chunk ops: mismatching heads"). From then
/// on the record's details fail, and so does every `changes_since` that
/// reaches it: on the server, every later pull of the team.
#[test]
fn a_corrupted_change_is_refused_or_leaves_every_document_readable() {
    carnet_reliability::fuzzing::apply_bytes(&std::fs::read(CORRUPT).unwrap());
}

/// The same corrupted change pushed to the server by one device must not
/// break the team's pulls for every other device.
#[test]
fn a_corrupted_push_does_not_break_other_devices_pulls() {
    let input = std::fs::read(CORRUPT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (team, _) = carnet_server::init_team(dir.path(), "hostile").unwrap();
    let storage = Arc::new(SqliteStorage::open(dir.path()).unwrap());
    let a = storage
        .redeem_code(
            &carnet_server::issue_code(dir.path(), &team, carnet_server::Role::Mediator, None)
                .unwrap(),
            "a",
            None,
        )
        .unwrap()
        .token;
    let b = storage
        .redeem_code(
            &carnet_server::issue_code(dir.path(), &team, carnet_server::Role::Mediator, None)
                .unwrap(),
            "b",
            None,
        )
        .unwrap()
        .token;
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let router = carnet_server::app(AppState::with_storage(storage.clone(), config));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = base_batch();
    assert_eq!(
        push(
            &router,
            &rt,
            &a,
            wire::encode(&json!({"upto": base.upto}), &base.entries).unwrap()
        )
        .0,
        200
    );
    let hostile = batch_from(&input);
    let (status, body) = push(
        &router,
        &rt,
        &a,
        wire::encode(&json!({"upto": base.upto + 1}), &hostile.entries).unwrap(),
    );
    println!("corrupted push: {status} {body}");
    let pull = rt.block_on(async {
        let req = Request::get("/v1/sync/pull?after=0")
            .header(FORMAT_HEADER, FORMAT)
            .header("authorization", format!("Bearer {b}"))
            .body(Body::empty())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
        )
    });
    assert_eq!(
        pull.0, 200,
        "another device's pull fails after the corrupted push: {}",
        pull.1
    );
}
