//! Sign-in and sign-out with a supervisor's own account: e-mail and
//! password, then, when the account has a second factor, its TOTP code on a
//! second form (two plain forms, no JavaScript). Between the two, a short
//! pending session remembers whose code is awaited. Device tokens and
//! enrollment codes open nothing here (the page says so). Failed attempts
//! are throttled per client address and per account by the backend: past
//! its limit the form answers 429 with a French message. The first form is
//! protected against cross-site posting by a double-submit token (no
//! session exists yet); the second and sign-out by their session's token.
//! Every attempt, success or failure, and every sign-out is written to the
//! access log (who, from where, what; never a password or a code).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Form;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{AppState, Auth, Client, State, audit, blocking, cookie, html_response};
use crate::html::{bare_page, security_headers};
use crate::session::{COOKIE, PENDING_COOKIE, SIGNIN_COOKIE, random_token, same_secret};
use crate::{DashboardError, MOUNT, SignIn, Supervisor};

/// How long the TOTP step may wait after the password.
const PENDING_TTL: Duration = Duration::from_secs(5 * 60);

pub(crate) fn set_cookie(st: &AppState, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={MOUNT}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `/dashboard/`: the open dégradations, or the sign-in form when signed out.
pub async fn home() -> Redirect {
    Redirect::to(&format!("{MOUNT}/degradations"))
}

/// A refusal shown above a form.
pub(crate) fn alert(error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            p.warn role="alert" { (e) }
        }
    }
}

fn form_page(token: &str, email: &str, error: Option<&str>) -> String {
    let body = html! {
        h1 { "Connexion superviseur" }
        (alert(error))
        form method="post" action={ (MOUNT) "/connexion" } style="max-width:34rem" {
            input type="hidden" name="csrf" value=(token);
            p { label { "Adresse e-mail" br; input type="email" name="email" value=(email) autocomplete="username" required autofocus; } }
            p { label { "Mot de passe" br; input type="password" name="password" autocomplete="current-password" required; } }
            button.btn type="submit" { "Se connecter" }
        }
        p.muted {
            "Chaque superviseur a son propre compte : une invitation reçue d'un autre superviseur ou de la personne qui administre le serveur permet de choisir son mot de passe. "
            "Les jetons d'appareil et les codes d'inscription n'ouvrent plus le tableau de bord : si vous n'avez pas encore de compte, demandez une invitation. "
            "La session se ferme d'elle-même au bout de quelques heures."
        }
    };
    bare_page("Connexion", body).into_string()
}

fn with_signin_cookie(st: &AppState, status: StatusCode, body: String, token: &str) -> Response {
    let mut resp = (status, security_headers(), axum::response::Html(body)).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(st, SIGNIN_COOKIE, token, 1800),
    );
    resp
}

/// The sign-in form, with a fresh double-submit token in a cookie.
pub async fn form(axum::extract::State(st): State) -> Response {
    let token = random_token();
    with_signin_cookie(&st, StatusCode::OK, form_page(&token, "", None), &token)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// What a sign-in form led to.
enum Outcome {
    Signed(String),
    NeedsTotp(String),
    Refused,
}

/// Checks the e-mail and password; opens a session, or a pending one
/// awaiting the TOTP code.
pub async fn submit(
    axum::extract::State(st): State,
    Client(client): Client,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Result<Response, DashboardError> {
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(expected, &f.csrf) {
        return Err(DashboardError::BadRequest(
            "formulaire expiré ou envoyé d'ailleurs : rechargez la page de connexion".into(),
        ));
    }
    let email = f.email.trim().to_string();
    let st2: Arc<AppState> = st.clone();
    let from = client.clone();
    let outcome = blocking(&st.config.storage_permits, move || {
        if email.is_empty() || email.len() > 254 || f.password.len() > 1024 {
            return Ok(Outcome::Refused);
        }
        match st2.backend.sign_in(&email, &f.password, &from)? {
            SignIn::Signed(who) => {
                let (id, _) = st2.sessions.create(&who, st2.config.session_ttl)?;
                audit(&*st2.log, &who, &from, "connexion")?;
                Ok(Outcome::Signed(id))
            }
            SignIn::NeedsTotp(who) => {
                let (id, _) =
                    st2.sessions
                        .create_at(&who, PENDING_TTL, true, carnet_core::now_ms())?;
                audit(
                    &*st2.log,
                    &who,
                    &from,
                    "connexion : mot de passe accepté, code attendu",
                )?;
                Ok(Outcome::NeedsTotp(id))
            }
            SignIn::Refused(named) => {
                let who = named.unwrap_or_else(unknown_account);
                audit(&*st2.log, &who, &from, "connexion refusée")?;
                Ok(Outcome::Refused)
            }
        }
    })
    .await;
    let outcome = match outcome {
        Err(DashboardError::TooManyAttempts(secs)) => {
            let err = DashboardError::TooManyAttempts(secs);
            let token = random_token();
            let mut resp = with_signin_cookie(
                &st,
                StatusCode::TOO_MANY_REQUESTS,
                form_page(&token, "", Some(&err.to_string())),
                &token,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return Ok(resp);
        }
        other => other?,
    };
    match outcome {
        Outcome::Signed(id) => Ok(signed_in(&st, &id)),
        Outcome::NeedsTotp(id) => {
            let mut resp = Redirect::to(&format!("{MOUNT}/connexion/code")).into_response();
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&st, PENDING_COOKIE, &id, PENDING_TTL.as_secs()),
            );
            h.append(header::SET_COOKIE, set_cookie(&st, SIGNIN_COOKIE, "", 0));
            Ok(resp)
        }
        Outcome::Refused => {
            let token = random_token();
            Ok(with_signin_cookie(
                &st,
                StatusCode::UNAUTHORIZED,
                form_page(
                    &token,
                    f.email.trim(),
                    Some(
                        "Adresse e-mail ou mot de passe incorrect, ou compte désactivé. Un jeton d'appareil ou un code d'inscription n'ouvre pas le tableau de bord.",
                    ),
                ),
                &token,
            ))
        }
    }
}

/// Who the access log names for an attempt on an e-mail no account has.
fn unknown_account() -> Supervisor {
    Supervisor {
        team_id: String::new(),
        account_id: String::new(),
        name: "compte inconnu".into(),
        email: String::new(),
        actor: String::new(),
    }
}

/// The session cookie set, the sign-in cookies cleared, to the pages.
pub(crate) fn signed_in(st: &AppState, id: &str) -> Response {
    let mut resp = Redirect::to(&format!("{MOUNT}/degradations")).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(st, COOKIE, id, st.config.session_ttl.as_secs()),
    );
    h.append(header::SET_COOKIE, set_cookie(st, SIGNIN_COOKIE, "", 0));
    h.append(header::SET_COOKIE, set_cookie(st, PENDING_COOKIE, "", 0));
    resp
}

