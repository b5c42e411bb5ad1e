//! Overdue dégradations: open longer than their category's delay, set per
//! category in the team's configuration (`overdue_after_days`), the same rule
//! as `Store::open_reports`. Counted and listed with indexed queries per
//! category, so the page does not load every open report.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::Query as Q;
use axum::response::Response;
use carnet_core::model::Report;
use carnet_core::store::{GroupBy, Query};
use carnet_core::{Kind, Record, Store, TeamConfig};
use serde::Deserialize;

use super::reports::report_rows;
use super::{Auth, State, html_response, nonempty, with_store};
use crate::DashboardError;
use crate::html::{esc, int, options, table};
use crate::labels::Labels;

const DAY: i64 = 86_400_000;

/// Reports created before this time are overdue for a category of `days`:
/// whole days of age > `days`, as in `Store::open_reports`.
pub fn cutoff(now: i64, days: u32) -> i64 {
    now - (i64::from(days) + 1) * DAY + 1
}

fn open_before(cat: &str, until: i64, sector: Option<&str>) -> Query {
    Query {
        kind: Some(Kind::Report),
        open_only: true,
        category: Some(cat.to_string()),
        sector: sector.map(str::to_string),
        until: Some(until),
        oldest_first: true,
        ..Default::default()
    }
}

/// Overdue open reports per sector code.
pub fn by_sector(store: &Store, cfg: &TeamConfig, now: i64) -> Result<BTreeMap<String, u64>, DashboardError> {
    let mut out = BTreeMap::new();
    for c in &cfg.categories {
        for count in store.count(&open_before(&c.code, cutoff(now, c.overdue_after_days), None), GroupBy::Sector)? {
            *out.entry(count.key).or_default() += count.count;
        }
    }
    Ok(out)
}

/// The `limit` oldest overdue reports, all categories merged.
pub fn oldest(store: &Store, cfg: &TeamConfig, now: i64, sector: Option<&str>, limit: u32) -> Result<Vec<Report>, DashboardError> {
    let mut all = Vec::new();
    for c in &cfg.categories {
        let q = Query { limit: Some(limit), ..open_before(&c.code, cutoff(now, c.overdue_after_days), sector) };
        all.extend(store.list(&q)?.items.into_iter().filter_map(|r| match r {
            Record::Report(r) => Some(r),
            _ => None,
        }));
    }
    all.sort_by_key(|r| (r.header.created_at, r.header.id));
    all.truncate(limit as usize);
    Ok(all)
}

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    secteur: Option<String>,
}

/// `/dashboard/retards`.
pub async fn page(axum::extract::State(st): State, auth: Auth, Q(p): Q<Params>) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config();
        let l = Labels(&cfg);
        let now = carnet_core::now_ms();
        let sector = nonempty(&p.secteur);
        let per_sector = by_sector(&ctx.store, &cfg, now)?;
        let total: u64 = per_sector.values().sum();
        let list = oldest(&ctx.store, &cfg, now, sector.as_deref(), 200)?;
        let ids: Vec<_> = list.iter().map(|r| r.header.id).collect();
        ctx.log(&format!("page retards secteur={}", sector.as_deref().unwrap_or("tous")), &ids)?;

        let mut b = format!("<h1>Dégradations en retard</h1><div class=\"cards\"><div class=\"card\">En retard<b>{}</b></div></div>", int(total));
        let rows: Vec<Vec<String>> = per_sector.iter().map(|(s, n)| vec![esc(&l.sector(s)), int(*n)]).collect();
        b.push_str("<h2>Par secteur</h2>");
        b.push_str(&table(&["Secteur", "#En retard"], &rows));
        b.push_str("<h2>Délais par catégorie</h2><p class=\"muted\">Un signalement encore ouvert est en retard quand son âge dépasse le délai de sa catégorie. Ces délais se règlent dans la configuration de l'équipe, sur le serveur.</p>");
        let delays: Vec<Vec<String>> = cfg.categories.iter().map(|c| vec![esc(&c.label), c.overdue_after_days.to_string()]).collect();
        b.push_str(&table(&["Catégorie", "#Délai (jours)"], &delays));
        let _ = write!(
            b,
            "<h2>Les plus anciens</h2><form class=\"filters\" method=\"get\"><label>Secteur<select name=\"secteur\">{}</select></label><button class=\"btn\">Filtrer</button></form>",
            options(&l.sectors(), sector.as_deref(), "Tous les secteurs")
        );
        let _ = write!(b, "<p class=\"muted\">{} signalement(s) affiché(s), les plus anciens d'abord (200 au plus).</p>", list.len());
        b.push_str(&report_rows(&list, &l, &cfg, now));
        Ok(html_response(ctx.page("En retard", "/retards", &b)))
    })
    .await
}
