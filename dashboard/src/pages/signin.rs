//! Sign-in and sign-out. A supervisor pastes their device token or an
//! unused supervisor enrollment code; the server says who that is (a
//! mediator's code is refused and stays usable by the phone it was meant
//! for). Failed attempts are throttled per client address by the backend:
//! past its limit the form answers 429 with a French message. The sign-in
//! form is protected against cross-site posting by a double-submit token
//! (no session exists yet); sign-out by the session's CSRF token.

use std::sync::Arc;

use axum::extract::Form;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppState, Auth, Client, State, blocking, cookie, html_response};
use crate::html::{PreEscaped, bare_page_str as bare_page, esc, security_headers};
use crate::session::{COOKIE, SIGNIN_COOKIE, random_token, same_secret};
use crate::{DashboardError, MOUNT};

fn set_cookie(st: &AppState, name: &str, value: &str, max_age: u64) -> HeaderValue {
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

fn form_page(token: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!("<p class=\"warn\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    bare_page(
        "Connexion",
        &format!(
            "<h1>Connexion superviseur</h1>{err}<form method=\"post\" action=\"{MOUNT}/connexion\" class=\"filters\" style=\"max-width:34rem\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label style=\"flex:1\">Jeton d'appareil superviseur ou code d'inscription superviseur\
             <input type=\"password\" name=\"credential\" autocomplete=\"off\" required autofocus></label>\
             <button class=\"btn\" type=\"submit\">Se connecter</button></form>\
             <p class=\"muted\">Les jetons et codes des médiateurs n'ouvrent pas le tableau de bord (un code de médiateur saisi ici reste valable pour son téléphone). La session se ferme d'elle-même au bout de quelques heures.</p>",
            esc(token)
        ),
    )
}

/// The sign-in form, with a fresh double-submit token in a cookie.
pub async fn form(axum::extract::State(st): State) -> Response {
    let token = random_token();
    let mut resp = html_response(PreEscaped(form_page(&token, None)));
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&st, SIGNIN_COOKIE, &token, 1800),
    );
    resp
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    credential: String,
}

/// Exchanges the credential for a session cookie.
pub async fn submit(
    axum::extract::State(st): State,
    Client(client): Client,
    headers: HeaderMap,
    Form(f): Form<SignIn>,
) -> Result<Response, DashboardError> {
    let expected = cookie(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(expected, &f.csrf) {
        return Err(DashboardError::BadRequest(
            "formulaire expiré ou envoyé d'ailleurs : rechargez la page de connexion".into(),
        ));
    }
    let credential = f.credential.trim().to_string();
    let st2: Arc<AppState> = st.clone();
    let who = blocking(&st.config.storage_permits, move || {
        if credential.is_empty() || credential.len() > 512 {
            return Ok(None);
        }
        match st2.backend.sign_in(&credential, &client)? {
            Some(who) => Ok(Some((
                st2.sessions.create(&who, st2.config.session_ttl)?.0,
                who,
            ))),
            None => Ok(None),
        }
    })
    .await;
    let who = match who {
        Err(DashboardError::TooManyAttempts(secs)) => {
            let err = DashboardError::TooManyAttempts(secs);
            let token = random_token();
            let body = form_page(&token, Some(&err.to_string()));
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                security_headers(),
                axum::response::Html(body),
            )
                .into_response();
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            h.append(
                header::SET_COOKIE,
                set_cookie(&st, SIGNIN_COOKIE, &token, 1800),
            );
            return Ok(resp);
        }
        other => other?,
    };
    match who {
        Some((id, who)) => {
            tracing::info!(team = %who.team_id, device = %who.device_id, "supervisor signed in to the dashboard");
            let mut resp = Redirect::to(&format!("{MOUNT}/degradations")).into_response();
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&st, COOKIE, &id, st.config.session_ttl.as_secs()),
            );
            h.append(header::SET_COOKIE, set_cookie(&st, SIGNIN_COOKIE, "", 0));
            Ok(resp)
        }
        None => {
            let token = random_token();
            let body = form_page(
                &token,
                Some(
                    "Jeton ou code refusé : inconnu, révoqué, déjà utilisé, ou ce n'est pas celui d'un superviseur.",
                ),
            );
            let mut resp = (
                StatusCode::UNAUTHORIZED,
                security_headers(),
                axum::response::Html(body),
            )
                .into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&st, SIGNIN_COOKIE, &token, 1800),
            );
            Ok(resp)
        }
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
        st2.sessions.delete(&auth.cookie_id)
    })
    .await?;
    let mut resp = Redirect::to(&format!("{MOUNT}/connexion")).into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&st, COOKIE, "", 0));
    Ok(resp)
}
