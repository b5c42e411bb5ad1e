//! `POST /v1/enroll`: a one-time code becomes a device token.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;

use super::json_body;
use crate::AppState;
use crate::error::ServerError;
use crate::storage::Enrolled;

#[derive(Deserialize)]
struct EnrollRequest {
    code: String,
    #[serde(default)]
    name: Option<String>,
}

/// Exchanges the code for a token, the device's ids and the team
/// configuration. A retry with the same code shortly after gets the same
/// answer, so a lost response does not burn the code.
pub async fn enroll(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Enrolled>, ServerError> {
    let req: EnrollRequest = json_body(&body)?;
    if req.code.len() > 64 {
        return Err(ServerError::InvalidCode);
    }
    let storage = state.storage.clone();
    let enrolled = state
        .blocking(move || storage.redeem_code(&req.code, req.name.as_deref().unwrap_or("")))
        .await?;
    state.metrics.enrollments.fetch_add(1, Ordering::Relaxed);
    tracing::info!(team = %enrolled.team_id, device = %enrolled.device_id, role = enrolled.role.code(), "device enrolled");
    Ok(Json(enrolled))
}
