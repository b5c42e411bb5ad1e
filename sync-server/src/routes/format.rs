//! The format check of the device routes (`docs/sync-protocol.md`, "Format
//! versions"): a device too old for what the team's log may hold is told
//! to update before anything of its request is read, and every answer
//! names the server's format so that a newer app can tell an older server.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use carnet_core::sync::protocol::{FORMAT, FORMAT_HEADER, MIN_FORMAT, parse_format};

use crate::error::ServerError;

/// The format a device's request named, once [`gate`] let it through:
/// what its app reads, so that a pull's envelope is one it can decompress.
#[derive(Clone, Copy, Debug)]
pub(super) struct DeviceFormat(pub(super) u32);

/// Answers 426 `update-required` to a request without `Carnet-Format` or
/// below [`MIN_FORMAT`], passes the others on (a newer format too: the
/// device judges this server's answer itself) with their [`DeviceFormat`].
pub(super) async fn gate(mut req: Request, next: Next) -> Response {
    match parse_format(req.headers().get(FORMAT_HEADER).map(|v| v.as_bytes())) {
        Some(format) if format >= MIN_FORMAT => {
            req.extensions_mut().insert(DeviceFormat(format));
            next.run(req).await
        }
        _ => ServerError::UpdateRequired.into_response(),
    }
}

/// Names the server's [`FORMAT`] on an answer: the apps' clients judge
/// every answer they use, supervisors' calls included.
pub(super) async fn stamp(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(FORMAT_HEADER, HeaderValue::from(FORMAT));
    resp
}
