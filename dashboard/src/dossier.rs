//! A resident's file (RGPD art. 15, right of access): everything the team
//! holds about one resident — the contact with its consents and log, and
//! the notes, reports and activities linked to it — as one [`Dossier`],
//! serialised to JSON for a machine and rendered to a standalone, printable
//! French HTML page for the person. One struct, two renderings, so the two
//! downloads can never disagree.

use carnet_core::consent::Purpose;
use carnet_core::model::Contact;
use carnet_core::store::Query;
use carnet_core::{Kind, Record, RecordId, TeamConfig};
use maud::DOCTYPE;
use serde::Serialize;

use crate::html::{Markup, PreEscaped, date, datetime, html};
use crate::labels::Labels;
use crate::{DashboardError, TeamReads};

/// Records read per page when walking a team's records.
const PAGE: u32 = 1000;

/// What the team holds about one resident, when and by whom it was
/// extracted, and the rule it is kept under.
#[derive(Debug, Clone, Serialize)]
pub struct Dossier {
    /// The team's name: who holds the data.
    pub team: String,
    /// When it was extracted (ms).
    pub extracted_at: i64,
    /// Who extracted it (the supervisor's name).
    pub extracted_by: String,
    /// The team's retention, in months after the last activity.
    pub retention_months: u32,
    /// The contact, authors named by the registry.
    pub contact: Contact,
    /// The notes, reports and activities that name the contact.
    pub linked: Vec<Record>,
}

impl Dossier {
    /// The file as indented JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, DashboardError> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| DashboardError::Internal(format!("dossier JSON: {e}")))
    }

    /// The file as a standalone French page, to print or hand over.
    pub fn to_html(&self, cfg: &TeamConfig) -> Markup {
        let l = Labels(cfg);
        let c = &self.contact;
        html! {
            (DOCTYPE)
            html lang="fr" {
                head {
                    meta charset="utf-8";
                    title { "Dossier de " (c.name) }
                    // Trusted: a constant of this file, never data.
                    style { (PreEscaped(CSS)) }
                }
                body {
                    h1 { "Dossier de " (c.name) " — données détenues par " (self.team) }
                    h2 { "Fiche" }
                    table {
                        @for (_, label, value) in contact_fields(c, &l) {
                            tr { th { (label) } td { (value) } }
                        }
                    }
                    h2 { "Consentements" }
                    (consents(c))
                    h2 { "Suivi et orientations" }
                    (interactions(c))
                    h2 { "Notes, signalements et activités qui mentionnent la fiche" }
                    @if self.linked.is_empty() {
                        p { "Aucun." }
                    }
                    @for r in &self.linked {
                        (linked(r, &l))
                    }
                    footer {
                        p {
                            "Extrait le " (datetime(self.extracted_at)) " par " (self.extracted_by) ". "
                            "Conservation : la fiche est effacée " (self.retention_months)
                            " mois après le dernier échange avec la personne, sauf prolongation motivée par un superviseur."
                        }
                    }
                }
            }
        }
    }
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#111}table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem}th,td{border:1px solid #bbb;padding:.25rem .4rem;text-align:left;vertical-align:top}th{background:#eee;width:14rem}section{border:1px solid #ccc;padding:.4rem .8rem;margin:.6rem 0}footer{margin-top:2rem;border-top:1px solid #999;font-size:.9em}";

/// The contact's fields as (field name, French label, shown value), as
/// the file page and the dossier list them.
pub(crate) fn contact_fields(c: &Contact, l: &Labels<'_>) -> Vec<(&'static str, String, String)> {
    let row = |f: &'static str, value: String| (f, Kind::Contact.field_label(f), value);
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        row("name", c.name.clone()),
        row("household", opt(&c.household)),
        row("address", opt(&c.address)),
        row("building", opt(&c.building)),
        row("flat", opt(&c.flat)),
        row("phone", opt(&c.phone)),
        row("languages", c.languages.join(", ")),
        row(
            "landlord",
            c.landlord.as_deref().map(|b| l.body(b)).unwrap_or_default(),
        ),
        row(
            "sector",
            c.sector.as_deref().map(|s| l.sector(s)).unwrap_or_default(),
        ),
        row("topics", c.topics.join(", ")),
        row(
            "new_tenant_visit",
            if c.new_tenant_visit { "oui" } else { "non" }.into(),
        ),
        (
            "created_at",
            "Créée le".into(),
            format!("{} par {}", datetime(c.header.created_at), c.header.author),
        ),
        (
            "keep_until",
            "Conservée au moins jusqu'au".into(),
            c.keep_until.map(date).unwrap_or_default(),
        ),
    ]
}

