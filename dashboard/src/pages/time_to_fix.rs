//! Time to fix (median and 90th percentile) per sector, responsible body
//! and category, over a period: how long dégradations fixed in the period
//! stayed open, from report to first `resolved` (or `closed`).

use std::fmt::Write;

use axum::extract::Query as Q;
use axum::response::Response;

use super::{Auth, State, html_response, with_store};
use crate::html::{days, esc, table};
use crate::labels::Labels;
use crate::period::PeriodQuery;
use crate::stats::{FixGroup, fix_groups, fix_overall};
use crate::{DashboardError, svg};

fn rows(groups: &[FixGroup]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| vec![esc(&g.label), g.n.to_string(), days(g.median), days(g.p90)])
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

        let mut b = format!(
            "<h1>Délais de résolution</h1><form class=\"filters\" method=\"get\">{}<button class=\"btn\">Afficher</button></form><p class=\"muted\">Signalements résolus (ou clos) {} : délai entre le signalement et la première résolution.</p>",
            p.form_fields(),
            esc(&p.label())
        );
        b.push_str("<div class=\"cards\">");
        match fix_overall(&fixes) {
            Some(g) => {
                let _ = write!(b, "<div class=\"card\">Résolus<b>{}</b></div><div class=\"card\">Médiane<b>{} j</b></div><div class=\"card\">90e centile<b>{} j</b></div>", g.n, days(g.median), days(g.p90));
            }
            None => b.push_str("<div class=\"card\">Résolus<b>0</b></div>"),
        }
        b.push_str("</div>");
        for (title, groups, first) in [("Par secteur", &sectors, "Secteur"), ("Par organisme responsable", &bodies, "Organisme"), ("Par catégorie", &cats, "Catégorie")] {
            let _ = write!(b, "<h2>{title}</h2>");
            let chart: Vec<(String, Vec<f64>)> = groups.iter().map(|g| (g.label.clone(), vec![g.median, g.p90])).collect();
            if !chart.is_empty() {
                b.push_str(&svg::hbars(&format!("Délai de résolution {}", title.to_lowercase()), &chart, &["Médiane (j)", "90e centile (j)"]));
            }
            let mut h = headers;
            h[0] = first;
            b.push_str(&table(&h, &rows(groups)));
        }
        Ok(html_response(ctx.page("Délais de résolution", "/delais", &b)))
    })
    .await
}
