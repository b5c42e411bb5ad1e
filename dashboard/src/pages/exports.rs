//! Exports of the team's merged log, filtered, as XLSX, CSV or JSON; and,
//! separately, the residents' contacts. Authors are named by the server's
//! device registry (`names`). Contacts are personal data: the log
//! export never includes them (not even the ids linked from a note), and
//! the contacts export is its own page, a POST with the CSRF token and an
//! explicit confirmation. Every export writes the exported ids to the access
//! log.

use axum::extract::{Form, Path, Query as Q};
use axum::response::Response;
use carnet_core::store::Query;
use carnet_core::{Kind, Record, RecordId};
use serde::Deserialize;

use super::{Auth, CSV, JSON, State, XLSX, download, html_response, nonempty, with_store};
use crate::html::{html, options};
use crate::labels::{self, Labels};
use crate::period::PeriodQuery;
use crate::sheets::{self, CONTACT_HEADERS, LOG_HEADERS, Table};
use crate::{DashboardError, MOUNT, TeamReads};
use carnet_core::schema::ACTIVITY_TYPES;

/// Every record matching `q`, page by page.
fn load_all(store: &dyn TeamReads, q: &Query) -> Result<Vec<Record>, DashboardError> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = store.list(&Query {
            limit: Some(1000),
            offset,
            ..q.clone()
        })?;
        out.extend(page.items);
        if !page.has_more {
            return Ok(out);
        }
        offset += 1000;
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    secteur: Option<String>,
    #[serde(default)]
    axe: Option<String>,
    #[serde(default)]
    statut: Option<String>,
    #[serde(default)]
    categorie: Option<String>,
    #[serde(default)]
    activite: Option<String>,
    #[serde(default)]
    texte: Option<String>,
    #[serde(default)]
    du: Option<String>,
    #[serde(default)]
    au: Option<String>,
}

impl Filters {
    fn kinds(&self) -> Result<Vec<Kind>, DashboardError> {
        match nonempty(&self.kind).as_deref() {
            None => Ok(vec![Kind::Note, Kind::Report, Kind::Activity]),
            Some("note") => Ok(vec![Kind::Note]),
            Some("report") => Ok(vec![Kind::Report]),
            Some("activity") => Ok(vec![Kind::Activity]),
            Some("contact") => Err(DashboardError::BadRequest(
                "les contacts d'habitants s'exportent à part, depuis « Export des contacts »"
                    .into(),
            )),
            Some(_) => Err(DashboardError::BadRequest("type de fiche inconnu".into())),
        }
    }

    fn query(&self, kind: Kind) -> Result<Query, DashboardError> {
        let (since, until) = PeriodQuery {
            du: self.du.clone(),
            au: self.au.clone(),
        }
        .bounds()?;
        Ok(Query {
            kind: Some(kind),
            sector: nonempty(&self.secteur),
            axis: nonempty(&self.axe),
            status: nonempty(&self.statut),
            category: nonempty(&self.categorie),
            activity_type: nonempty(&self.activite),
            text: nonempty(&self.texte),
            since,
            until,
            oldest_first: true,
            ..Default::default()
        })
    }

    /// The filters as the access log names them.
    fn describe(&self) -> String {
        let f = |k: &str, v: &Option<String>| {
            nonempty(v).map(|v| format!(" {k}={v}")).unwrap_or_default()
        };
        format!(
            "{}{}{}{}{}{}{}{}{}",
            f("type", &self.kind),
            f("secteur", &self.secteur),
            f("axe", &self.axe),
            f("statut", &self.statut),
            f("categorie", &self.categorie),
            f("activite", &self.activite),
            nonempty(&self.texte)
                .map(|_| " texte=(recherche)")
                .unwrap_or_default(),
            f("du", &self.du),
            f("au", &self.au)
        )
    }
}

