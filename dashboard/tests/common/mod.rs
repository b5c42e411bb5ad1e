//! Shared by the dashboard's HTTP tests: requests through the router as the
//! server mounts it, answers read whole, and the sign-in form of the seeded
//! accounts (password [`DEMO_PASSWORD`]).
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use carnet_dashboard::testing::DEMO_PASSWORD;
use tower::ServiceExt;

/// An answer, read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn location(&self) -> &str {
        self.header(header::LOCATION)
    }
    /// The whole `Set-Cookie` header of cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }
}

/// `name=value` of cookie `name` the answer sets, to send back.
pub fn set_cookie(r: &Resp, name: &str) -> String {
    cookie_value(&r.set_cookie(name).expect("cookie"))
}

/// `name=value` of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

pub async fn send(app: &impl AsRef<Router>, req: Request<Body>) -> Resp {
    let resp = app.as_ref().clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(app: &impl AsRef<Router>, path: &str, cookie: Option<&str>) -> Resp {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    send(app, b.body(Body::empty()).unwrap()).await
}

pub async fn post(app: &impl AsRef<Router>, path: &str, cookie: &str, form: &str) -> Resp {
    let req = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    send(app, req).await
}

/// The CSRF token of the first form of a page.
pub fn hidden_csrf(html: &str) -> String {
    let i =
        html.find("name=\"csrf\" value=\"").expect("a csrf field") + "name=\"csrf\" value=\"".len();
    html[i..i + 64].to_string()
}

/// A form value, percent-encoded.
pub fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Posts the sign-in form for `email` with `password`; the answer.
pub async fn try_sign_in(app: &impl AsRef<Router>, email: &str, password: &str) -> Resp {
    let form = get(app, "/dashboard/connexion", None).await;
    assert_eq!(form.status, StatusCode::OK);
    let pre = set_cookie(&form, "carnet_connexion");
    let csrf = hidden_csrf(&form.text());
    post(
        app,
        "/dashboard/connexion",
        &pre,
        &format!(
            "csrf={csrf}&email={}&password={}",
            enc(email),
            enc(password)
        ),
    )
    .await
}

/// Signs in the seeded account of `email`; the session cookie.
pub async fn sign_in_as(app: &impl AsRef<Router>, email: &str) -> String {
    let r = try_sign_in(app, email, DEMO_PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    set_cookie(&r, "carnet_session")
}