/// A purpose's French label, or the stored code for an older topic.
pub(crate) fn purpose_label(code: &str) -> String {
    Purpose::ALL
        .iter()
        .find(|p| p.code() == code)
        .map_or_else(|| code.to_string(), |p| p.label().to_string())
}

/// The consents table: purpose, given when and by whom, withdrawn when and
/// by whom.
pub(crate) fn consents(c: &Contact) -> Markup {
    html! {
        table {
            thead { tr { th { "Finalité" } th { "Donné le" } th { "Par" } th { "Retiré le" } th { "Par" } } }
            tbody {
                @if c.consents.is_empty() {
                    tr { td colspan="5" { "Aucun consentement enregistré." } }
                }
                @for x in &c.consents {
                    tr {
                        td { (purpose_label(&x.purpose)) }
                        td { (datetime(x.given_at)) }
                        td { (x.given_by) }
                        td { (x.withdrawn_at.map(datetime).unwrap_or_default()) }
                        td { (x.withdrawn_by.clone().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// The contact's log: interactions and referrals, with who recorded them.
pub(crate) fn interactions(c: &Contact) -> Markup {
    html! {
        table {
            thead { tr { th { "Date" } th { "Par" } th { "Échange" } th { "Orienté vers" } } }
            tbody {
                @if c.interactions.is_empty() {
                    tr { td colspan="4" { "Aucun échange enregistré." } }
                }
                @for i in &c.interactions {
                    tr {
                        td { (datetime(i.at)) }
                        td { (i.by) }
                        td { (i.text) }
                        td { (i.referral.clone().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// A linked record's kind, title, date, author and text.
pub(crate) fn describe(r: &Record, l: &Labels<'_>) -> (String, String, String) {
    match r {
        Record::Note(n) => (
            "Note de terrain".into(),
            format!(
                "{} — {}",
                l.sector(&n.sector),
                n.place.clone().unwrap_or_default()
            ),
            n.text.clone(),
        ),
        Record::Report(rep) => (
            "Signalement".into(),
            format!("{} — {}", l.category(&rep.category), rep.place),
            rep.text.clone(),
        ),
        Record::Activity(a) => (
            "Activité".into(),
            format!("{} — {}", a.activity_type, l.sector(&a.sector)),
            a.text.clone(),
        ),
        Record::Contact(c) => ("Fiche habitant".into(), c.name.clone(), String::new()),
    }
}

fn linked(r: &Record, l: &Labels<'_>) -> Markup {
    let (kind, title, text) = describe(r, l);
    let h = r.header();
    html! {
        section {
            h3 { (kind) " : " (title) }
            p { "Le " (datetime(h.created_at)) " par " (h.author) }
            @if !text.is_empty() { p { (text) } }
            @if let Record::Report(rep) = r {
                @for c in &rep.comments {
                    p { "Commentaire du " (datetime(c.at)) " par " (c.by) " : " (c.text) }
                }
            }
        }
    }
}

/// Calls `f` on every note, report and activity of the team, page by page.
pub(crate) fn each_text_record(
    store: &dyn TeamReads,
    mut f: impl FnMut(Record),
) -> Result<(), DashboardError> {
    for kind in [Kind::Note, Kind::Report, Kind::Activity] {
        let mut offset = 0;
        loop {
            let page = store.list(&Query {
                kind: Some(kind),
                oldest_first: true,
                limit: Some(PAGE),
                offset,
                ..Default::default()
            })?;
            page.items.into_iter().for_each(&mut f);
            if !page.has_more {
                break;
            }
            offset += PAGE;
        }
    }
    Ok(())
}

/// Every contact of the team, page by page.
pub(crate) fn all_contacts(store: &dyn TeamReads) -> Result<Vec<Contact>, DashboardError> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = store.list(&Query {
            kind: Some(Kind::Contact),
            oldest_first: true,
            limit: Some(PAGE),
            offset,
            ..Default::default()
        })?;
        out.extend(page.items.into_iter().filter_map(|r| match r {
            Record::Contact(c) => Some(c),
            _ => None,
        }));
        if !page.has_more {
            return Ok(out);
        }
        offset += PAGE;
    }
}

/// The notes, reports and activities linked to contact `id`.
pub(crate) fn linked_records(
    store: &dyn TeamReads,
    id: RecordId,
) -> Result<Vec<Record>, DashboardError> {
    let mut out = Vec::new();
    each_text_record(store, |r| {
        let links = match &r {
            Record::Note(n) => &n.contacts,
            Record::Report(rep) => &rep.contacts,
            Record::Activity(a) => &a.contacts,
            Record::Contact(_) => return,
        };
        if links.iter().any(|c| c.id == id) {
            out.push(r);
        }
    })?;
    Ok(out)
}