/// `/dashboard/exports`: the filter form and the three formats.
pub async fn form(axum::extract::State(st): State, auth: Auth) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let kinds = vec![("note".into(), "Observations".into()), ("report".into(), "Signalements".into()), ("activity".into(), "Activités".into())];
        let statuses: Vec<(String, String)> = carnet_core::ReportStatus::ALL.iter().map(|s| (s.code().to_string(), labels::status(*s).to_string())).collect();
        let acts: Vec<(String, String)> = ACTIVITY_TYPES.iter().map(|(c, l)| (c.to_string(), l.to_string())).collect();
        let b = html! {
            h1 { "Exports du journal de l'équipe" }
            p { "Observations, signalements et activités, filtrés. Les fiches de contact des habitants n'y figurent jamais : elles s'exportent à part, ci-dessous. Chaque export est inscrit au journal des accès." }
            form.filters method="get" action={ (MOUNT) "/exports/journal.xlsx" } {
                label { "Type" select name="type" { (options(&kinds, None, "Tous (sauf contacts)")) } }
                label { "Secteur" select name="secteur" { (options(&l.sectors(), None, "Tous")) } }
                label { "Axe" select name="axe" { (options(&l.axes(), None, "Tous")) } }
                label { "Statut" select name="statut" { (options(&statuses, None, "Tous")) } }
                label { "Catégorie" select name="categorie" { (options(&l.categories(), None, "Toutes")) } }
                label { "Type d'activité" select name="activite" { (options(&acts, None, "Tous")) } }
                label { "Du" input type="date" name="du"; }
                label { "Au" input type="date" name="au"; }
                label { "Mots" input type="search" name="texte"; }
                @for format in ["xlsx", "csv", "json"] {
                    button.btn type="submit" formaction={ (MOUNT) "/exports/journal." (format) } { (format.to_uppercase()) }
                }
            }
            h2 { "Export des contacts d'habitants" }
            p.warn { "Données personnelles (RGPD). " a href={ (MOUNT) "/exports/contacts" } { "Exporter les contacts d'habitants…" } }
        };
        Ok(html_response(ctx.page("Exports", "/exports", b)))
    })
    .await
}

/// `/dashboard/exports/journal.{xlsx,csv,json}`.
pub async fn log_export(
    axum::extract::State(st): State,
    auth: Auth,
    Path(format): Path<String>,
    Q(f): Q<Filters>,
) -> Result<Response, DashboardError> {
    let (ctype, ext) = match format.as_str() {
        "xlsx" => (XLSX, "xlsx"),
        "csv" => (CSV, "csv"),
        "json" => (JSON, "json"),
        _ => {
            return Err(DashboardError::NotFound(
                "format d'export inconnu (xlsx, csv ou json)".into(),
            ));
        }
    };
    let kinds = f.kinds()?;
    with_store(st, auth, move |ctx| {
        let mut records = Vec::new();
        for k in kinds {
            records.extend(load_all(&*ctx.store, &f.query(k)?)?);
        }
        let names = ctx.names()?;
        records.iter_mut().for_each(|r| names.name_record(r));
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let bytes = match ext {
            "json" => sheets::json(&records, false)?,
            _ => {
                let t = Table {
                    sheet: "Journal".into(),
                    headers: LOG_HEADERS.iter().map(|s| s.to_string()).collect(),
                    rows: records.iter().map(|r| sheets::log_row(r, &l)).collect(),
                };
                if ext == "xlsx" {
                    sheets::xlsx(&[t])?
                } else {
                    sheets::csv_table(&t)?
                }
            }
        };
        let ids: Vec<RecordId> = records.iter().map(|r| r.header().id).collect();
        ctx.log(
            &format!("export journal {}{}", ext.to_uppercase(), f.describe()),
            &ids,
        )?;
        Ok(download(
            bytes,
            ctype,
            &format!("carnet-journal-{}.{ext}", jiff::Zoned::now().date()),
        ))
    })
    .await
}

