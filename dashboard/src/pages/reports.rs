//! Open dégradations by sector, with their age, responsible body and last
//! status, and a report's full history. Counts come from grouped counts and
//! the list is paged, so the page costs the same at 100 or 100,000 records.

use axum::extract::{Path, Query as Q};
use axum::response::Response;
use carnet_core::lifecycle::StatusEvent;
use carnet_core::model::Report;
use carnet_core::store::{GroupBy, Query};
use carnet_core::{Kind, Record, RecordId, ReportStatus, TeamConfig};
use serde::Deserialize;

use super::acting;
use super::{
    Auth, State, html_response, nonempty, not_a_report, overdue, photos, report_id, with_store,
};
use crate::html::{Markup, Render, date, datetime, html, int, options, table, url_enc};
use crate::labels::{self, Labels};
use crate::{DashboardError, LapsedDevice, MOUNT, svg};

const PAGE: u32 = 100;

fn last_applied(events: &[StatusEvent]) -> Option<&StatusEvent> {
    events.iter().rev().find(|e| e.applied)
}

/// Rows of the open-report tables: age, dates, place, body, last status,
/// and a link to the history. Overdue rows are highlighted.
pub fn report_rows(list: &[Report], l: &Labels<'_>, cfg: &TeamConfig, now: i64) -> Markup {
    html! {
        table {
            thead {
                tr {
                    th.n { "Âge (j)" }
                    th { "Signalé le" }
                    th { "Secteur" }
                    th { "Quartier" }
                    th { "Catégorie" }
                    th { "Lieu" }
                    th { "Organisme responsable" }
                    th { "Dernier statut" }
                    th {}
                }
            }
            tbody {
                @if list.is_empty() {
                    tr { td colspan="9" class="muted" { "Aucun signalement." } }
                }
                @for r in list {
                    @let late = r.status.is_open() && cfg.is_overdue(&r.category, r.header.created_at, now);
                    tr class=[late.then_some("late")] {
                        td.n {
                            (TeamConfig::age_days(r.header.created_at, now))
                            @if late { " " span.badge.late { "retard" } }
                        }
                        td { (date(r.header.created_at)) }
                        td { (l.sector(&r.sector)) }
                        td { (r.quartier.as_deref().map(|q| l.quartier(q)).unwrap_or_default()) }
                        td {
                            (l.category(&r.category))
                            @if r.urgent { " " span.badge.late { "urgent" } }
                        }
                        td { (r.place) }
                        td { (l.body(r.body.as_deref().unwrap_or(""))) }
                        td {
                            (labels::status(r.status))
                            @if let Some(e) = last_applied(&r.events) {
                                " " span.muted { "le " (date(e.at)) }
                            }
                        }
                        td { a href={ (MOUNT) "/signalements/" (r.header.id.to_string()) } { "Historique" } }
                    }
                }
            }
        }
    }
}

