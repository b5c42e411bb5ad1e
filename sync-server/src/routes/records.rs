//! `/v1/records`: the team's merged log for supervisors, as JSON or as CSV
//! for the funders' spreadsheets, and one record's full history.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use carnet_core::store::{Query as StoreQuery, RecordDetails};
use carnet_core::{Kind, Record, RecordId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::Supervisor;
use crate::error::ServerError;

/// Filters of the merged log; all optional.
#[derive(Debug, Default, Deserialize)]
pub struct RecordsParams {
    kind: Option<String>,
    sector: Option<String>,
    quartier: Option<String>,
    axis: Option<String>,
    status: Option<String>,
    category: Option<String>,
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    offset: u32,
}

/// Largest page the store answers; an export walks pages of this size.
const PAGE: u32 = 1000;

fn time(field: &str, v: &Option<String>) -> Result<Option<i64>, ServerError> {
    v.as_deref()
        .map(|s| carnet_core::schema::parse_time(field, &Value::String(s.to_string())))
        .transpose()
        .map_err(ServerError::Core)
}

fn to_query(p: &RecordsParams) -> Result<StoreQuery, ServerError> {
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok(StoreQuery {
        kind: p
            .kind
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(Kind::parse)
            .transpose()?,
        sector: text(&p.sector),
        quartier: text(&p.quartier),
        axis: text(&p.axis),
        status: text(&p.status),
        category: text(&p.category),
        since: time("since", &p.since)?,
        until: time("until", &p.until)?,
        ..Default::default()
    })
}

/// The merged log, newest first. Without `limit` every matching record is
/// returned (an export); with it, one page from `offset`.
pub async fn list(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
    params: Result<Query<RecordsParams>, QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(params) =
        params.map_err(|e| ServerError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let csv = match params.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        _ => {
            return Err(ServerError::BadRequest(
                "format: expected json or csv".into(),
            ));
        }
    };
    let query = to_query(&params)?;
    let storage = state.storage.clone();
    let team = me.team_id.clone();
    let (limit, offset) = (params.limit, params.offset);
    let (records, has_more) = state
        .heavy(move || {
            let mut out = Vec::new();
            let mut offset = offset;
            loop {
                let want = limit
                    .map(|l| l.saturating_sub(out.len() as u32))
                    .unwrap_or(PAGE)
                    .clamp(1, PAGE);
                let page = storage.records(
                    &team,
                    &StoreQuery {
                        limit: Some(want),
                        offset,
                        ..query.clone()
                    },
                )?;
                offset = offset.saturating_add(page.items.len() as u32);
                out.extend(page.items);
                let done = limit.is_some_and(|l| out.len() as u32 >= l);
                if !page.has_more || done {
                    return Ok((out, page.has_more));
                }
            }
        })
        .await?;
    tracing::info!(team = %me.team_id, by = %me.id, count = records.len(), csv, "merged log read");
    if csv {
        let body = to_csv(&records)?;
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"carnet-records.csv\"",
                ),
            ],
            body,
        )
            .into_response())
    } else {
        Ok(Json(json!({ "records": records, "has_more": has_more })).into_response())
    }
}

/// One record with its unresolved conflicts and its full change history.
pub async fn show(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
    Path(id): Path<String>,
) -> Result<Json<RecordDetails>, ServerError> {
    let id: RecordId = id.parse()?;
    let storage = state.storage.clone();
    let details = state
        .blocking(move || storage.record(&me.team_id, id))
        .await?;
    Ok(Json(details))
}

/// Columns first in every export; the rest follow, sorted, as the kinds
/// present need them.
const LEAD_COLUMNS: [&str; 5] = ["id", "kind", "author", "created_at", "updated_at"];

/// The records as one CSV table: a column per field of the kinds present,
/// times as RFC 3339, lists joined with `; `, nested items as JSON.
fn to_csv(records: &[Record]) -> Result<Vec<u8>, ServerError> {
    let rows: Vec<Map<String, Value>> = records
        .iter()
        .map(|r| match serde_json::to_value(r) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(ServerError::Internal(
                "a record did not serialise to an object".into(),
            )),
        })
        .collect::<Result<_, _>>()?;
    let mut columns: Vec<String> = LEAD_COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut rest: Vec<String> = rows
        .iter()
        .flat_map(|m| m.keys().cloned())
        .filter(|k| !columns.contains(k))
        .collect();
    rest.sort();
    rest.dedup();
    columns.extend(rest);
    let mut w = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| ServerError::Internal(format!("csv: {e}"));
    w.write_record(&columns).map_err(bad)?;
    for m in &rows {
        w.write_record(columns.iter().map(|c| cell(c, m.get(c))))
            .map_err(bad)?;
    }
    w.into_inner()
        .map_err(|e| ServerError::Internal(format!("csv: {e}")))
}

fn cell(column: &str, v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => defuse(s),
        Some(Value::Number(n)) if column.ends_with("_at") => n
            .as_i64()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| t.to_string())
            .unwrap_or_else(|| n.to_string()),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(items)) if items.iter().all(|i| i.is_string()) => defuse(
            &items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Some(Value::Array(items))
            if items
                .iter()
                .all(|i| i.get("id").is_some() && i.get("state").is_some()) =>
        {
            items
                .iter()
                .filter_map(|i| i["id"].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        }
        Some(other) => other.to_string(),
    }
}

/// A text cell starting with = + - @ would run as a formula in a spreadsheet.
fn defuse(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_spreadsheet_safe_and_readable() {
        assert_eq!(
            cell("text", Some(&json!("=HYPERLINK(\"x\")"))),
            "'=HYPERLINK(\"x\")"
        );
        assert_eq!(cell("created_at", Some(&json!(0))), "1970-01-01T00:00:00Z");
        assert_eq!(
            cell("axes", Some(&json!(["jeunesse", "tranquillite"]))),
            "jeunesse; tranquillite"
        );
        assert_eq!(cell("lat", Some(&json!(-43.2))), "-43.2");
    }
}