/// `/dashboard/exports/contacts`: the explicit, separate contacts export.
pub async fn contacts_form(
    axum::extract::State(st): State,
    auth: Auth,
) -> Result<Response, DashboardError> {
    with_store(st, auth, move |ctx| {
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let b = html! {
            h1 { "Export des contacts d'habitants" }
            p.warn {
                b { "Données personnelles." }
                " Ce fichier contient les noms, adresses, téléphones et le suivi des habitants. Ne l'exportez que pour une finalité prévue, conservez-le sur un poste protégé et supprimez-le après usage. L'export, votre nom et la liste des fiches exportées sont inscrits au journal des accès."
            }
            form.filters method="post" action={ (MOUNT) "/exports/contacts" } {
                input type="hidden" name="csrf" value=(ctx.session.csrf);
                label { "Secteur" select name="secteur" { (options(&l.sectors(), None, "Tous")) } }
                label {
                    "Format"
                    select name="format" {
                        option value="xlsx" { "XLSX" }
                        option value="csv" { "CSV" }
                        option value="json" { "JSON" }
                    }
                }
                label style="flex-direction:row;gap:.4rem;align-items:center" {
                    input type="checkbox" name="confirme" value="oui" required;
                    " Je confirme exporter des données personnelles d'habitants"
                }
                button.btn type="submit" { "Exporter les contacts" }
            }
        };
        Ok(html_response(ctx.page("Export des contacts", "/exports", b)))
    })
    .await
}

#[derive(Deserialize)]
pub struct ContactsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirme: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    secteur: Option<String>,
}

/// The contacts download (POST: CSRF token and confirmation required).
pub async fn contacts_export(
    axum::extract::State(st): State,
    auth: Auth,
    Form(f): Form<ContactsForm>,
) -> Result<Response, DashboardError> {
    auth.check_csrf(&f.csrf)?;
    if f.confirme != "oui" {
        return Err(DashboardError::BadRequest(
            "cochez la confirmation pour exporter des données personnelles".into(),
        ));
    }
    let (ctype, ext) = match f.format.as_str() {
        "csv" => (CSV, "csv"),
        "json" => (JSON, "json"),
        _ => (XLSX, "xlsx"),
    };
    with_store(st, auth, move |ctx| {
        let sector = nonempty(&f.secteur);
        let q = Query {
            kind: Some(Kind::Contact),
            oldest_first: true,
            ..Default::default()
        };
        let mut contacts: Vec<Record> = load_all(&*ctx.store, &q)?;
        if let Some(s) = &sector {
            contacts.retain(
                |r| matches!(r, Record::Contact(c) if c.sector.as_deref() == Some(s.as_str())),
            );
        }
        let names = ctx.names()?;
        contacts.iter_mut().for_each(|r| names.name_record(r));
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let bytes = match ext {
            "json" => sheets::json(&contacts, true)?,
            _ => {
                let rows = contacts
                    .iter()
                    .filter_map(|r| {
                        if let Record::Contact(c) = r {
                            Some(sheets::contact_row(c, &l))
                        } else {
                            None
                        }
                    })
                    .collect();
                let t = Table {
                    sheet: "Contacts".into(),
                    headers: CONTACT_HEADERS.iter().map(|s| s.to_string()).collect(),
                    rows,
                };
                if ext == "xlsx" {
                    sheets::xlsx(&[t])?
                } else {
                    sheets::csv_table(&t)?
                }
            }
        };
        let ids: Vec<RecordId> = contacts.iter().map(|r| r.header().id).collect();
        ctx.log(
            &format!(
                "export CONTACTS {}{}",
                ext.to_uppercase(),
                sector.map(|s| format!(" secteur={s}")).unwrap_or_default()
            ),
            &ids,
        )?;
        Ok(download(
            bytes,
            ctype,
            &format!("carnet-contacts-{}.{ext}", jiff::Zoned::now().date()),
        ))
    })
    .await
}