/// The notice on the home page listing the team's devices the server
/// revoked for inactivity: a lapsed phone is a mediator who can no longer
/// sync, or a lost phone nobody reported; either way a supervisor acts.
pub fn lapsed_notice(devices: &[LapsedDevice]) -> Markup {
    html! {
        @if !devices.is_empty() {
            div.warn role="status" {
                p {
                    b { "Appareils révoqués pour inactivité." }
                    " Le serveur a révoqué ces appareils, restés trop longtemps sans se connecter : ils ne synchronisent plus. S'ils servent encore, inscrivez-les de nouveau avec un nouveau code ; s'ils sont perdus, il n'y a rien d'autre à faire."
                }
                ul {
                    @for d in devices {
                        li {
                            (d.name) " "
                            span.muted {
                                "("
                                @match d.last_seen {
                                    Some(t) => { "vu pour la dernière fois le " (datetime(t)) }
                                    None => { "jamais vu depuis son inscription" }
                                }
                                " ; révoqué le " (date(d.revoked_at)) ")"
                            }
                        }
                    }
                }
            }
        }
    }
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

        let lapsed = lapsed_notice(&ctx.st.backend.lapsed_devices(&ctx.session.supervisor.team_id)?);
        let chart_rows: Vec<(String, Vec<f64>)> = by_sector
            .iter()
            .map(|c| (l.sector(&c.key), vec![c.count as f64, late.get(&c.key).copied().unwrap_or(0) as f64]))
            .collect();
        let rows: Vec<Vec<Markup>> = by_sector
            .iter()
            .map(|c| {
                vec![
                    html! { a href={ (MOUNT) "/degradations?secteur=" (url_enc(&c.key)) } { (l.sector(&c.key)) } },
                    int(c.count).render(),
                    int(late.get(&c.key).copied().unwrap_or(0)).render(),
                ]
            })
            .collect();
        let keep = format!("secteur={}&categorie={}", url_enc(sector.as_deref().unwrap_or("")), url_enc(category.as_deref().unwrap_or("")));
        let b = html! {
            (lapsed)
            h1 { "Dégradations ouvertes" }
            div.cards {
                div.card { "Ouvertes" b { (int(total)) } }
                div.card { a href={ (MOUNT) "/retards" } { "En retard" } b { (int(total_late)) } }
                @for c in &by_status {
                    div.card { (labels::status_code(&c.key)) b { (int(c.count)) } }
                }
            }
            h2 { "Par secteur" }
            (svg::hbars("Dégradations ouvertes et en retard par secteur", &chart_rows, &["Ouvertes", "En retard"]))
            (table(&["Secteur", "#Ouvertes", "#En retard"], &rows))
            h2 { "Liste, les plus anciennes d'abord" }
            form.filters method="get" {
                label { "Secteur" select name="secteur" { (options(&l.sectors(), sector.as_deref(), "Tous les secteurs")) } }
                label { "Catégorie" select name="categorie" { (options(&l.categories(), category.as_deref(), "Toutes les catégories")) } }
                button.btn { "Filtrer" }
            }
            (report_rows(&reports, &l, &cfg, now))
            p.pager {
                @if page > 1 {
                    a href={ "?" (keep) "&page=" (page - 1) } { "← Page précédente" }
                }
                "Page " (page)
                @if list.has_more {
                    " " a href={ "?" (keep) "&page=" (page + 1) } { "Page suivante →" }
                }
            }
        };
        Ok(html_response(ctx.page("Dégradations ouvertes", "/degradations", b)))
    })
    .await
}

/// `/dashboard/signalements/{id}`: a report's fields, status history (with
/// events a concurrent change made inapplicable), conflicts and change log.
pub async fn history(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Q(done): Q<Done>,
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
        let field = |name: &str, value: Markup| vec![name.render(), value];
        let fields = vec![
            field("Statut actuel", html! { b { (labels::status(r.status)) } }),
            field("Signalé le", html! { (datetime(r.header.created_at)) " par " (r.header.author) " (il y a " (age) " j)" }),
            field("Secteur", l.sector(&r.sector).render()),
            field("Quartier", r.quartier.as_deref().map(|q| l.quartier(q)).unwrap_or_default().render()),
            field("Lieu", r.place.render()),
            field("Catégorie", l.category(&r.category).render()),
            field("Urgent (danger)", (if r.urgent { "oui" } else { "non" }).render()),
            field("Organisme responsable", l.body(r.body.as_deref().unwrap_or("")).render()),
            field("Axes", r.axes.iter().map(|a| l.axis(a)).collect::<Vec<_>>().join(", ").render()),
            field("Description", r.text.render()),
            field("Habitants concernés", html! { (r.contacts.len()) " (fiches non affichées ici)" }),
            field("Référence", html! { b { (labels::reference(id)) } " " span.muted { "(celle de la fiche PDF)" } }),
            field("Identifiant", html! { code { (r.header.id.to_string()) } }),
        ];
        let evs: Vec<Vec<Markup>> = r
            .events
            .iter()
            .map(|e| {
                vec![
                    datetime(e.at).render(),
                    labels::status(e.status).render(),
                    e.by.render(),
                    e.to.as_deref().map(|t| l.body(t)).unwrap_or_default().render(),
                    e.reference.as_deref().unwrap_or("").render(),
                    e.comment.as_deref().unwrap_or("").render(),
                    if e.applied { "oui".render() } else { html! { span.badge.late { "non : changement simultané" } } },
                ]
            })
            .collect();
        let csrf = ctx.session.csrf.clone();
        let conflicts = acting::conflicts_section(Kind::Report, id, &d.conflicts, &csrf);
        let actions = actions_section(r, &cfg, &csrf);
        let comments: Vec<Vec<Markup>> = r
            .comments
            .iter()
            .map(|c| vec![datetime(c.at).render(), c.by.render(), c.text.render()])
            .collect();

        let hist: Vec<Vec<Markup>> = d.history.iter().map(|h| vec![datetime(h.at).render(), h.by.render(), labels::operation(&h.op).render(), h.fields.iter().map(|f| Kind::Report.field_label(f)).collect::<Vec<_>>().join(", ").render()]).collect();
        let gallery = photos::gallery(ctx, id, &photos::ordered(&r.photos))?;
        let b = html! {
            p.noprint { a href={ (MOUNT) "/degradations" } { "← Dégradations ouvertes" } }
            h1 { (l.category(&r.category)) " — " (r.place) }
            p.noprint {
                a.btn href={ (MOUNT) "/signalements/" (id.to_string()) "/fiche.pdf" } { "Fiche de signalement (PDF)" }
                " " span.muted { "une page à envoyer à l'organisme responsable, avec les photos" }
            }
            (acting::notice(done.fait()))
            (table(&["Champ", "Valeur"], &fields))
            (gallery)
            (conflicts)
            (actions)
            h2 { "Historique des statuts" }
            @if evs.is_empty() { p.muted { "Aucun changement de statut : le signalement est tel qu'il a été signalé." } }
            @else { (table(&["Date", "Statut", "Par", "Transmis à", "Référence", "Commentaire", "Appliqué"], &evs)) }
            h2 { "Commentaires" }
            @if comments.is_empty() { p.muted { "Aucun commentaire." } } @else { (table(&["Date", "Par", "Commentaire"], &comments)) }
            form #commentaire .noprint method="post" action={ (MOUNT) "/signalements/" (id.to_string()) "/commentaire" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Commentaire " textarea name="text" rows="2" cols="60" maxlength="2000" required {} }
                " "
                button.btn type="submit" { "Ajouter le commentaire" }
            }
            h2 { "Journal des modifications" }
            (table(&["Date", "Par", "Opération", "Champs"], &hist))
        };
        Ok(html_response(ctx.page("Historique du signalement", "/degradations", b)))
    })
    .await
}

