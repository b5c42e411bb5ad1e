//! `/v1/records`: the team's merged log for supervisors, as JSON or as CSV
//! for the funders' spreadsheets, and one record's full history.
//!
//! Authors and history entries are named by the server's device registry
//! (`carnet_dashboard::Names`), never by what a document says. Every read
//! that can carry a resident's contact (a list without a kind, or of
//! contacts; one contact) is written to the access log with who, from
//! where, the query and the ids returned, before the answer leaves: a read
//! that cannot be logged is not served.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use carnet_core::csv::{Cell, CsvWriter, Dialect};
use carnet_core::store::{Query as StoreQuery, RecordDetails};
use carnet_core::{Kind, Record, RecordId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use carnet_dashboard::{Access, Names};

use crate::AppState;
use crate::auth::{ClientAddr, Supervisor};
use crate::error::ServerError;
use crate::storage::Device;

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
    ClientAddr(client): ClientAddr,
    params: Result<Query<RecordsParams>, QueryRejection>,
) -> Result<Response, ServerError> {
    let Query(params) =
        params.map_err(|e| ServerError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let csv = super::wants_csv(params.format.as_deref())?;
    let query = to_query(&params)?;
    // Contacts are residents' personal data: a read that may return one
    // is logged with its query.
    let logged = matches!(query.kind, None | Some(Kind::Contact)).then(|| {
        format!(
            "api {} {}{}",
            if params.limit.is_some() {
                "liste"
            } else {
                "export"
            },
            if csv { "CSV" } else { "JSON" },
            describe(&params)
        )
    });
    let storage = state.storage.clone();
    let log = state.access_log.clone();
    let team = me.team_id.clone();
    let reader = me.clone();
    let (limit, offset) = (params.limit, params.offset);
    let (records, has_more) = state
        .heavy(move || {
            let (mut records, has_more) = read_pages(&*storage, &team, &query, limit, offset)?;
            let names = Names::from(storage.actor_names(&team)?);
            records.iter_mut().for_each(|r| names.name_record(r));
            if let Some(action) = logged {
                let ids: Vec<RecordId> = records.iter().map(|r| r.header().id).collect();
                write_access(&*log, &reader, &client, &action, &ids)?;
            }
            Ok((records, has_more))
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

/// The filters of a list as the access log names them: codes and dates
/// only (the API has no free-text search to leak).
fn describe(p: &RecordsParams) -> String {
    let mut out = String::new();
    for (k, v) in [
        ("kind", &p.kind),
        ("sector", &p.sector),
        ("quartier", &p.quartier),
        ("axis", &p.axis),
        ("status", &p.status),
        ("category", &p.category),
        ("since", &p.since),
        ("until", &p.until),
    ] {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            out.push_str(&format!(" {k}={v}"));
        }
    }
    if let Some(l) = p.limit {
        out.push_str(&format!(" limit={l} offset={}", p.offset));
    }
    out
}

/// Writes one read to the shared access log: the supervisor's device and
/// name, the client's address, what and which ids.
fn write_access(
    log: &dyn carnet_dashboard::AccessLogStore,
    reader: &Device,
    client: &str,
    action: &str,
    ids: &[RecordId],
) -> Result<(), ServerError> {
    log.record(&Access {
        team_id: &reader.team_id,
        device_id: &reader.id,
        person: &reader.name,
        client,
        action,
        record_ids: ids,
    })
    .map_err(|e| ServerError::Internal(format!("access log: {e}")))
}

/// Every record matching `query` from `offset`: `limit` of them, or all
/// (an export), page by page; and whether more remain.
fn read_pages(
    storage: &dyn crate::Storage,
    team: &str,
    query: &StoreQuery,
    limit: Option<u32>,
    offset: u32,
) -> Result<(Vec<Record>, bool), ServerError> {
    let mut out = Vec::new();
    let mut offset = offset;
    loop {
        let want = limit
            .map(|l| l.saturating_sub(out.len() as u32))
            .unwrap_or(PAGE)
            .clamp(1, PAGE);
        let page = storage.records(
            team,
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
}

/// One record with its unresolved conflicts and its full change history.
/// A contact's read is written to the access log.
pub async fn show(
    State(state): State<AppState>,
    Supervisor(me): Supervisor,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
) -> Result<Json<RecordDetails>, ServerError> {
    let id: RecordId = id.parse()?;
    let storage = state.storage.clone();
    let log = state.access_log.clone();
    let details = state
        .blocking(move || {
            let mut details = storage.record(&me.team_id, id)?;
            let names = Names::from(storage.actor_names(&me.team_id)?);
            names.name_record(&mut details.record);
            names.name_history(&mut details.history);
            if matches!(details.record, Record::Contact(_)) {
                write_access(&*log, &me, &client, "api fiche contact", &[id])?;
            }
            Ok(details)
        })
        .await?;
    Ok(Json(details))
}

/// Columns first in every export; the rest follow, sorted, as the kinds
/// present need them.
const LEAD_COLUMNS: [&str; 5] = ["id", "kind", "author", "created_at", "updated_at"];

/// The records as one CSV table: a column per field of the kinds present,
/// times as RFC 3339, lists joined with `; `, nested items as JSON, through
/// the product's one writer (text that starts like a formula is neutralised).
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
    let mut w = CsvWriter::new(Dialect::Standard);
    w.write_row(&columns)?;
    for m in &rows {
        w.write_row(columns.iter().map(|c| cell(c, m.get(c))))?;
    }
    Ok(w.finish()?)
}

/// A JSON value as a cell: numbers stay numbers (the writer leaves them as
/// they are), times become RFC 3339 text, everything else is text.
fn cell(column: &str, v: Option<&Value>) -> Cell<'static> {
    match v {
        None | Some(Value::Null) => Cell::from(""),
        Some(Value::String(s)) => Cell::from(s.clone()),
        Some(Value::Number(n)) if column.ends_with("_at") => Cell::from(
            n.as_i64()
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                .map(|t| t.to_string())
                .unwrap_or_else(|| n.to_string()),
        ),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Cell::Int(i),
            (_, Some(u), _) => Cell::UInt(u),
            (_, _, Some(f)) => Cell::Float(f),
            _ => Cell::from(n.to_string()),
        },
        Some(Value::Bool(b)) => Cell::from(b.to_string()),
        Some(Value::Array(items)) if items.iter().all(|i| i.is_string()) => Cell::from(
            items
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
            Cell::from(
                items
                    .iter()
                    .filter_map(|i| i["id"].as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
        Some(other) => Cell::from(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_readable_and_text_goes_through_the_one_writer() {
        assert_eq!(
            cell("text", Some(&json!("=HYPERLINK(\"x\")"))),
            Cell::from("=HYPERLINK(\"x\")")
        );
        assert_eq!(
            cell("created_at", Some(&json!(0))),
            Cell::from("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            cell("axes", Some(&json!(["jeunesse", "tranquillite"]))),
            Cell::from("jeunesse; tranquillite")
        );
        assert_eq!(cell("lat", Some(&json!(-43.2))), Cell::Float(-43.2));
        assert_eq!(cell("met_new", Some(&json!(-3))), Cell::Int(-3));
    }
}
