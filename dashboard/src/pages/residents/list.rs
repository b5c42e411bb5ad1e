//! `/dashboard/habitants`: the team's contacts, searchable by name, with
//! the ones the retention rule lists or erases next at the top, so that a
//! supervisor extends a file that must stay before it goes.

use axum::extract::Query as Q;
use axum::response::Response;
use carnet_core::model::Contact;
use carnet_core::redact::fold;
use carnet_core::retention::{Retention, last_activity, retention};
use carnet_core::{RecordId, TeamConfig};
use serde::Deserialize;

use super::{file_path, retention_label};
use crate::dossier::{all_contacts, purpose_label};
use crate::html::{Markup, date, html};
use crate::labels::Labels;
use crate::pages::acting::notice;
use crate::pages::{Auth, State, html_response, nonempty, with_store};
use crate::{DashboardError, MOUNT};

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    nom: Option<String>,
    #[serde(default)]
    fait: Option<String>,
}

/// The active consents, as French labels.
fn consents_summary(c: &Contact) -> String {
    let active: Vec<String> = c
        .consents
        .iter()
        .filter(|x| x.is_active())
        .map(|x| purpose_label(&x.purpose))
        .collect();
    if active.is_empty() {
        "aucun".into()
    } else {
        active.join(", ")
    }
}

fn rows(list: &[&Contact], cfg: &TeamConfig, now: i64) -> Markup {
    let l = Labels(cfg);
    html! {
        table {
            thead { tr { th { "Nom" } th { "Secteur" } th { "Consentements" } th { "Dernière activité" } th { "Conservation" } } }
            tbody {
                @if list.is_empty() {
                    tr { td colspan="5" class="muted" { "Aucune fiche." } }
                }
                @for c in list {
                    tr {
                        td { a href=(file_path(c.header.id)) { (c.name) } }
                        td { (c.sector.as_deref().map(|s| l.sector(s)).unwrap_or_default()) }
                        td { (consents_summary(c)) }
                        td { (date(last_activity(c))) }
                        td { (retention_label(c, cfg, now)) }
                    }
                }
            }
        }
    }
}

/// `/dashboard/habitants`.
pub async fn page(
    axum::extract::State(st): State,
    auth: Auth,
    Q(p): Q<Params>,
) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config()?;
        let now = carnet_core::now_ms();
        let contacts = all_contacts(&*ctx.store)?;
        let search = nonempty(&p.nom);
        let wanted = search.as_deref().map(fold);
        let shown: Vec<&Contact> = contacts
            .iter()
            .filter(|c| wanted.as_ref().is_none_or(|w| fold(&c.name).contains(w.as_str())))
            .collect();
        let mut review: Vec<(i64, &Contact)> = contacts
            .iter()
            .filter_map(|c| match retention(c, &cfg, now) {
                Retention::Listed { due_at } | Retention::Due { due_at } => Some((due_at, c)),
                Retention::Kept => None,
            })
            .collect();
        review.sort_by_key(|(due, _)| *due);
        let review: Vec<&Contact> = review.into_iter().map(|(_, c)| c).collect();
        let mut ids: Vec<RecordId> = review.iter().map(|c| c.header.id).collect();
        for c in &shown {
            if !ids.contains(&c.header.id) {
                ids.push(c.header.id);
            }
        }
        ctx.log("liste des habitants", &ids)?;
        let body = html! {
            (notice(p.fait.as_deref()))
            h1 { "Habitants" }
            p.muted {
                "Les fiches sont effacées " (cfg.retention_months)
                " mois après le dernier échange avec la personne, sauf prolongation motivée. "
                "Une fiche apparaît ci-dessous 30 jours avant son effacement."
            }
            h2 { "À examiner : effacement dans les 30 jours ou échu" }
            (rows(&review, &cfg, now))
            h2 { "Toutes les fiches" }
            form.filters method="get" action={ (MOUNT) "/habitants" } {
                label { "Nom" input type="search" name="nom" value=(search.as_deref().unwrap_or("")); }
                button.btn { "Chercher" }
            }
            (rows(&shown, &cfg, now))
        };
        Ok(html_response(ctx.page("Habitants", "/habitants", body)))
    })
    .await
}