/// The `fait` code a form's redirect leaves, for the notice.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    fait: Option<String>,
}

impl Done {
    /// The code, if the page was reached from a form.
    pub fn fait(&self) -> Option<&str> {
        self.fait.as_deref()
    }
}

/// A status move's button, as supervisors say it.
fn move_label(to: ReportStatus) -> &'static str {
    match to {
        ReportStatus::Reported => "Rouvrir",
        ReportStatus::Forwarded => "Transmettre",
        ReportStatus::InProgress => "Mettre en cours",
        ReportStatus::Resolved => "Marquer résolu",
        ReportStatus::Closed => "Clôturer (vérifié sur place)",
        ReportStatus::Rejected => "Rejeter",
        ReportStatus::Duplicate => "Marquer en doublon",
    }
}

/// What a supervisor may do to the report from where it stands: the
/// lifecycle's next statuses only (the same table the phones use), each a
/// form that works without JavaScript.
fn actions_section(r: &Report, cfg: &TeamConfig, csrf: &str) -> Markup {
    let next = r.status.allowed_next();
    let action = format!("{MOUNT}/signalements/{}/statut", r.header.id);
    let simple: Vec<ReportStatus> = next
        .iter()
        .copied()
        .filter(|s| !matches!(s, ReportStatus::Forwarded | ReportStatus::Duplicate))
        .collect();
    html! {
        section #agir .noprint {
            h2 { "Agir sur ce signalement" }
            @if next.contains(&ReportStatus::Forwarded) {
                form #transmettre method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="status" value="forwarded";
                    label { "Organisme responsable "
                        select name="to" required {
                            @for b in &cfg.bodies {
                                option value=(b.code) selected[r.body.as_deref() == Some(b.code.as_str())] { (b.label) }
                            }
                        }
                    }
                    " "
                    label { "Sa référence " input type="text" name="reference" maxlength="100"; }
                    " "
                    label { "Commentaire " input type="text" name="comment" maxlength="2000"; }
                    " "
                    button.btn type="submit" { "Transmettre" }
                }
            }
            @for to in &simple {
                form.statut method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="status" value=(to.code());
                    label { "Commentaire " input type="text" name="comment" maxlength="2000"; }
                    " "
                    button.btn type="submit" { (move_label(*to)) }
                }
            }
            @if next.contains(&ReportStatus::Duplicate) {
                form #doublon method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="status" value="duplicate";
                    label { "Doublon du signalement (référence SIG-… ou identifiant) " input type="text" name="duplicate_of" required maxlength="40"; }
                    " "
                    button.btn type="submit" { "Marquer en doublon" }
                }
            }
        }
    }
}
