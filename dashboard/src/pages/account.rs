//! `/dashboard/compte`: the signed-in supervisor's own account: change the
//! password (the current one first; the account's other sessions end), and
//! enrol or remove the TOTP second factor (not removable when the team
//! requires it). Each form answers in French what happened or why not,
//! and each change is written to the access log.

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::invitation::{password_rules, totp_block};
use super::{Auth, Ctx, State, audit, with_store};
use crate::accounts::{MAX_PASSWORD, MIN_PASSWORD, new_totp, totp_setup};
use crate::html::security_headers;
use crate::{AccountState, DashboardError, MOUNT};

/// What the last form did, shown at the top of the page.
pub(crate) enum Notice {
    /// It worked: what changed.
    Done(String),
    /// It was refused: why.
    Refused(String),
}

/// The account pages' own links (until the frame's navigation has them).
pub(crate) fn links() -> Markup {
    html! {
        p.muted {
            a href={ (MOUNT) "/equipe" } { "Équipe" } " · " a href={ (MOUNT) "/compte" } { "Mon compte" }
        }
    }
}

pub(crate) fn notice(n: Option<&Notice>) -> Markup {
    html! {
        @match n {
            Some(Notice::Done(m)) => p role="status" style="background:#e8f5e9;border:1px solid #9ccc9c;padding:.6rem;border-radius:6px" { (m) },
            Some(Notice::Refused(m)) => p.warn role="alert" { (m) },
            None => {},
        }
    }
}

fn render(
    ctx: &Ctx,
    state: AccountState,
    secret: Option<&str>,
    n: Option<&Notice>,
) -> Result<Response, DashboardError> {
    let who = &ctx.session.supervisor;
    let csrf = &ctx.session.csrf;
    let setup = match secret.map(|s| totp_setup(s, &who.email)) {
        Some(Ok(s)) => s,
        _ => new_totp(&who.email)?,
    };
    let body = html! {
        h1 { "Mon compte" }
        (links())
        (notice(n))
        p { (who.name) " — " (who.email) }
        h2 { "Changer de mot de passe" }
        form method="post" action={ (MOUNT) "/compte/mot-de-passe" } style="max-width:40rem" {
            input type="hidden" name="csrf" value=(csrf);
            p.muted { (password_rules()) " Vos autres sessions ouvertes seront fermées." }
            p { label { "Mot de passe actuel" br; input type="password" name="current" autocomplete="current-password" required; } }
            p { label { "Nouveau mot de passe" br; input type="password" name="password" autocomplete="new-password" minlength=(MIN_PASSWORD) maxlength=(MAX_PASSWORD) required; } }
            p { label { "Le même, une seconde fois" br; input type="password" name="confirm" autocomplete="new-password" required; } }
            button.btn type="submit" { "Changer le mot de passe" }
        }
        h2 { "Double authentification" }
        @if state.totp_enrolled {
            p { "Activée : chaque connexion demande le code de votre application." }
            @if state.totp_required {
                p.muted { "Votre équipe l'exige : elle ne peut pas être retirée. Pour changer de téléphone, demandez une nouvelle invitation à un autre superviseur." }
            } @else {
                form method="post" action={ (MOUNT) "/compte/double-authentification/retirer" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button.btn type="submit" { "Retirer la double authentification" }
                }
            }
        } @else {
            form method="post" action={ (MOUNT) "/compte/double-authentification" } style="max-width:40rem" {
                input type="hidden" name="csrf" value=(csrf);
                (totp_block(&setup, true))
                button.btn type="submit" { "Activer" }
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
        Html(ctx.page("Mon compte", "/compte", body).into_string()),
    )
        .into_response())
}

/// Runs `act` on the account, then shows the page with what it did.
async fn act(
    st: State,
    auth: Auth,
    csrf: &str,
    secret: Option<String>,
    act: impl FnOnce(&Ctx) -> Result<String, DashboardError> + Send + 'static,
) -> Result<Response, DashboardError> {
    auth.check_csrf(csrf)?;
    let axum::extract::State(st) = st;
    with_store(st, auth, move |ctx| {
        let n = match act(ctx) {
            Ok(done) => Notice::Done(done),
            Err(DashboardError::Refused(why)) => Notice::Refused(why),
            Err(e) => return Err(e),
        };
        let state = ctx.st.backend.account_state(&ctx.session.supervisor)?;
        let keep = matches!(n, Notice::Refused(_)).then_some(secret).flatten();
        render(ctx, state, keep.as_deref(), Some(&n))
    })
    .await
}

/// The account page.
pub async fn page(axum::extract::State(st): State, auth: Auth) -> Result<Response, DashboardError> {
    with_store(st, auth, |ctx| {
        let state = ctx.st.backend.account_state(&ctx.session.supervisor)?;
        render(ctx, state, None, None)
    })
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Changes the password; the account's other sessions end.
pub async fn change_password(
    st: State,
    auth: Auth,
    Form(f): Form<PasswordForm>,
) -> Result<Response, DashboardError> {
    let cookie_id = auth.cookie_id.clone();
    let csrf = f.csrf.clone();
    act(st, auth, &csrf, None, move |ctx| {
        if f.password != f.confirm {
            return Err(DashboardError::Refused(
                "Les deux nouveaux mots de passe diffèrent : rien n'a été changé.".into(),
            ));
        }
        let who = &ctx.session.supervisor;
        ctx.st
            .backend
            .change_password(who, &f.current, &f.password, &ctx.client)
            .inspect_err(|e| {
                if matches!(e, DashboardError::Refused(_)) {
                    let _ = audit(
                        &*ctx.st.log,
                        who,
                        &ctx.client,
                        "changement de mot de passe refusé",
                    );
                }
            })?;
        let ended = ctx
            .st
            .sessions
            .end_account(&who.account_id, Some(&cookie_id))?;
        audit(&*ctx.st.log, who, &ctx.client, "mot de passe changé")?;
        Ok(format!(
            "Mot de passe changé. Sessions fermées sur d'autres appareils ou navigateurs : {ended}."
        ))
    })
    .await
}

#[derive(Deserialize)]
pub struct TotpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    totp_secret: String,
    #[serde(default)]
    code: String,
}

/// Enrols the second factor once its first code checks.
pub async fn enrol_totp(
    st: State,
    auth: Auth,
    Form(f): Form<TotpForm>,
) -> Result<Response, DashboardError> {
    let csrf = f.csrf.clone();
    let secret = f.totp_secret.trim().to_string();
    act(st, auth, &csrf, Some(secret.clone()), move |ctx| {
        let who = &ctx.session.supervisor;
        ctx.st.backend.enrol_totp(who, &secret, f.code.trim())?;
        audit(
            &*ctx.st.log,
            who,
            &ctx.client,
            "double authentification activée",
        )?;
        Ok("Double authentification activée : la prochaine connexion demandera un code.".into())
    })
    .await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Removes the second factor, unless the team requires one.
pub async fn remove_totp(
    st: State,
    auth: Auth,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, DashboardError> {
    act(st, auth, &f.csrf, None, move |ctx| {
        let who = &ctx.session.supervisor;
        ctx.st.backend.remove_totp(who)?;
        audit(
            &*ctx.st.log,
            who,
            &ctx.client,
            "double authentification retirée",
        )?;
        Ok("Double authentification retirée.".into())
    })
    .await
}
