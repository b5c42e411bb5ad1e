//! The HTTP API of `docs/sync-protocol.md`, one module per resource, and the
//! layers every request goes through.

mod access;
mod admin;
mod enroll;
mod format;
mod photos;
mod records;
mod sync;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use carnet_core::sync::wire;
use serde::de::DeserializeOwned;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::AppState;
use crate::auth::Supervisor;
use crate::error::{ServerError, problem};

/// The whole API over `state`, with its layers: panics caught, requests
/// traced (method and route template only), errors turned into problems,
/// slow requests cut, bodies limited to the protocol's 8 MiB.
pub fn app(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    // The routes devices sync through: each checks the device's format
    // before anything else reads the request.
    let devices = Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/auth/rotate", post(enroll::rotate))
        .route("/v1/sync/push", post(sync::push))
        .route("/v1/sync/pull", get(sync::pull))
        .route("/v1/photos/{blob}", get(photos::download))
        .route(
            "/v1/photos/{blob}/upload",
            get(photos::upload_status).put(photos::upload),
        )
        .route_layer(from_fn(format::gate));
    Router::new()
        .merge(devices)
        .route("/v1/admin/codes", post(admin::issue_code))
        .route("/v1/admin/devices", get(admin::devices))
        .route("/v1/admin/access-log", get(access::export))
        .route("/v1/admin/devices/{id}/revoke", post(admin::revoke))
        .route("/v1/admin/devices/{id}/wipe", post(admin::wipe))
        .route("/v1/records", get(records::list))
        .route("/v1/records/{id}", get(records::show))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(wire::MAX_BODY))
        .layer(RequestBodyLimitLayer::new(wire::MAX_BODY))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(map_response(as_problem))
        .layer(map_response(format::stamp))
        .layer(from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("a request handler panicked");
                    ServerError::Internal("panic".into()).into_response()
                }))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            // The route template, not the URI: no query values in logs.
                            let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
                            tracing::info_span!("request", method = %req.method(), route = route.as_deref().unwrap_or("-"))
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                ),
        )
        .with_state(state)
}

async fn not_found() -> ServerError {
    ServerError::NotFound("no such route; see docs/sync-protocol.md".into())
}

/// `/metrics` on the API's address: counters of every team's traffic are
/// the operator's business, so a supervisor's token is required.
async fn metrics(State(state): State<AppState>, _: Supervisor) -> impl IntoResponse {
    metrics_text(&state)
}

fn metrics_text(state: &AppState) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// `/metrics` alone, without a token, for `metrics_listen` (an address only
/// the operator's Prometheus reaches, e.g. loopback); anything else is 404.
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { metrics_text(&state) }),
        )
        .fallback(not_found)
        .with_state(state)
}

/// Turns the bare error answers of the framework and its layers (405, 408,
/// 413, extractor rejections) into problem documents like our own.
async fn as_problem(resp: Response) -> Response {
    let status = resp.status();
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 2048).await.unwrap_or_default();
    let detail = std::str::from_utf8(&text)
        .ok()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(match status {
            StatusCode::PAYLOAD_TOO_LARGE => "the body is larger than 8 MiB",
            StatusCode::REQUEST_TIMEOUT => "the request took too long; retry",
            StatusCode::METHOD_NOT_ALLOWED => "this route does not take this method",
            _ => "the request was refused",
        });
    let name = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::NOT_FOUND => "not-found",
        s if s.is_server_error() => "internal",
        _ => "bad-request",
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let mut out = problem(status, name, title, detail.to_string());
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// `?format=json` (the default) or `?format=csv` of the supervisors' reads:
/// whether CSV was asked for; a clear 400 for anything else.
fn wants_csv(format: Option<&str>) -> Result<bool, ServerError> {
    match format.unwrap_or("json") {
        "json" => Ok(false),
        "csv" => Ok(true),
        _ => Err(ServerError::BadRequest(
            "format: expected json or csv".into(),
        )),
    }
}

/// Reads a small JSON body; a clear 400 otherwise.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ServerError> {
    serde_json::from_slice(body)
        .map_err(|e| ServerError::BadRequest(format!("the body is not the expected JSON: {e}")))
}

/// A response body of `bytes` with a content type.
fn bytes_response(content_type: &'static str, bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], Body::from(bytes)).into_response()
}
