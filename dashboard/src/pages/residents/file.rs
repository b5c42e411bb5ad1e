//! `/dashboard/habitants/{id}`: one resident's file — every field,
//! consents, log, conflicts, linked records and retention — with the forms
//! that rectify it, record a consent, and extend its retention; and the
//! file as downloads (`dossier.json`, `dossier.html`).

use axum::extract::{Form, Path, Query as Q};
use axum::response::Response;
use carnet_core::consent::Purpose;
use carnet_core::edit::Action;
use carnet_core::model::Contact;
use carnet_core::{Kind, Record};
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::Value;

use super::{as_contact, contact_id, file_path, retention_label};
use crate::dossier::{self, Dossier, contact_fields, describe, linked_records};
use crate::html::{Markup, date, datetime, html, options, tz};
use crate::labels::Labels;
use crate::pages::acting::{act, conflicts_section, notice};
use crate::pages::{Auth, JSON, State, download, html_response, with_store};
use crate::{DashboardError, MOUNT};

/// The fields a supervisor may rectify from the file: the contact's
/// scalar and text fields (lists and consents have their own operations).
pub(crate) const EDITABLE: [&str; 8] = [
    "name",
    "household",
    "address",
    "building",
    "flat",
    "phone",
    "landlord",
    "sector",
];

/// The longest reason for a retention extension, in characters.
const MOTIF_MAX_CHARS: usize = 500;

#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    fait: Option<String>,
}

