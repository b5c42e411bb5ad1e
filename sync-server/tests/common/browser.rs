//! A browser for the dashboard's tests on the real server: no cookie jar
//! and no redirects (cookies are sent by hand, answers read as they come),
//! the operator's command line, and the TOTP codes an authenticator app
//! would show.

use std::process::Command;

use reqwest::blocking::{Client, Response};
use totp_rs::{Algorithm, Secret, TOTP};

use super::TestServer;

/// Runs `carnet-server` with `args`; its standard output, or the test fails
/// with its error.
pub fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_carnet-server"))
        .args(args)
        .env_remove("CARNET_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "carnet-server {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `user add --json` for a team of `server`; the invitation's path.
pub fn user_add(server: &TestServer, team: &str, name: &str, email: &str) -> String {
    let data = server.data.to_str().unwrap();
    let out = cli(&[
        "user",
        "add",
        "--team",
        team,
        "--name",
        name,
        "--email",
        email,
        "--data",
        data,
        "--public-url",
        &server.url(),
        "--json",
    ]);
    let url = serde_json::from_str::<serde_json::Value>(&out).unwrap()["invitation_url"]
        .as_str()
        .unwrap()
        .to_string();
    url.strip_prefix(&server.url())
        .expect("under the public URL")
        .to_string()
}

/// A browser without cookie jar nor redirects: cookies are sent by hand.
pub struct Browser {
    client: Client,
    base: String,
}

pub fn cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .filter(|c| !c.is_empty())
}

/// The value of the hidden field `name` in a page.
pub fn field(html: &str, name: &str) -> String {
    let at = format!("name=\"{name}\" value=\"");
    let i = html
        .find(&at)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + at.len();
    html[i..].split('"').next().unwrap().to_string()
}

/// The code an authenticator app shows for `secret`, `steps` steps from now.
pub fn code(secret: &str, steps: i64) -> String {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, "x".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + steps * 30) as u64)
}

impl Browser {
    pub fn new(server: &TestServer) -> Browser {
        Browser {
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: server.url(),
        }
    }

    pub fn get(&self, path: &str, cookies: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("cookie", cookies)
            .send()
            .unwrap()
    }

    pub fn post(&self, path: &str, cookies: &str, form: &[(&str, &str)]) -> Response {
        self.post_from(path, cookies, form, None)
    }

    pub fn post_from(
        &self,
        path: &str,
        cookies: &str,
        form: &[(&str, &str)],
        from: Option<&str>,
    ) -> Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", cookies)
            .form(form);
        if let Some(addr) = from {
            req = req.header("x-forwarded-for", addr);
        }
        req.send().unwrap()
    }

    /// The invitation page: its HTML and the double-submit cookie.
    pub fn invitation(&self, path: &str) -> (String, String) {
        let r = self.get(path, "");
        assert_eq!(r.status().as_u16(), 200);
        let pre = format!(
            "carnet_connexion={}",
            cookie(&r, "carnet_connexion").unwrap()
        );
        (r.text().unwrap(), pre)
    }

    /// Accepts an invitation; the answer.
    pub fn accept(&self, path: &str, password: &str, with_code: bool) -> Response {
        let (page, pre) = self.invitation(path);
        let secret = field(&page, "totp_secret");
        let code = if with_code {
            code(&secret, 0)
        } else {
            String::new()
        };
        self.post(
            path,
            &pre,
            &[
                ("csrf", &field(&page, "csrf")),
                ("password", password),
                ("confirm", password),
                ("totp_secret", &secret),
                ("code", &code),
            ],
        )
    }

    /// Posts the sign-in form; the answer.
    pub fn sign_in_from(&self, email: &str, password: &str, from: Option<&str>) -> Response {
        let form = self.get("/dashboard/connexion", "");
        let csrf = cookie(&form, "carnet_connexion").unwrap();
        self.post_from(
            "/dashboard/connexion",
            &format!("carnet_connexion={csrf}"),
            &[("csrf", &csrf), ("email", email), ("password", password)],
            from,
        )
    }

    pub fn sign_in(&self, email: &str, password: &str) -> Response {
        self.sign_in_from(email, password, None)
    }

    /// Signs in without a second factor; the session cookie.
    pub fn session(&self, email: &str, password: &str) -> String {
        let r = self.sign_in(email, password);
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(r.headers()["location"], "/dashboard/degradations");
        format!("carnet_session={}", cookie(&r, "carnet_session").unwrap())
    }

    /// A page's status for `session`.
    pub fn status(&self, path: &str, session: &str) -> u16 {
        self.get(path, session).status().as_u16()
    }

    /// The CSRF token of a signed-in page.
    pub fn csrf(&self, session: &str) -> String {
        field(
            &self.get("/dashboard/compte", session).text().unwrap(),
            "csrf",
        )
    }
}
