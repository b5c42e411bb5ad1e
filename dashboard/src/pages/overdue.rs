//! Overdue dégradations: open longer than their category's delay, set per
//! category in the team's configuration (`overdue_after_days`), the same rule
//! as `Store::open_reports`. Counted from the open reports' columns in one
//! pass over the read model, and only the listed reports are loaded.

use std::collections::BTreeMap;

use axum::extract::Query as Q;
use axum::response::Response;
use carnet_core::model::Report;
use carnet_core::{Record, TeamConfig};
use serde::Deserialize;

use super::reports::report_rows;
use super::{Auth, State, html_response, nonempty, with_store};
use crate::html::{Markup, Render, html, int, options, table};
use crate::labels::Labels;
use crate::{DashboardError, TeamReads};
use carnet_core::store::OpenRow;

/// Overdue open reports per sector code.
pub fn by_sector(rows: &[OpenRow], cfg: &TeamConfig, now: i64) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| cfg.is_overdue(&r.category, r.created_at, now))
    {
        *out.entry(r.sector.clone()).or_default() += 1;
    }
    out
}

/// The `limit` oldest overdue reports, loaded one by one.
pub fn oldest(
    store: &dyn TeamReads,
    rows: &[OpenRow],
    cfg: &TeamConfig,
    now: i64,
    sector: Option<&str>,
    limit: usize,
) -> Result<Vec<Report>, DashboardError> {
    let mut late: Vec<&OpenRow> = rows
        .iter()
        .filter(|r| {
            sector.is_none_or(|s| r.sector == s) && cfg.is_overdue(&r.category, r.created_at, now)
        })
        .collect();
    late.sort_by_key(|r| (r.created_at, r.id));
    let mut out = Vec::new();
    for r in late.into_iter().take(limit) {
        match store.get(r.id)? {
            Record::Report(rep) => out.push(rep),
            _ => continue,
        }
    }
    Ok(out)
}

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    secteur: Option<String>,
}

/// `/dashboard/retards`.
pub async fn page(
    axum::extract::State(st): State,
    auth: Auth,
    Q(p): Q<Params>,
) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let now = carnet_core::now_ms();
        let sector = nonempty(&p.secteur);
        let rows = ctx.store.open_rows()?;
        let per_sector = by_sector(&rows, &cfg, now);
        let total: u64 = per_sector.values().sum();
        let list = oldest(&*ctx.store, &rows, &cfg, now, sector.as_deref(), 200)?;
        let ids: Vec<_> = list.iter().map(|r| r.header.id).collect();
        ctx.log(&format!("page retards secteur={}", sector.as_deref().unwrap_or("tous")), &ids)?;

        let rows: Vec<Vec<Markup>> = per_sector.iter().map(|(s, n)| vec![l.sector(s).render(), int(*n).render()]).collect();
        let delays: Vec<Vec<Markup>> = cfg.categories.iter().map(|c| vec![c.label.render(), c.overdue_after_days.render()]).collect();
        let b = html! {
            h1 { "Dégradations en retard" }
            div.cards { div.card { "En retard" b { (int(total)) } } }
            h2 { "Par secteur" }
            (table(&["Secteur", "#En retard"], &rows))
            h2 { "Délais par catégorie" }
            p.muted { "Un signalement encore ouvert est en retard quand son âge dépasse le délai de sa catégorie. Ces délais se règlent dans la configuration de l'équipe, sur le serveur." }
            (table(&["Catégorie", "#Délai (jours)"], &delays))
            h2 { "Les plus anciens" }
            form.filters method="get" {
                label { "Secteur" select name="secteur" { (options(&l.sectors(), sector.as_deref(), "Tous les secteurs")) } }
                button.btn { "Filtrer" }
            }
            p.muted { (list.len()) " signalement(s) affiché(s), les plus anciens d'abord (200 au plus)." }
            (report_rows(&list, &l, &cfg, now))
        };
        Ok(html_response(ctx.page("En retard", "/retards", b)))
    })
    .await
}
