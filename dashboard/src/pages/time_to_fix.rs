//! Time to fix (median and 90th percentile) per sector, responsible body
//! and category, over a period: how long dégradations fixed in the period
//! stayed open, from report to first `resolved` (or `closed`).

use axum::extract::Query as Q;
use axum::response::Response;

use super::{Auth, State, html_response, with_store};
use crate::html::{Markup, Render, days, html, table};
use crate::labels::Labels;
use crate::period::PeriodQuery;
use crate::stats::{FixGroup, fix_groups, fix_overall};
use crate::{DashboardError, svg};

fn rows(groups: &[FixGroup]) -> Vec<Vec<Markup>> {
    groups
        .iter()
        .map(|g| {
            vec![
                g.label.render(),
                g.n.render(),
                days(g.median).render(),
                days(g.p90).render(),
            ]
        })
        .collect()
}

/// `/dashboard/delais`.
pub async fn page(
    axum::extract::State(st): State,
    auth: Auth,
    Q(pq): Q<PeriodQuery>,
) -> Result<Response, DashboardError> {
    let p = pq.resolve()?;
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let fixes = ctx.cached(&format!("fixes {}", p.query()), || ctx.store.fixes(p.since, p.until))?;
        ctx.log(&format!("page délais de résolution {}", p.query()), &[])?;
        let sectors = fix_groups(&fixes, |f| l.sector(&f.sector));
        let bodies = fix_groups(&fixes, |f| l.body(&f.body));
        let cats = fix_groups(&fixes, |f| l.category(&f.category));
        let headers = ["", "#Résolus", "#Médiane (jours)", "#90e centile (jours)"];

        let groups = [("Par secteur", &sectors, "Secteur"), ("Par organisme responsable", &bodies, "Organisme"), ("Par catégorie", &cats, "Catégorie")];
        let b = html! {
            h1 { "Délais de résolution" }
            form.filters method="get" { (p.form_fields()) button.btn { "Afficher" } }
            p.muted { "Signalements résolus (ou clos) " (p.label()) " : délai entre le signalement et la première résolution." }
            div.cards {
                @match fix_overall(&fixes) {
                    Some(g) => {
                        div.card { "Résolus" b { (g.n) } }
                        div.card { "Médiane" b { (days(g.median)) " j" } }
                        div.card { "90e centile" b { (days(g.p90)) " j" } }
                    }
                    None => { div.card { "Résolus" b { "0" } } }
                }
            }
            @for (title, groups, first) in groups {
                h2 { (title) }
                @if !groups.is_empty() {
                    @let chart: Vec<(String, Vec<f64>)> = groups.iter().map(|g| (g.label.clone(), vec![g.median, g.p90])).collect();
                    (svg::hbars(&format!("Délai de résolution {}", title.to_lowercase()), &chart, &["Médiane (j)", "90e centile (j)"]))
                }
                (table(&[first, headers[1], headers[2], headers[3]], &rows(groups)))
            }
        };
        Ok(html_response(ctx.page("Délais de résolution", "/delais", b)))
    })
    .await
}