/// `GET /dashboard/habitants/{id}`.
pub async fn page(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Q(p): Q<Params>,
) -> Result<Response, DashboardError> {
    let id = contact_id(&id)?;
    with_store(st, auth, move |ctx| {
        let mut d = ctx.store.details(id)?;
        let names = ctx.names()?;
        names.name_record(&mut d.record);
        let c = as_contact(d.record)?;
        let mut linked = linked_records(&*ctx.store, id)?;
        linked.iter_mut().for_each(|r| names.name_record(r));
        let mut ids = vec![id];
        ids.extend(linked.iter().map(|r| r.header().id));
        ctx.log("fiche habitant", &ids)?;
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let now = carnet_core::now_ms();
        let csrf = &ctx.session.csrf;
        let base = file_path(id);
        let fields = contact_fields(&c, &l);
        let state = retention_label(&c, &cfg, now);
        let due = carnet_core::retention::due_at(&c, &cfg);
        let body = html! {
            (notice(p.fait.as_deref()))
            p.noprint { a href={ (MOUNT) "/habitants" } { "← Habitants" } }
            h1 { (c.name) }
            p.noprint {
                a.btn href={ (base) "/dossier.html" } { "Dossier (document à remettre)" } " "
                a.btn href={ (base) "/dossier.json" } { "Dossier (JSON)" } " "
                a.btn href={ (base) "/effacement" } { "Effacer la fiche…" }
            }
            h2 { "Fiche" }
            table {
                thead { tr { th { "Champ" } th { "Valeur" } th.noprint { "Rectifier" } } }
                tbody {
                    @for (field, label, value) in &fields {
                        tr {
                            td { (label) }
                            td { (value) }
                            td.noprint {
                                @if EDITABLE.contains(field) {
                                    form method="post" action={ (base) "/rectifier" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="field" value=(field);
                                        (rectify_input(field, &c, &l))
                                        " " button.btn type="submit" { "Rectifier" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Consentements" }
            (dossier::consents(&c))
            form method="post" action={ (base) "/consentement" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Finalité " select name="purpose" {
                    @for purpose in Purpose::ALL { option value=(purpose.code()) { (purpose.label()) } }
                } }
                " "
                label { input type="radio" name="geste" value="donner" checked; " donné" }
                " "
                label { input type="radio" name="geste" value="retirer"; " retiré" }
                " " button.btn type="submit" { "Enregistrer" }
            }
            p.muted { "Retirer le consentement « contact par téléphone » efface le numéro de téléphone." }
            h2 { "Suivi et orientations" }
            (dossier::interactions(&c))
            (conflicts_section(Kind::Contact, id, &d.conflicts, csrf))
            h2 { "Notes, signalements et activités liés" }
            (crate::html::table(&["Type", "Date", "Par", "Objet", "Texte"], &linked.iter().map(|r| {
                let (kind, title, text) = describe(r, &l);
                let h = r.header();
                let title = match r {
                    Record::Report(_) => html! { a href={ (MOUNT) "/signalements/" (h.id.to_string()) } { (title) } },
                    _ => html! { (title) },
                };
                vec![html! { (kind) }, html! { (datetime(h.created_at)) }, html! { (h.author) }, title, html! { (text) }]
            }).collect::<Vec<_>>()))
            h2 { "Conservation" }
            p {
                "Effacement prévu le " (date(due)) " (" (cfg.retention_months) " mois après le dernier échange"
                @if c.keep_until.is_some() { ", ou la prolongation si elle est plus tardive" }
                "). "
                @if !state.is_empty() { b { (state) } }
            }
            form method="post" action={ (base) "/conservation" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "Conserver jusqu'au " input type="date" name="jusqu_au" required; }
                " "
                label { "Motif " input type="text" name="motif" maxlength=(MOTIF_MAX_CHARS) size="60" required; }
                " " button.btn type="submit" { "Prolonger" }
            }
            p.muted { "Le motif est inscrit au journal des accès : n'y mettez aucune information de santé ni autre donnée sensible sur la personne." }
        };
        Ok(html_response(ctx.page("Fiche habitant", "/habitants", body)))
    })
    .await
}

/// The input a rectification form offers for `field`: the configured
/// sectors and bodies as lists, a text input holding the current value
/// otherwise (emptied, it clears the field).
fn rectify_input(field: &str, c: &Contact, l: &Labels<'_>) -> Markup {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match field {
        "sector" => html! {
            select name="value" { (options(&l.sectors(), c.sector.as_deref(), "(aucun)")) }
        },
        "landlord" => {
            let bodies: Vec<(String, String)> =
                l.0.bodies
                    .iter()
                    .map(|b| (b.code.clone(), b.label.clone()))
                    .collect();
            html! { select name="value" { (options(&bodies, c.landlord.as_deref(), "(aucun)")) } }
        }
        _ => {
            let current = match field {
                "name" => c.name.clone(),
                "household" => text(&c.household),
                "address" => text(&c.address),
                "building" => text(&c.building),
                "flat" => text(&c.flat),
                "phone" => text(&c.phone),
                _ => String::new(),
            };
            html! { input type="text" name="value" value=(current) maxlength="200"; }
        }
    }
}

#[derive(Deserialize)]
pub struct RectifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
}

/// `POST /dashboard/habitants/{id}/rectifier`: one field, through the core.
pub async fn rectify(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<RectifyForm>,
) -> Result<Response, DashboardError> {
    let id = contact_id(&id)?;
    let Some(field) = EDITABLE.iter().find(|x| **x == f.field) else {
        return Err(DashboardError::BadRequest(
            "ce champ ne se rectifie pas depuis la fiche".into(),
        ));
    };
    let value = f.value.trim();
    let value = if value.is_empty() {
        Value::Null
    } else {
        Value::from(value)
    };
    let action = Action::SetField {
        field: field.to_string(),
        value,
    };
    let what = format!("rectification ({field})");
    act(
        st,
        auth,
        f.csrf,
        id,
        action,
        what,
        file_path(id),
        "rectifie",
    )
    .await
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    geste: String,
}

/// `POST /dashboard/habitants/{id}/consentement`: a consent given or withdrawn.
pub async fn consent(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<ConsentForm>,
) -> Result<Response, DashboardError> {
    let id = contact_id(&id)?;
    let purpose: Purpose = f
        .purpose
        .parse()
        .map_err(|_| DashboardError::BadRequest("finalité inconnue".into()))?;
    let (action, what, done) = match f.geste.as_str() {
        "donner" => (
            Action::GiveConsent { purpose },
            format!("consentement donné ({})", purpose.code()),
            "consentement-donne",
        ),
        "retirer" => (
            Action::WithdrawConsent { purpose },
            format!("consentement retiré ({})", purpose.code()),
            "consentement-retire",
        ),
        _ => {
            return Err(DashboardError::BadRequest(
                "choisissez « donné » ou « retiré »".into(),
            ));
        }
    };
    act(st, auth, f.csrf, id, action, what, file_path(id), done).await
}

#[derive(Deserialize)]
pub struct KeepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    jusqu_au: String,
    #[serde(default)]
    motif: String,
}

/// `POST /dashboard/habitants/{id}/conservation`: keeps the contact past
/// the team's retention until the end of the given day, for a reason the
/// access log keeps.
pub async fn keep(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<KeepForm>,
) -> Result<Response, DashboardError> {
    let id = contact_id(&id)?;
    let day: Date = f
        .jusqu_au
        .trim()
        .parse()
        .map_err(|_| DashboardError::BadRequest("date invalide : attendu AAAA-MM-JJ".into()))?;
    let motif = f.motif.trim();
    if motif.is_empty() || motif.chars().count() > MOTIF_MAX_CHARS {
        return Err(DashboardError::BadRequest(format!(
            "le motif est obligatoire, en {MOTIF_MAX_CHARS} caractères au plus"
        )));
    }
    let until = day
        .to_zoned(tz().clone())
        .ok()
        .and_then(|z| z.end_of_day().ok())
        .map(|z| z.timestamp().as_millisecond())
        .ok_or_else(|| DashboardError::BadRequest("date invalide".into()))?;
    let what = format!(
        "prolongation de conservation jusqu'au {} — motif : {motif}",
        date(until)
    );
    act(
        st,
        auth,
        f.csrf,
        id,
        Action::KeepUntil { until },
        what,
        file_path(id),
        "conservation-prolongee",
    )
    .await
}

/// `GET /dashboard/habitants/{id}/dossier.{json,html}`.
pub async fn download_dossier(
    axum::extract::State(st): State,
    auth: Auth,
    Path((id, format)): Path<(String, String)>,
) -> Result<Response, DashboardError> {
    let id = contact_id(&id)?;
    let json = match format.as_str() {
        "json" => true,
        "html" => false,
        _ => {
            return Err(DashboardError::NotFound(
                "format inconnu : json ou html".into(),
            ));
        }
    };
    with_store(st, auth, move |ctx| {
        let names = ctx.names()?;
        let mut record = ctx.store.get(id)?;
        names.name_record(&mut record);
        let contact = as_contact(record)?;
        let mut linked = linked_records(&*ctx.store, id)?;
        linked.iter_mut().for_each(|r| names.name_record(r));
        let mut ids = vec![id];
        ids.extend(linked.iter().map(|r| r.header().id));
        let cfg = ctx.store.config()?;
        let d = Dossier {
            team: ctx.team_name.clone(),
            extracted_at: carnet_core::now_ms(),
            extracted_by: ctx.session.supervisor.name.clone(),
            retention_months: cfg.retention_months,
            contact,
            linked,
        };
        let name = format!("dossier-{id}");
        if json {
            ctx.log("dossier RGPD (accès) JSON", &ids)?;
            Ok(download(d.to_json()?, JSON, &format!("{name}.json")))
        } else {
            ctx.log("dossier RGPD (accès) document", &ids)?;
            let bytes = d.to_html(&cfg).into_string().into_bytes();
            Ok(download(bytes, HTML, &format!("{name}.html")))
        }
    })
    .await
}

const HTML: &str = "text/html; charset=utf-8";
