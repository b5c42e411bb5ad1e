//! `/dashboard/fiches/{id}`: any record of the team by its id — a report
//! or a resident's contact goes to its own page; a note or an activity is
//! shown here with its fields, its conflicts to settle and who changed
//! what, so that a conflict on any record can be settled from the
//! dashboard.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use carnet_core::{Kind, Record, RecordId};
use serde_json::Value;

use super::acting::{self, record_page};
use super::reports::Done;
use super::{Auth, State, html_response, with_store};
use crate::DashboardError;
use crate::html::{Markup, Render, datetime, html, table};
use crate::labels;

/// A field's value as a person reads it.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "oui".into(),
        Value::Bool(false) => "non".into(),
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(", "),
        Value::Object(m) => m.get("id").map(shown).unwrap_or_default(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The page.
pub async fn page(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, DashboardError> {
    let id: RecordId = id
        .parse()
        .map_err(|_| DashboardError::NotFound("fiche introuvable".into()))?;
    with_store(st, auth, move |ctx| {
        let mut d = ctx.store.details(id)?;
        let kind = match &d.record {
            Record::Report(_) => return Ok(Redirect::to(&record_page(Kind::Report, id)).into_response()),
            Record::Contact(_) => return Ok(Redirect::to(&record_page(Kind::Contact, id)).into_response()),
            Record::Note(_) => Kind::Note,
            Record::Activity(_) => Kind::Activity,
        };
        let names = ctx.names()?;
        names.name_record(&mut d.record);
        names.name_history(&mut d.history);
        ctx.log("fiche (consultation)", &[id])?;
        let view = serde_json::to_value(&d.record)
            .map_err(|e| DashboardError::Internal(format!("a record as JSON: {e}")))?;
        let fields: Vec<Vec<Markup>> = kind
            .fields()
            .iter()
            .filter_map(|f| {
                let v = view.get(f.name)?;
                let text = shown(v);
                (!text.is_empty()).then(|| vec![f.label.render(), text.render()])
            })
            .collect();
        let hist: Vec<Vec<Markup>> = d
            .history
            .iter()
            .map(|h| {
                vec![
                    datetime(h.at).render(),
                    h.by.render(),
                    labels::operation(&h.op).render(),
                    h.fields.iter().map(|f| kind.field_label(f)).collect::<Vec<_>>().join(", ").render(),
                ]
            })
            .collect();
        let body = html! {
            h1 { (labels::kind(kind)) " du " (datetime(d.record.header().created_at)) " par " (d.record.header().author) }
            (acting::notice(done.fait()))
            (table(&["Champ", "Valeur"], &fields))
            (acting::conflicts_section(kind, id, &d.conflicts, &ctx.session.csrf))
            h2 { "Journal des modifications" }
            (table(&["Date", "Par", "Opération", "Champs"], &hist))
        };
        Ok(html_response(ctx.page(labels::kind(kind), "", body)))
    })
    .await
}
