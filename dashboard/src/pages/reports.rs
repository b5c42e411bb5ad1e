//! Open dégradations by sector, with their age, responsible body and last
//! status, and a report's full history. Counts come from grouped counts and
//! the list is paged, so the page costs the same at 100 or 100,000 records.

use std::fmt::Write;

use axum::extract::{Path, Query as Q};
use axum::response::Response;
use carnet_core::lifecycle::StatusEvent;
use carnet_core::model::Report;
use carnet_core::store::{GroupBy, Query};
use carnet_core::{Kind, Record, RecordId, TeamConfig};
use serde::Deserialize;

use super::{
    Auth, State, html_response, nonempty, not_a_report, overdue, photos, report_id, with_store,
};
use crate::html::{date, datetime, esc, int, options, table, url_enc};
use crate::labels::{self, Labels};
use crate::{DashboardError, LapsedDevice, MOUNT, svg};

const PAGE: u32 = 100;

fn last_applied(events: &[StatusEvent]) -> Option<&StatusEvent> {
    events.iter().rev().find(|e| e.applied)
}

/// Rows of the open-report tables: age, dates, place, body, last status,
/// and a link to the history. Overdue rows are highlighted.
pub fn report_rows(list: &[Report], l: &Labels<'_>, cfg: &TeamConfig, now: i64) -> String {
    let mut s = String::from(
        "<table><thead><tr><th class=\"n\">Âge (j)</th><th>Signalé le</th><th>Secteur</th><th>Quartier</th><th>Catégorie</th><th>Lieu</th><th>Organisme responsable</th><th>Dernier statut</th><th></th></tr></thead><tbody>",
    );
    if list.is_empty() {
        s.push_str("<tr><td colspan=\"9\" class=\"muted\">Aucun signalement.</td></tr>");
    }
    for r in list {
        let age = TeamConfig::age_days(r.header.created_at, now);
        let late = r.status.is_open() && cfg.is_overdue(&r.category, r.header.created_at, now);
        let last = last_applied(&r.events)
            .map(|e| format!(" <span class=\"muted\">le {}</span>", date(e.at)))
            .unwrap_or_default();
        let _ = write!(
            s,
            "<tr{}><td class=\"n\">{age}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}{last}</td><td><a href=\"{MOUNT}/signalements/{}\">Historique</a></td></tr>",
            if late { " class=\"late\"" } else { "" },
            if late {
                " <span class=\"badge late\">retard</span>"
            } else {
                ""
            },
            date(r.header.created_at),
            esc(&l.sector(&r.sector)),
            esc(&r
                .quartier
                .as_deref()
                .map(|q| l.quartier(q))
                .unwrap_or_default()),
            esc(&l.category(&r.category)),
            if r.urgent {
                " <span class=\"badge late\">urgent</span>"
            } else {
                ""
            },
            esc(&r.place),
            esc(&l.body(r.body.as_deref().unwrap_or(""))),
            esc(labels::status(r.status)),
            r.header.id
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// The notice on the home page listing the team's devices the server
/// revoked for inactivity: a lapsed phone is a mediator who can no longer
/// sync, or a lost phone nobody reported; either way a supervisor acts.
pub fn lapsed_notice(devices: &[LapsedDevice]) -> String {
    if devices.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "<div class=\"warn\" role=\"status\"><p><b>Appareils révoqués pour inactivité.</b> Le serveur a révoqué ces appareils, restés trop longtemps sans se connecter : ils ne synchronisent plus. S'ils servent encore, inscrivez-les de nouveau avec un nouveau code ; s'ils sont perdus, il n'y a rien d'autre à faire.</p><ul>",
    );
    for d in devices {
        let seen = d
            .last_seen
            .map(|t| format!("vu pour la dernière fois le {}", datetime(t)))
            .unwrap_or_else(|| "jamais vu depuis son inscription".into());
        let _ = write!(
            s,
            "<li>{} <span class=\"muted\">({seen} ; révoqué le {})</span></li>",
            esc(&d.name),
            date(d.revoked_at)
        );
    }
    s.push_str("</ul></div>");
    s
}

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    secteur: Option<String>,
    #[serde(default)]
    categorie: Option<String>,
    #[serde(default)]
    page: Option<u32>,
}

/// `/dashboard/degradations`.
pub async fn open(
    axum::extract::State(st): State,
    auth: Auth,
    Q(p): Q<Params>,
) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let now = carnet_core::now_ms();
        let sector = nonempty(&p.secteur);
        let category = nonempty(&p.categorie);
        let page = p.page.unwrap_or(1).clamp(1, 10_000);
        let open_q = Query { kind: Some(Kind::Report), open_only: true, ..Default::default() };
        let by_sector = ctx.store.count(&open_q, GroupBy::Sector)?;
        let by_status = ctx.store.count(&open_q, GroupBy::Status)?;
        let late = overdue::by_sector(&ctx.store.open_rows()?, &cfg, now);
        let total: u64 = by_sector.iter().map(|c| c.count).sum();
        let total_late: u64 = late.values().sum();

        let q = Query { sector: sector.clone(), category: category.clone(), oldest_first: true, limit: Some(PAGE), offset: (page - 1) * PAGE, ..open_q };
        let list = ctx.store.list(&q)?;
        let reports: Vec<Report> = list.items.into_iter().filter_map(|r| if let Record::Report(r) = r { Some(r) } else { None }).collect();
        let ids: Vec<RecordId> = reports.iter().map(|r| r.header.id).collect();
        ctx.log(&format!("page dégradations ouvertes secteur={} catégorie={} page={page}", sector.as_deref().unwrap_or("tous"), category.as_deref().unwrap_or("toutes")), &ids)?;

        let mut b = lapsed_notice(&ctx.st.backend.lapsed_devices(&ctx.session.supervisor.team_id)?);
        b.push_str("<h1>Dégradations ouvertes</h1><div class=\"cards\">");
        let _ = write!(b, "<div class=\"card\">Ouvertes<b>{}</b></div>", int(total));
        let _ = write!(b, "<div class=\"card\"><a href=\"{MOUNT}/retards\">En retard</a><b>{}</b></div>", int(total_late));
        for c in &by_status {
            let _ = write!(b, "<div class=\"card\">{}<b>{}</b></div>", esc(&labels::status_code(&c.key)), int(c.count));
        }
        b.push_str("</div><h2>Par secteur</h2>");
        let chart_rows: Vec<(String, Vec<f64>)> = by_sector
            .iter()
            .map(|c| (l.sector(&c.key), vec![c.count as f64, late.get(&c.key).copied().unwrap_or(0) as f64]))
            .collect();
        b.push_str(&svg::hbars("Dégradations ouvertes et en retard par secteur", &chart_rows, &["Ouvertes", "En retard"]));
        let rows: Vec<Vec<String>> = by_sector
            .iter()
            .map(|c| {
                vec![
                    format!("<a href=\"{MOUNT}/degradations?secteur={}\">{}</a>", url_enc(&c.key), esc(&l.sector(&c.key))),
                    int(c.count),
                    int(late.get(&c.key).copied().unwrap_or(0)),
                ]
            })
            .collect();
        b.push_str(&table(&["Secteur", "#Ouvertes", "#En retard"], &rows));
        let _ = write!(
            b,
            "<h2>Liste, les plus anciennes d'abord</h2><form class=\"filters\" method=\"get\"><label>Secteur<select name=\"secteur\">{}</select></label><label>Catégorie<select name=\"categorie\">{}</select></label><button class=\"btn\">Filtrer</button></form>",
            options(&l.sectors(), sector.as_deref(), "Tous les secteurs"),
            options(&l.categories(), category.as_deref(), "Toutes les catégories")
        );
        b.push_str(&report_rows(&reports, &l, &cfg, now));
        let keep = format!("secteur={}&categorie={}", url_enc(sector.as_deref().unwrap_or("")), url_enc(category.as_deref().unwrap_or("")));
        b.push_str("<p class=\"pager\">");
        if page > 1 {
            let _ = write!(b, "<a href=\"?{keep}&page={}\">← Page précédente</a>", page - 1);
        }
        let _ = write!(b, "Page {page}");
        if list.has_more {
            let _ = write!(b, " <a href=\"?{keep}&page={}\">Page suivante →</a>", page + 1);
        }
        b.push_str("</p>");
        Ok(html_response(ctx.page("Dégradations ouvertes", "/degradations", &b)))
    })
    .await
}

