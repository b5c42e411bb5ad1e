//! `/dashboard/habitants/{id}/effacement` (RGPD art. 17): a confirmation
//! page listing what goes and the team's texts that mention the resident,
//! then the erasure. The name is taken out of the ticked texts first, in
//! the same request: once the contact is erased, its name is known nowhere
//! to look for.

use axum::extract::{Form, Path};
use axum::response::Response;
use carnet_core::edit::Action;
use carnet_core::redact::mentions;
use carnet_core::{Record, RecordId};

use super::{as_contact, contact_id, file_path};
use crate::dossier::{describe, each_text_record};
use crate::html::{Markup, datetime, html};
use crate::labels::Labels;
use crate::pages::acting::refusal;
use crate::pages::{Auth, State, html_response, with_store};
use crate::{DashboardError, MOUNT, TeamReads};

/// Characters of a text shown as its excerpt.
const EXCERPT_CHARS: usize = 160;

/// The team's notes, reports and activities whose text mentions `name`.
fn mentioning(store: &dyn TeamReads, name: &str) -> Result<Vec<Record>, DashboardError> {
    let mut out = Vec::new();
    each_text_record(store, |r| {
        if mentions(text(&r), name) {
            out.push(r);
        }
    })?;
    Ok(out)
}

fn text(r: &Record) -> &str {
    match r {
        Record::Note(n) => &n.text,
        Record::Report(rep) => &rep.text,
        Record::Activity(a) => &a.text,
        Record::Contact(_) => "",
    }
}

fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(EXCERPT_CHARS).collect();
    if s.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// A record's link: reports have a page; notes and activities are named.
fn title(r: &Record, l: &Labels<'_>) -> Markup {
    let (kind, title, _) = describe(r, l);
    let h = r.header();
    html! {
        (kind) " du " (datetime(h.created_at)) " : "
        @if let Record::Report(_) = r {
            a href={ (MOUNT) "/signalements/" (h.id.to_string()) } { (title) }
        } @else { (title) }
    }
}

/// A change the core refused, as the French 422 page; a record gone
/// meanwhile keeps its 404 or 410.
fn refused(e: DashboardError) -> DashboardError {
    match e {
        DashboardError::Core(e)
            if !matches!(
                e,
                carnet_core::Error::NotFound(_) | carnet_core::Error::Erased(_)
            ) =>
        {
            DashboardError::Refused(refusal(&e))
        }
        other => other,
    }
}

/// `GET`: what the erasure removes, and the texts to redact.
pub async fn confirm(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let id = contact_id(&id)?;
    with_store(st, auth, move |ctx| {
        let c = as_contact(ctx.store.get(id)?)?;
        let found = mentioning(&*ctx.store, &c.name)?;
        let mut ids = vec![id];
        ids.extend(found.iter().map(|r| r.header().id));
        ctx.log("préparation de l'effacement", &ids)?;
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let body = html! {
            p { a href=(file_path(id)) { "← Fiche de " (c.name) } }
            h1 { "Effacer la fiche de " (c.name) }
            div.warn {
                p { b { "L'effacement est définitif." } " La fiche disparaît du serveur et de chaque téléphone à sa prochaine synchronisation : "
                    "nom, coordonnées, composition du foyer, consentements, " (c.interactions.len()) " échange(s) et orientation(s)." }
                p { "Les notes, signalements et activités restent dans le journal de l'équipe ; leur lien vers la fiche indique qu'elle a été effacée." }
            }
            form method="post" {
                input type="hidden" name="csrf" value=(ctx.session.csrf);
                h2 { "Textes qui mentionnent le nom" }
                @if found.is_empty() {
                    p.muted { "Aucun texte de l'équipe ne mentionne ce nom." }
                } @else {
                    p { "Le nom sera remplacé par « " (carnet_core::redact::PLACEHOLDER) " » dans les textes cochés :" }
                    ul {
                        @for r in &found {
                            li {
                                label {
                                    input type="checkbox" name="caviarder" value=(r.header().id.to_string()) checked;
                                    " " (title(r, &l))
                                }
                                br; span.muted { (excerpt(text(r))) }
                            }
                        }
                    }
                }
                button.btn type="submit" { "Effacer définitivement" }
            }
        };
        Ok(html_response(ctx.page("Effacement", "/habitants", body)))
    })
    .await
}

/// `POST`: redacts the ticked texts, then erases the contact.
pub async fn erase(
    axum::extract::State(st): State,
    auth: Auth,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, DashboardError> {
    let id = contact_id(&id)?;
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    auth.check_csrf(csrf)?;
    let ticked = pairs
        .iter()
        .filter(|(k, _)| k == "caviarder")
        .map(|(_, v)| {
            v.parse::<RecordId>()
                .map_err(|_| DashboardError::BadRequest("identifiant de texte invalide".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    with_store(st, auth, move |ctx| {
        let who = &ctx.session.supervisor;
        let c = as_contact(ctx.store.get(id)?)?;
        let mut redacted = Vec::new();
        for rid in ticked {
            use carnet_core::Error::{Erased, NotFound};
            let r = match ctx.store.get(rid) {
                Ok(r) => r,
                Err(DashboardError::Core(NotFound(_) | Erased(_))) => continue,
                Err(e) => return Err(e),
            };
            // A text changed since the confirmation page may no longer name them.
            if !mentions(text(&r), &c.name) {
                continue;
            }
            ctx.st
                .backend
                .act(who, rid, &Action::Redact { name: c.name.clone() })
                .map_err(refused)?;
            ctx.log("caviardage du nom après effacement", &[rid])?;
            redacted.push(ctx.store.get(rid)?);
        }
        ctx.st.backend.act(who, id, &Action::Erase).map_err(refused)?;
        ctx.log("effacement (droit à l'effacement)", &[id])?;
        let cfg = ctx.store.config()?;
        let l = Labels(&cfg);
        let body = html! {
            h1 { "Fiche effacée" }
            p { "La fiche a été effacée ; les téléphones de l'équipe l'effaceront à leur prochaine synchronisation." }
            p { "Nom remplacé dans " (redacted.len()) " texte(s)." }
            @if !redacted.is_empty() {
                ul { @for r in &redacted { li { (title(r, &l)) } } }
            }
            p { a href={ (MOUNT) "/habitants" } { "← Habitants" } }
        };
        Ok(html_response(ctx.page("Fiche effacée", "/habitants", body)))
    })
    .await
}
