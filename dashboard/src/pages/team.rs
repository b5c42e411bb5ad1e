//! `/dashboard/equipe`: the team's supervisor accounts. A signed-in
//! supervisor invites a new person (the link is shown once, to hand over),
//! sends a reset invitation, disables an account (its sessions end at
//! once), and decides whether the team requires a second factor. Every
//! change is written to the access log, naming the account acted on.

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::account::{Notice, links, notice};
use super::{Auth, Ctx, State, audit, with_store};
use crate::html::security_headers;
use crate::{DashboardError, MOUNT};

fn render(ctx: &Ctx, link: Option<&str>, n: Option<&Notice>) -> Result<Response, DashboardError> {
    let team_id = &ctx.session.supervisor.team_id;
    let accounts = ctx.st.backend.accounts(team_id)?;
    let required = ctx
        .st
        .backend
        .account_state(&ctx.session.supervisor)?
        .totp_required;
    let csrf = &ctx.session.csrf;
    let me = &ctx.session.supervisor.account_id;
    let body = html! {
        h1 { "Équipe : comptes superviseurs" }
        (links())
        (notice(n))
        @if let Some(link) = link {
            p { "Lien d'invitation, valable 7 jours et une seule fois — transmettez-le à la personne (il n'est affiché qu'ici, maintenant) :" }
            p { input type="text" readonly value=(link) size="90"; }
        }
        table {
            thead { tr { th { "Nom" } th { "E-mail" } th { "État" } th { "Double authentification" } th { "Actions" } } }
            tbody {
                @for a in &accounts {
                    tr {
                        td { (a.name) }
                        td { (a.email) }
                        td {
                            @if a.disabled { "désactivé" }
                            @else if a.active { "actif" }
                            @else { "invitation en attente" }
                        }
                        td { @if a.totp { "oui" } @else { "non" } }
                        td {
                            @if !a.disabled {
                                form method="post" action={ (MOUNT) "/equipe/comptes/" (a.account_id) "/reinviter" } style="display:inline" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.btn type="submit" { "Nouvelle invitation (réinitialiser)" }
                                }
                                @if &a.account_id != me {
                                    " "
                                    form method="post" action={ (MOUNT) "/equipe/comptes/" (a.account_id) "/desactiver" } style="display:inline" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.btn type="submit" { "Désactiver" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Inviter une personne" }
        form method="post" action={ (MOUNT) "/equipe/inviter" } style="max-width:40rem" {
            input type="hidden" name="csrf" value=(csrf);
            p { label { "Nom" br; input type="text" name="name" maxlength="100" required; } }
            p { label { "Adresse e-mail" br; input type="email" name="email" maxlength="254" required; } }
            button.btn type="submit" { "Créer le compte et afficher le lien d'invitation" }
        }
        h2 { "Double authentification" }
        form method="post" action={ (MOUNT) "/equipe/double-authentification" } {
            input type="hidden" name="csrf" value=(csrf);
            @if required {
                p { "L'équipe exige la double authentification : un compte qui ne l'a pas l'enregistre en acceptant son invitation." }
                input type="hidden" name="on" value="non";
                button.btn type="submit" { "Ne plus l'exiger" }
            } @else {
                p { "L'équipe ne l'exige pas : chacun peut l'activer depuis « Mon compte »." }
                input type="hidden" name="on" value="oui";
                button.btn type="submit" { "L'exiger pour toute l'équipe" }
            }
        }
    };
    let status = match n {
        Some(Notice::Refused(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    Ok((
        status,
        security_headers(),
        Html(ctx.page("Équipe", "/equipe", body).into_string()),
    )
        .into_response())
}

/// What a team form did: a notice, and an invitation link to show once.
type Done = (String, Option<String>);

async fn act(
    st: State,
    auth: Auth,
    csrf: &str,
    act: impl FnOnce(&Ctx) -> Result<Done, DashboardError> + Send + 'static,
) -> Result<Response, DashboardError> {
    auth.check_csrf(csrf)?;
    let axum::extract::State(st) = st;
    with_store(st, auth, move |ctx| match act(ctx) {
        Ok((done, link)) => render(ctx, link.as_deref(), Some(&Notice::Done(done))),
        Err(DashboardError::Refused(why)) => render(ctx, None, Some(&Notice::Refused(why))),
        Err(e) => Err(e),
    })
    .await
}

/// The team page.
pub async fn page(axum::extract::State(st): State, auth: Auth) -> Result<Response, DashboardError> {
    with_store(st, auth, |ctx| render(ctx, None, None)).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

/// Creates an account for a new person and shows its invitation link.
pub async fn invite(
    st: State,
    auth: Auth,
    Form(f): Form<InviteForm>,
) -> Result<Response, DashboardError> {
    let csrf = f.csrf.clone();
    act(st, auth, &csrf, move |ctx| {
        let who = &ctx.session.supervisor;
        let link = ctx.st.backend.invite(&who.team_id, &f.name, &f.email)?;
        audit(
            &*ctx.st.log,
            who,
            &ctx.client,
            "invitation émise (nouveau compte)",
        )?;
        Ok(("Compte créé.".into(), Some(link)))
    })
    .await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// The name the access log gives the account acted on: its id only.
fn target(action: &str, account_id: &str) -> String {
    format!("{action} [compte {account_id}]")
}

/// A reset: a new invitation for an account of the team.
pub async fn reinvite(
    st: State,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, DashboardError> {
    act(st, auth, &f.csrf, move |ctx| {
        let who = &ctx.session.supervisor;
        let link = ctx.st.backend.reinvite(&who.team_id, &id)?;
        audit(
            &*ctx.st.log,
            who,
            &ctx.client,
            &target("invitation émise (réinitialisation)", &id),
        )?;
        Ok((
            "Nouvelle invitation créée : les liens précédents ne fonctionnent plus.".into(),
            Some(link),
        ))
    })
    .await
}

/// Disables an account of the team.
pub async fn disable(
    st: State,
    auth: Auth,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, DashboardError> {
    act(st, auth, &f.csrf, move |ctx| {
        let who = &ctx.session.supervisor;
        if id == who.account_id {
            return Err(DashboardError::Refused(
                "Vous ne pouvez pas désactiver votre propre compte : demandez-le à un autre superviseur.".into(),
            ));
        }
        if !ctx.st.backend.disable(&who.team_id, &id)? {
            return Err(DashboardError::NotFound("ce compte n'existe pas dans votre équipe".into()));
        }
        audit(&*ctx.st.log, who, &ctx.client, &target("compte désactivé", &id))?;
        Ok(("Compte désactivé : ses sessions sont fermées.".into(), None))
    })
    .await
}

#[derive(Deserialize)]
pub struct RequireForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    on: String,
}

/// Requires (or stops requiring) a second factor for the team.
pub async fn require_totp(
    st: State,
    auth: Auth,
    Form(f): Form<RequireForm>,
) -> Result<Response, DashboardError> {
    let csrf = f.csrf.clone();
    act(st, auth, &csrf, move |ctx| {
        let who = &ctx.session.supervisor;
        let on = f.on == "oui";
        ctx.st.backend.set_require_totp(&who.team_id, on)?;
        let (action, done) = if on {
            ("double authentification exigée pour l'équipe", "La double authentification est désormais exigée : les comptes qui ne l'ont pas l'enregistreront à leur prochaine invitation.")
        } else {
            ("double authentification plus exigée pour l'équipe", "La double authentification n'est plus exigée.")
        };
        audit(&*ctx.st.log, who, &ctx.client, action)?;
        Ok((done.into(), None))
    })
    .await
}
