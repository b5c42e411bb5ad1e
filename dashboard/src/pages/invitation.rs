//! `/dashboard/invitation/{token}`: a person invited by another supervisor
//! or by the operator (`carnet-server user add` / `user invite`) chooses a
//! password and, when their team requires it or they wish, enrols a TOTP
//! second factor confirmed by a first code. Accepting signs them in. The
//! link works once, for seven days; a reset is a new invitation. No
//! session exists yet: the form carries a double-submit token.

use axum::extract::{Form, Path};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{PreEscaped, html};
use serde::Deserialize;

use super::signin::{alert, set_cookie, signed_in};
use super::{Client, State, audit, blocking, cookie};
use crate::accounts::{MAX_PASSWORD, MIN_PASSWORD, TotpSetup, new_totp, totp_setup};
use crate::html::{bare_page, security_headers};
use crate::session::{SIGNIN_COOKIE, random_token, same_secret};
use crate::{DashboardError, InvitationInfo, MOUNT};

/// The password rules as the forms state them.
pub(crate) fn password_rules() -> String {
    format!(
        "De {MIN_PASSWORD} à {MAX_PASSWORD} caractères, difficile à deviner : ni mot courant, ni suite de touches, ni votre nom, votre adresse ou « carnet ». Une phrase de quelques mots sans rapport entre eux convient bien."
    )
}

/// The enrolment block: the secret to scan or type, and the first code.
pub(crate) fn totp_block(setup: &TotpSetup, required: bool) -> maud::Markup {
    html! {
        fieldset {
            legend { "Double authentification (application TOTP)" }
            @if required {
                p { "Votre équipe l'exige : enregistrez Carnet dans une application d'authentification (FreeOTP, Aegis, Google Authenticator…), puis saisissez le code qu'elle affiche." }
            } @else {
                p { "Facultative : pour l'activer, enregistrez Carnet dans une application d'authentification, puis saisissez le code qu'elle affiche. Laissez le code vide pour ne pas l'activer." }
            }
            div { (PreEscaped(&setup.qr_svg)) }
            p { "Clé à saisir à la main : " code { (setup.secret) } }
            p.muted { "Lien pour l'application : " code { (setup.uri) } }
            input type="hidden" name="totp_secret" value=(setup.secret);
            p { label { "Code à 6 chiffres" br; input type="text" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required[required]; } }
        }
    }
}

fn page(
    token: &str,
    csrf: &str,
    info: &InvitationInfo,
    setup: &TotpSetup,
    error: Option<&str>,
) -> String {
    let body = html! {
        h1 { "Bienvenue, " (info.name) }
        p { "Choisissez le mot de passe de votre compte superviseur. Vous vous connecterez avec l'adresse " strong { (info.email) } "." }
        (alert(error))
        form method="post" action={ (MOUNT) "/invitation/" (token) } style="max-width:40rem" {
            input type="hidden" name="csrf" value=(csrf);
            p.muted { (password_rules()) }
            p { label { "Mot de passe" br; input type="password" name="password" autocomplete="new-password" minlength=(MIN_PASSWORD) maxlength=(MAX_PASSWORD) required autofocus; } }
            p { label { "Le même, une seconde fois" br; input type="password" name="confirm" autocomplete="new-password" required; } }
            (totp_block(setup, info.totp_required))
            p { button.btn type="submit" { "Enregistrer et me connecter" } }
        }
    };
    bare_page("Invitation", body).into_string()
}

fn gone() -> DashboardError {
    DashboardError::NotFound(
        "cette invitation ne fonctionne plus (déjà utilisée, expirée, remplacée par une plus récente, ou compte désactivé) : demandez-en une nouvelle".into(),
    )
}

fn respond(st: &super::AppState, status: StatusCode, body: String, csrf: &str) -> Response {
    use axum::response::IntoResponse;
    let mut resp = (status, security_headers(), axum::response::Html(body)).into_response();
    resp.headers_mut().append(
        axum::http::header::SET_COOKIE,
        set_cookie(st, SIGNIN_COOKIE, csrf, 1800),
    );
    resp
}

/// The invitation's form, if it still works.
pub async fn form(
    axum::extract::State(st): State,
    Path(token): Path<String>,
) -> Result<Response, DashboardError> {
    let st2 = st.clone();
    let t = token.clone();
    let info = blocking(&st.config.storage_permits, move || {
        st2.backend.invitation(&t)
    })
    .await?
    .ok_or_else(gone)?;
    let setup = new_totp(&info.email)?;
    let csrf = random_token();
    Ok(respond(
        &st,
        StatusCode::OK,
        page(&token, &csrf, &info, &setup, None),
        &csrf,
    ))
}

#[derive(Deserialize)]
pub struct Accept {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    totp_secret: String,
    #[serde(default)]
    code: String,
}

/// Sets the password (and the second factor), spends the invitation and
/// signs the person in; or shows the form again with the reason.
pub async fn submit(
    axum::extract::State(st): State,
    Client(client): Client,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(f): Form<Accept>,
) -> Result<Response, DashboardError> {
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(expected, &f.csrf) {
        return Err(DashboardError::BadRequest(
            "formulaire expiré ou envoyé d'ailleurs : rouvrez le lien d'invitation".into(),
        ));
    }
    let st2 = st.clone();
    let t = token.clone();
    let result = blocking(&st.config.storage_permits, move || {
        let info = st2.backend.invitation(&t)?.ok_or_else(gone)?;
        let secret = f.totp_secret.trim().to_string();
        let code = f.code.trim().to_string();
        let outcome = if f.password != f.confirm {
            Err(DashboardError::Refused(
                "Les deux mots de passe saisis diffèrent : saisissez le même deux fois.".into(),
            ))
        } else {
            let totp = (!code.is_empty()).then_some((secret.as_str(), code.as_str()));
            st2.backend
                .accept_invitation(&t, &f.password, totp, &client)
        };
        match outcome {
            Ok(who) => {
                audit(
                    &*st2.log,
                    &who,
                    &client,
                    "invitation acceptée : mot de passe choisi",
                )?;
                if !code.is_empty() {
                    audit(&*st2.log, &who, &client, "double authentification activée")?;
                }
                let (id, _) = st2.sessions.create(&who, st2.config.session_ttl)?;
                Ok(Ok(id))
            }
            Err(DashboardError::Refused(reason)) => {
                let setup = match totp_setup(&secret, &info.email) {
                    Ok(s) if !secret.is_empty() => s,
                    _ => new_totp(&info.email)?,
                };
                Ok(Err((info, setup, reason)))
            }
            Err(e) => Err(e),
        }
    })
    .await?;
    match result {
        Ok(id) => Ok(signed_in(&st, &id)),
        Err((info, setup, reason)) => {
            let csrf = random_token();
            Ok(respond(
                &st,
                StatusCode::UNPROCESSABLE_ENTITY,
                page(&token, &csrf, &info, &setup, Some(&reason)),
                &csrf,
            ))
        }
    }
}
