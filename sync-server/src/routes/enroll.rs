//! `POST /v1/enroll`: a one-time code becomes a device token;
//! `POST /v1/auth/rotate`: a device swaps its token for a new one.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::json_body;
use crate::AppState;
use crate::auth::{Authed, ClientAddr};
use crate::error::ServerError;
use crate::storage::Enrolled;

#[derive(Deserialize)]
struct EnrollRequest {
    code: String,
    #[serde(default)]
    name: Option<String>,
    /// The automerge actor of the device's store (32 hex characters):
    /// binds the device to the changes it writes. Optional for older apps,
    /// whose devices are bound at their first push.
    #[serde(default)]
    actor: Option<String>,
}

/// Exchanges the code for a token, the device's ids and the team
/// configuration, binding the device to its store's actor when the body
/// names it. A retry with the same code shortly after gets the same
/// answer, so a lost response does not burn the code. Wrong codes are
/// counted per client address and deployment: past the limit, 429.
pub async fn enroll(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: Bytes,
) -> Result<Json<Enrolled>, ServerError> {
    let throttle = state.code_throttle.clone();
    let who = client.clone();
    state.blocking(move || throttle.check(&who, None)).await?;
    let req: EnrollRequest = json_body(&body)?;
    if req.code.len() > 64 {
        return Err(failed(&state, client).await);
    }
    let storage = state.storage.clone();
    let enrolled = state
        .blocking(move || {
            Ok(storage.redeem_code(
                &req.code,
                req.name.as_deref().unwrap_or(""),
                req.actor.as_deref(),
            )?)
        })
        .await;
    let enrolled = match enrolled {
        Err(ServerError::InvalidCode) => {
            tracing::info!("enrollment refused: invalid code");
            return Err(failed(&state, client).await);
        }
        other => other?,
    };
    state.metrics.enrollments.fetch_add(1, Ordering::Relaxed);
    tracing::info!(team = %enrolled.team_id, device = %enrolled.device_id, role = enrolled.role.code(), "device enrolled");
    Ok(Json(enrolled))
}

/// Counts a wrong code against `client` and answers it. A failure to count
/// is logged, not answered: the device is told its code is wrong, which it
/// is, and the next check, which fails closed, stops any guessing.
async fn failed(state: &AppState, client: String) -> ServerError {
    let throttle = state.code_throttle.clone();
    if let Err(e) = state.blocking(move || throttle.fail(&client, None)).await {
        tracing::error!(error = %e, "a wrong enrollment code could not be counted");
    }
    ServerError::InvalidCode
}

/// A new token.
#[derive(Serialize)]
pub struct Rotated {
    token: String,
}

/// Gives the calling device a new token; the one it called with stops
/// working at once. For a token that may have been seen (a shared laptop,
/// a backup), without enrolling the device again.
pub async fn rotate(
    State(state): State<AppState>,
    Authed(device): Authed,
) -> Result<Json<Rotated>, ServerError> {
    let storage = state.storage.clone();
    let id = device.id.clone();
    let token = state
        .blocking(move || Ok(storage.rotate_token(&id)?))
        .await?;
    tracing::info!(team = %device.team_id, device = %device.id, "token rotated");
    Ok(Json(Rotated { token }))
}
