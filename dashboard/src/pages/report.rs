//! The funders' activity report for a period, as a printable page, an XLSX
//! workbook (one sheet per section) and a CSV file. Counts and partner names
//! only: no resident's personal data.

use axum::extract::Query as Q;
use axum::response::Response;

use super::{Auth, CSV, State, XLSX, download, html_response, with_store};
use crate::html::{Markup, Render, html, int, table};
use crate::period::PeriodQuery;
use crate::sheets::{self, cell_text};
use crate::stats::{Cell, funders_report};
use crate::{DashboardError, MOUNT};

/// `/dashboard/rapport`: the report as a page that prints on A4.
pub async fn page(
    axum::extract::State(st): State,
    auth: Auth,
    Q(pq): Q<PeriodQuery>,
) -> Result<Response, DashboardError> {
    let p = pq.resolve()?;
    with_store(st, auth, move |ctx| {
        let r = ctx.cached(&format!("rapport {}", p.query()), || funders_report(&*ctx.store, &p))?;
        ctx.log(&format!("rapport financeurs (page) {}", p.query()), &[])?;
        let q = p.query();
        // Each section's table: the first column names, the others count.
        let sections: Vec<(&str, Markup)> = r
            .sections
            .iter()
            .map(|s| {
                let headers: Vec<String> = s.headers.iter().enumerate().map(|(i, h)| if i == 0 { h.to_string() } else { format!("#{h}") }).collect();
                let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
                let rows: Vec<Vec<Markup>> = s.rows.iter().map(|row| row.iter().map(|c| match c { Cell::Int(n) => int(*n).render(), other => cell_text(other).render() }).collect()).collect();
                (s.title, table(&headers, &rows))
            })
            .collect();
        let b = html! {
            form.filters method="get" {
                (p.form_fields())
                button.btn { "Afficher" }
                a.btn href={ (MOUNT) "/rapport.xlsx?" (q) } { "Télécharger (XLSX)" }
                a.btn href={ (MOUNT) "/rapport.csv?" (q) } { "Télécharger (CSV)" }
            }
            h1 { "Rapport d'activité — " (r.team) }
            p { "Période " (p.label()) " · médiation sociale (adultes-relais, contrat de ville). Ce rapport ne contient aucune donnée personnelle d'habitant." }
            @for (title, section) in sections {
                h2 { (title) }
                (section)
            }
            p.noprint.muted { "Pour l'imprimer ou l'enregistrer en PDF : Ctrl+P." }
        };
        Ok(html_response(ctx.page("Rapport financeurs", "/rapport", b)))
    })
    .await
}

fn file_name(p: &crate::period::Period, ext: &str) -> String {
    format!("rapport-activite-{}-{}.{ext}", p.from, p.to)
}

/// `/dashboard/rapport.xlsx`.
pub async fn xlsx(
    axum::extract::State(st): State,
    auth: Auth,
    Q(pq): Q<PeriodQuery>,
) -> Result<Response, DashboardError> {
    file(st, auth, pq, Format::Xlsx).await
}

/// `/dashboard/rapport.csv`.
pub async fn csv(
    axum::extract::State(st): State,
    auth: Auth,
    Q(pq): Q<PeriodQuery>,
) -> Result<Response, DashboardError> {
    file(st, auth, pq, Format::Csv).await
}

#[derive(Clone, Copy)]
enum Format {
    Xlsx,
    Csv,
}

/// The report as a downloaded file; the computation is shared with the page.
async fn file(
    st: std::sync::Arc<super::AppState>,
    auth: Auth,
    pq: PeriodQuery,
    format: Format,
) -> Result<Response, DashboardError> {
    let p = pq.resolve()?;
    with_store(st, auth, move |ctx| {
        let r = ctx.cached(&format!("rapport {}", p.query()), || {
            funders_report(&*ctx.store, &p)
        })?;
        let (bytes, mime, ext, label) = match format {
            Format::Xlsx => (sheets::report_xlsx(&r)?, XLSX, "xlsx", "XLSX"),
            Format::Csv => (sheets::report_csv(&r)?, CSV, "csv", "CSV"),
        };
        ctx.log(&format!("rapport financeurs {label} {}", p.query()), &[])?;
        Ok(download(bytes, mime, &file_name(&p, ext)))
    })
    .await
}