fn totp_page(csrf: &str, error: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Code de l'application d'authentification" }
        (alert(error))
        form method="post" action={ (MOUNT) "/connexion/code" } style="max-width:34rem" {
            input type="hidden" name="csrf" value=(csrf);
            p { label { "Code à 6 chiffres" br; input type="text" name="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required autofocus; } }
            button.btn type="submit" { "Valider" }
        }
        p.muted { "Ouvrez l'application d'authentification de votre téléphone et saisissez le code affiché pour Carnet. Chaque code ne sert qu'une fois." }
        p { a href={ (MOUNT) "/connexion" } { "Recommencer la connexion" } }
    };
    bare_page("Code de connexion", body)
}

/// The pending session behind the second form's cookie, if still live.
async fn pending(
    st: &Arc<AppState>,
    headers: &HeaderMap,
) -> Result<Option<(String, crate::session::Session)>, DashboardError> {
    let Some(id) = cookie(headers, PENDING_COOKIE).map(str::to_string) else {
        return Ok(None);
    };
    let st2 = st.clone();
    blocking(&st.config.storage_permits, move || {
        Ok(st2
            .sessions
            .get(&id)?
            .filter(|s| s.pending)
            .map(|s| (id, s)))
    })
    .await
}

/// The TOTP form, for a pending sign-in.
pub async fn totp_form(
    axum::extract::State(st): State,
    headers: HeaderMap,
) -> Result<Response, DashboardError> {
    match pending(&st, &headers).await? {
        Some((_, session)) => Ok(html_response(totp_page(&session.csrf, None))),
        None => Ok(Redirect::to(&format!("{MOUNT}/connexion")).into_response()),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// Checks the TOTP code of a pending sign-in; the pending session becomes
/// a full one.
pub async fn totp_submit(
    axum::extract::State(st): State,
    Client(client): Client,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Result<Response, DashboardError> {
    let Some((pending_id, session)) = pending(&st, &headers).await? else {
        return Ok(Redirect::to(&format!("{MOUNT}/connexion")).into_response());
    };
    if !same_secret(&f.csrf, &session.csrf) {
        return Err(DashboardError::BadRequest(
            "jeton de formulaire invalide : rechargez la page et recommencez".into(),
        ));
    }
    let st2 = st.clone();
    let csrf = session.csrf.clone();
    let opened = blocking(&st.config.storage_permits, move || {
        let who = session.supervisor;
        if !st2.backend.verify_totp(&who, &f.code, &client)? {
            audit(
                &*st2.log,
                &who,
                &client,
                "connexion refusée : code incorrect ou déjà utilisé",
            )?;
            return Ok(None);
        }
        st2.sessions.delete(&pending_id)?;
        let (id, _) = st2.sessions.create(&who, st2.config.session_ttl)?;
        audit(&*st2.log, &who, &client, "connexion (avec code)")?;
        Ok(Some(id))
    })
    .await;
    match opened {
        Ok(Some(id)) => Ok(signed_in(&st, &id)),
        Ok(None) => Ok((
            StatusCode::UNAUTHORIZED,
            security_headers(),
            axum::response::Html(totp_page(
                &csrf,
                Some("Code incorrect ou déjà utilisé : attendez le code suivant et saisissez-le."),
            )
            .into_string()),
        )
            .into_response()),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Ends the session and clears the cookie.
pub async fn sign_out(
    axum::extract::State(st): State,
    auth: Auth,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, DashboardError> {
    auth.check_csrf(&f.csrf)?;
    let st2 = st.clone();
    blocking(&st.config.storage_permits, move || {
        st2.sessions.delete(&auth.cookie_id)?;
        audit(
            &*st2.log,
            &auth.session.supervisor,
            &auth.client,
            "déconnexion",
        )
    })
    .await?;
    let mut resp = Redirect::to(&format!("{MOUNT}/connexion")).into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&st, COOKIE, "", 0));
    Ok(resp)
}