/// `/dashboard/signalements/{id}`: a report's fields, status history (with
/// events a concurrent change made inapplicable), conflicts and change log.
pub async fn history(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let id = report_id(&id)?;
    with_store(st, auth, move |ctx| {
        let mut d = ctx.store.details(id)?;
        let names = ctx.names()?;
        names.name_record(&mut d.record);
        names.name_history(&mut d.history);
        let Record::Report(r) = &d.record else {
            return Err(not_a_report());
        };
        ctx.log("fiche signalement (historique)", &[id])?;
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let now = carnet_core::now_ms();
        let age = (now - r.header.created_at).max(0) / 86_400_000;
        let mut b = format!("<p class=\"noprint\"><a href=\"{MOUNT}/degradations\">← Dégradations ouvertes</a></p><h1>{} — {}</h1><p class=\"noprint\"><a class=\"btn\" href=\"{MOUNT}/signalements/{id}/fiche.pdf\">Fiche de signalement (PDF)</a> <span class=\"muted\">une page à envoyer à l'organisme responsable, avec les photos</span></p>", esc(&l.category(&r.category)), esc(&r.place));
        let fields = vec![
            vec!["Statut actuel".into(), format!("<b>{}</b>", esc(labels::status(r.status)))],
            vec!["Signalé le".into(), format!("{} par {} (il y a {age} j)", datetime(r.header.created_at), esc(&r.header.author))],
            vec!["Secteur".into(), esc(&l.sector(&r.sector))],
            vec!["Quartier".into(), esc(&r.quartier.as_deref().map(|q| l.quartier(q)).unwrap_or_default())],
            vec!["Lieu".into(), esc(&r.place)],
            vec!["Catégorie".into(), esc(&l.category(&r.category))],
            vec!["Urgent (danger)".into(), if r.urgent { "oui".into() } else { "non".into() }],
            vec!["Organisme responsable".into(), esc(&l.body(r.body.as_deref().unwrap_or("")))],
            vec!["Axes".into(), esc(&r.axes.iter().map(|a| l.axis(a)).collect::<Vec<_>>().join(", "))],
            vec!["Description".into(), esc(&r.text)],
            vec!["Habitants concernés".into(), format!("{} (fiches non affichées ici)", r.contacts.len())],
            vec!["Référence".into(), format!("<b>{}</b> <span class=\"muted\">(celle de la fiche PDF)</span>", esc(&labels::reference(id)))],
            vec!["Identifiant".into(), format!("<code>{}</code>", r.header.id)],
        ];
        b.push_str(&table(&["Champ", "Valeur"], &fields));
        b.push_str(&photos::gallery(ctx, id, &photos::ordered(&r.photos))?);
        b.push_str("<h2>Historique des statuts</h2>");
        let evs: Vec<Vec<String>> = r
            .events
            .iter()
            .map(|e| {
                vec![
                    datetime(e.at),
                    esc(labels::status(e.status)),
                    esc(&e.by),
                    esc(&e.to.as_deref().map(|t| l.body(t)).unwrap_or_default()),
                    esc(e.reference.as_deref().unwrap_or("")),
                    esc(e.comment.as_deref().unwrap_or("")),
                    if e.applied { "oui".into() } else { "<span class=\"badge late\">non : changement simultané</span>".into() },
                ]
            })
            .collect();
        b.push_str(&table(&["Date", "Statut", "Par", "Transmis à", "Référence", "Commentaire", "Appliqué"], &evs));
        if !d.conflicts.is_empty() {
            b.push_str("<h2>Conflits à résoudre</h2><p class=\"muted\">Deux médiateurs ont écrit des valeurs différentes hors connexion ; la première est celle affichée.</p>");
            let rows: Vec<Vec<String>> = d
                .conflicts
                .iter()
                .map(|c| vec![esc(&c.field), esc(&c.values.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect::<Vec<_>>().join(" | "))])
                .collect();
            b.push_str(&table(&["Champ", "Valeurs"], &rows));
        }
        b.push_str("<h2>Journal des modifications</h2>");
        let op = |o: &str| match o {
            "create" => "création",
            "set" => "modification",
            "status" => "statut",
            "resolve" => "résolution de conflit",
            other => other,
        }
        .to_string();
        let hist: Vec<Vec<String>> = d.history.iter().map(|h| vec![datetime(h.at), esc(&h.by), esc(&op(&h.op)), esc(&h.fields.iter().map(|f| Kind::Report.field_label(f)).collect::<Vec<_>>().join(", "))]).collect();
        b.push_str(&table(&["Date", "Par", "Opération", "Champs"], &hist));
        Ok(html_response(ctx.page("Historique du signalement", "/degradations", &b)))
    })
    .await
}
