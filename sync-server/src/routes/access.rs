//! `/v1/admin/access-log`: the team's access log for its supervisors, as
//! JSON or CSV, so that a resident's access request or an audit can be
//! answered from the server alone ("who read my file, when, from where").
//! The log is the one the dashboard shows; reading it is not itself logged
//! (it holds ids and filters, no resident's data).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use carnet_core::csv::Dialect;
use carnet_dashboard::access_log::{export_csv, export_json};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Supervisor;
use crate::error::ServerError;

/// `?format=json` (the default) or `?format=csv`.
#[derive(Debug, Default, Deserialize)]
pub struct AccessLogParams {
    format: Option<String>,
}

/// Every entry of the caller's team still kept, oldest first.
pub async fn export(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
    params: Result<Query<AccessLogParams>, QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(params) =
        params.map_err(|e| ServerError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let csv = super::wants_csv(params.format.as_deref())?;
    let log = state.access_log.clone();
    let team = me.team_id.clone();
    let body = state
        .blocking(move || {
            let entries = log
                .entries(&team)
                .map_err(|e| ServerError::Internal(format!("access log: {e}")))?;
            if csv {
                export_csv(&entries, Dialect::Standard)
            } else {
                export_json(&entries)
            }
            .map_err(|e| ServerError::Internal(format!("access log: {e}")))
        })
        .await?;
    tracing::info!(team = %me.team_id, by = %me.id, csv, "access log exported");
    let (ctype, disposition) = if csv {
        (
            "text/csv; charset=utf-8",
            "attachment; filename=\"carnet-access-log.csv\"",
        )
    } else {
        ("application/json", "inline")
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
