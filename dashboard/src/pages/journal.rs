//! The access log of the team, for supervisors to answer "who looked at
//! this?" (a resident's access request, an audit): the page shows the
//! newest entries, the downloads every entry still kept. Ids and filters,
//! never content; reading the log is not itself logged (it reveals no
//! record).

use axum::extract::Path;
use axum::response::Response;
use carnet_core::csv::Dialect;

use super::{Auth, CSV, JSON, State, download, html_response, with_store};
use crate::access_log::{export_csv, export_json};
use crate::html::{Markup, Render, datetime, html, table};
use crate::{DashboardError, MOUNT};

/// `/dashboard/journal`.
pub async fn page(axum::extract::State(st): State, auth: Auth) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let entries = ctx.st.log.recent(&ctx.session.supervisor.team_id, 200)?;
        let rows: Vec<Vec<Markup>> = entries
            .iter()
            .map(|e| {
                vec![
                    datetime(e.at).render(),
                    e.person.render(),
                    html! { code { (e.device_id) } },
                    e.client.render(),
                    e.action.render(),
                    e.record_ids.len().render(),
                    html! {
                        @for (i, id) in e.record_ids.iter().take(3).enumerate() {
                            @if i > 0 { " " }
                            code { (id.to_string()) }
                        }
                        @if e.record_ids.len() > 3 { " … (+" (e.record_ids.len() - 3) ")" }
                    },
                ]
            })
            .collect();
        let b = html! {
            h1 { "Journal des accès" }
            p.muted { "Les 200 dernières lectures et exportations de fiches de l'équipe, par le tableau de bord ou par l'API : qui (personne et appareil), quand, d'où, quelles fiches (jamais leur contenu). Conservé " (ctx.st.log.retention_days()) " jours ; les entrées ne peuvent être ni modifiées ni effacées avant." }
            p {
                a.btn href={ (MOUNT) "/journal.csv" } { "Télécharger tout le journal (CSV)" }
                " "
                a.btn href={ (MOUNT) "/journal.json" } { "JSON" }
            }
            (table(&["Date", "Personne", "Appareil", "Adresse", "Action", "#Fiches", "Identifiants"], &rows))
        };
        Ok(html_response(ctx.page("Journal des accès", "/journal", b)))
    })
    .await
}

/// `/dashboard/journal.{csv,json}`: every entry of the team still kept.
pub async fn export(
    axum::extract::State(st): State,
    auth: Auth,
    Path(format): Path<String>,
) -> Result<Response, DashboardError> {
    let ctype = match format.as_str() {
        "csv" => CSV,
        "json" => JSON,
        _ => {
            return Err(DashboardError::NotFound(
                "format du journal inconnu (csv ou json)".into(),
            ));
        }
    };
    with_store(st, auth, move |ctx| {
        let entries = ctx.st.log.entries(&ctx.session.supervisor.team_id)?;
        let bytes = if format == "csv" {
            export_csv(&entries, Dialect::Spreadsheet)?
        } else {
            export_json(&entries)?
        };
        Ok(download(
            bytes,
            ctype,
            &format!(
                "carnet-journal-des-acces-{}.{format}",
                jiff::Zoned::now().date()
            ),
        ))
    })
    .await
}
