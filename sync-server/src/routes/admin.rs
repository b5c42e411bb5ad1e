//! `/v1/admin/…`: a supervisor issues codes and manages the team's devices.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::json_body;
use crate::AppState;
use crate::auth::Supervisor;
use crate::error::ServerError;
use crate::storage::{Device, Role};

#[derive(Deserialize)]
struct CodeRequest {
    role: String,
    #[serde(default)]
    name: Option<String>,
}

/// A code and when it expires.
#[derive(Serialize)]
pub struct CodeResponse {
    code: String,
    role: Role,
    expires_at: i64,
}

/// Issues an enrollment code for the supervisor's team.
pub async fn issue_code(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
    body: Bytes,
) -> Result<Json<CodeResponse>, ServerError> {
    let req: CodeRequest = json_body(&body)?;
    let role: Role = req
        .role
        .parse()
        .map_err(|_| ServerError::BadRequest("role: expected mediator or supervisor".into()))?;
    let storage = state.storage.clone();
    let ttl = state.config.code_ttl.as_millis() as i64;
    let team = me.team_id.clone();
    let issued = state
        .blocking(move || Ok(storage.issue_code(&team, role, req.name.as_deref(), ttl)?))
        .await?;
    tracing::info!(team = %me.team_id, by = %me.id, role = role.code(), "enrollment code issued");
    Ok(Json(CodeResponse {
        code: issued.code,
        role,
        expires_at: issued.expires_at,
    }))
}

/// The team's devices.
#[derive(Serialize)]
pub struct DeviceList {
    devices: Vec<Device>,
}

/// Lists the devices of the supervisor's team.
pub async fn devices(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
) -> Result<Json<DeviceList>, ServerError> {
    let storage = state.storage.clone();
    let devices = state
        .blocking(move || Ok(storage.devices(&me.team_id)?))
        .await?;
    Ok(Json(DeviceList { devices }))
}

/// Revokes a device of the team: its token stops working (401).
pub async fn revoke(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
    Path(id): Path<String>,
) -> Result<Json<Device>, ServerError> {
    let storage = state.storage.clone();
    let team = me.team_id.clone();
    let target = id.clone();
    let device = state
        .blocking(move || Ok(storage.revoke(&team, &target)?))
        .await?
        .ok_or_else(no_device)?;
    tracing::info!(team = %me.team_id, by = %me.id, device = %device.id, "device revoked");
    Ok(Json(device))
}

/// Orders a device of the team wiped: its next request answers 410 and the
/// app erases its store.
pub async fn wipe(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
    Path(id): Path<String>,
) -> Result<Json<Device>, ServerError> {
    let storage = state.storage.clone();
    let team = me.team_id.clone();
    let target = id.clone();
    let device = state
        .blocking(move || Ok(storage.order_wipe(&team, &target)?))
        .await?
        .ok_or_else(no_device)?;
    tracing::info!(team = %me.team_id, by = %me.id, device = %device.id, "wipe ordered");
    Ok(Json(device))
}

fn no_device() -> ServerError {
    ServerError::NotFound("no such device in your team".into())
}
