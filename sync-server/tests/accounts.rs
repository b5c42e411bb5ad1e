//! Supervisors' own accounts, end to end on the real server over loopback:
//! the operator's commands (the binary itself), the invitation page and its
//! password rules, sign-in with a TOTP step, codes used once, a team that
//! requires a second factor, password change, disabling, reset, device
//! credentials refused, CSRF on every form, the throttle per address and
//! per account, and the access log naming each step.

mod common;

use carnet_dashboard::AccessLogStore;
use common::browser::*;
use common::*;

const STRONG: &str = "tulipe orage quarante vélo";
const STRONGER: &str = "marée haute sur le pont neuf";
const NEWEST: &str = "girafe violette au marché du soir";

#[test]
fn an_account_from_invitation_to_reset() {
    let data = tempfile::tempdir().unwrap();
    let (team, sup_code) = team(data.path(), "t");
    let server = TestServer::start_with(
        carnet_server::Config {
            data_dir: data.path().to_path_buf(),
            insecure_cookies: true,
            // This test fails on purpose more than the default ten times.
            code_failures: 50,
            ..carnet_server::Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    let b = Browser::new(&server);
    let d = data.path().to_str().unwrap();

    // The operator invites Awa; the page greets her by name.
    let invite = user_add(&server, &team, "Awa Diallo", "Awa@Exemple.fr");
    assert!(invite.starts_with("/dashboard/invitation/"), "{invite}");
    let (page, _) = b.invitation(&invite);
    assert!(page.contains("Awa Diallo") && page.contains("awa@exemple.fr"));
    assert!(page.contains("otpauth://totp/") && page.contains("<svg"));

    // Weak passwords are refused with their French reason.
    let r = b.accept(&invite, "court", false);
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().unwrap().contains("trop court"));
    let r = b.accept(&invite, "password1234", false);
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().unwrap().contains("trop facile à deviner"));

    // A good one signs her in; the link is spent.
    let r = b.accept(&invite, STRONG, false);
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().unwrap_or_default());
    let s1 = format!("carnet_session={}", cookie(&r, "carnet_session").unwrap());
    assert_eq!(b.status("/dashboard/degradations", &s1), 200);
    assert_eq!(b.get(&invite, "").status().as_u16(), 404);
    let listed = cli(&["user", "list", "--team", &team, "--data", d, "--json"]);
    assert!(
        listed.contains("\"active\":true") && listed.contains("Awa Diallo"),
        "{listed}"
    );

    // A device token or an enrollment code opens nothing.
    let phone = enroll(&server, &team, "supervisor", "bureau");
    for secret in [phone.token(), sup_code.as_str()] {
        assert_eq!(b.sign_in(secret, secret).status().as_u16(), 401);
        assert_eq!(b.sign_in("awa@exemple.fr", secret).status().as_u16(), 401);
    }

    // A password change needs the current one, follows the rules, and ends
    // the account's other sessions.
    let s2 = b.session("awa@exemple.fr", STRONG);
    let csrf = b.csrf(&s1);
    let change = |current: &str, new: &str| {
        b.post(
            "/dashboard/compte/mot-de-passe",
            &s1,
            &[
                ("csrf", &csrf),
                ("current", current),
                ("password", new),
                ("confirm", new),
            ],
        )
    };
    let r = change("pas le bon", STRONGER);
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().unwrap().contains("Mot de passe actuel incorrect"));
    assert_eq!(change(STRONG, "awa@exemple.fr").status().as_u16(), 422);
    let r = change(STRONG, STRONGER);
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().unwrap().contains("Mot de passe changé"));
    assert_eq!(b.status("/dashboard/degradations", &s2), 303);
    assert_eq!(b.status("/dashboard/degradations", &s1), 200);
    assert_eq!(b.sign_in("awa@exemple.fr", STRONG).status().as_u16(), 401);

    // Sign-out.
    let csrf = b.csrf(&s1);
    let r = b.post("/dashboard/deconnexion", &s1, &[("csrf", &csrf)]);
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(b.status("/dashboard/degradations", &s1), 303);

    // TOTP enrolment, confirmed by a code (which is then spent).
    let s3 = b.session("awa@exemple.fr", STRONGER);
    let page = b.get("/dashboard/compte", &s3).text().unwrap();
    let secret = field(&page, "totp_secret");
    let first = code(&secret, 0);
    let csrf = field(&page, "csrf");
    let r = b.post(
        "/dashboard/compte/double-authentification",
        &s3,
        &[
            ("csrf", &csrf),
            ("totp_secret", &secret),
            ("code", "000000"),
        ],
    );
    assert_eq!(r.status().as_u16(), 422);
    let r = b.post(
        "/dashboard/compte/double-authentification",
        &s3,
        &[("csrf", &csrf), ("totp_secret", &secret), ("code", &first)],
    );
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.text()
            .unwrap()
            .contains("Double authentification activée")
    );

    // Now the password alone opens a pending step only.
    let r = b.sign_in("awa@exemple.fr", STRONGER);
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/dashboard/connexion/code");
    assert!(cookie(&r, "carnet_session").is_none());
    let pending = format!(
        "carnet_second_facteur={}",
        cookie(&r, "carnet_second_facteur").unwrap()
    );
    let as_session = pending.replace("carnet_second_facteur", "carnet_session");
    assert_eq!(b.status("/dashboard/degradations", &as_session), 303);
    let form = b.get("/dashboard/connexion/code", &pending).text().unwrap();
    let pcsrf = field(&form, "csrf");
    // The code already used at enrolment is refused (a replay); the next one works.
    let r = b.post(
        "/dashboard/connexion/code",
        &pending,
        &[("csrf", &pcsrf), ("code", &first)],
    );
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().unwrap().contains("déjà utilisé"));
    let next = code(&secret, 1);
    let r = b.post(
        "/dashboard/connexion/code",
        &pending,
        &[("csrf", &pcsrf), ("code", &next)],
    );
    assert_eq!(r.status().as_u16(), 303);
    let s4 = format!("carnet_session={}", cookie(&r, "carnet_session").unwrap());
    assert_eq!(b.status("/dashboard/degradations", &s4), 200);
    // The same code a second time: refused.
    let r = b.sign_in("awa@exemple.fr", STRONGER);
    let pending = format!(
        "carnet_second_facteur={}",
        cookie(&r, "carnet_second_facteur").unwrap()
    );
    let pcsrf = field(
        &b.get("/dashboard/connexion/code", &pending).text().unwrap(),
        "csrf",
    );
    let r = b.post(
        "/dashboard/connexion/code",
        &pending,
        &[("csrf", &pcsrf), ("code", &next)],
    );
    assert_eq!(r.status().as_u16(), 401);

    // The team requires a second factor (the command); Awa invites Bruno
    // from the team page, whose invitation then enrols one.
    cli(&["team", "require-totp", "--team", &team, "on", "--data", d]);
    let csrf = b.csrf(&s4);
    let r = b.post(
        "/dashboard/equipe/inviter",
        &s4,
        &[
            ("csrf", &csrf),
            ("name", "Bruno"),
            ("email", "bruno@exemple.fr"),
        ],
    );
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().unwrap();
    let at = page.find("/dashboard/invitation/").expect("the link, once");
    let bruno_invite = page[at..].split('"').next().unwrap().to_string();
    let (page, _) = b.invitation(&bruno_invite);
    assert!(page.contains("Votre équipe l&#39;exige") || page.contains("Votre équipe l'exige"));
    let r = b.accept(&bruno_invite, STRONG, false);
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.text()
            .unwrap()
            .contains("exige une double authentification")
    );
    let r = b.accept(&bruno_invite, STRONG, true);
    assert_eq!(r.status().as_u16(), 303);
    let bruno = format!("carnet_session={}", cookie(&r, "carnet_session").unwrap());
    assert_eq!(b.status("/dashboard/equipe", &bruno), 200);

    // Disabling Bruno (the command) ends his open session at its next request.
    cli(&[
        "user",
        "disable",
        "--team",
        &team,
        "--email",
        "bruno@exemple.fr",
        "--data",
        d,
    ]);
    assert_eq!(b.status("/dashboard/degradations", &bruno), 303);
    assert_eq!(b.sign_in("bruno@exemple.fr", STRONG).status().as_u16(), 401);

    // A reset invitation: the new password works, the old one does not.
    let out = cli(&[
        "user",
        "invite",
        "--team",
        &team,
        "--email",
        "awa@exemple.fr",
        "--data",
        d,
        "--public-url",
        &server.url(),
        "--json",
    ]);
    let url = serde_json::from_str::<serde_json::Value>(&out).unwrap()["invitation_url"]
        .as_str()
        .unwrap()
        .to_string();
    let reset = url.strip_prefix(&server.url()).unwrap().to_string();
    let r = b.accept(&reset, NEWEST, true);
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        b.status("/dashboard/degradations", &s4),
        303,
        "a reset ends old sessions"
    );
    assert_eq!(b.sign_in("awa@exemple.fr", STRONGER).status().as_u16(), 401);
    let r = b.sign_in("awa@exemple.fr", NEWEST);
    assert_eq!(r.headers()["location"], "/dashboard/connexion/code");

    // The access log names each step, and no secret.
    let log = carnet_dashboard::AccessLog::open(data.path(), 365).unwrap();
    let entries = log.entries(&team).unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for wanted in [
        "invitation émise (nouveau compte)",
        "invitation acceptée : mot de passe choisi",
        "connexion",
        "connexion refusée",
        "changement de mot de passe refusé",
        "mot de passe changé",
        "déconnexion",
        "double authentification activée",
        "connexion : mot de passe accepté, code attendu",
        "connexion refusée : code incorrect ou déjà utilisé",
        "connexion (avec code)",
        "double authentification exigée pour l'équipe",
        "compte désactivé",
        "invitation émise (réinitialisation)",
    ] {
        assert!(
            actions.iter().any(|a| a.starts_with(wanted)),
            "{wanted} not in {actions:?}"
        );
    }
    let all = format!("{entries:?}");
    for secret in [STRONG, STRONGER, NEWEST, &first, &next, &secret] {
        assert!(!all.contains(secret), "a secret in the access log");
    }
    assert!(
        entries
            .iter()
            .all(|e| e.client == "127.0.0.1" || e.client == "local")
    );
}

#[test]
fn every_form_refuses_a_post_without_its_csrf_token() {
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "t");
    let id = account_in(data.path(), &team, "Awa", "awa@exemple.fr");
    let server = TestServer::start(data.path());
    let b = Browser::new(&server);
    let session = b.session("awa@exemple.fr", PASSWORD);
    for path in [
        "/dashboard/deconnexion".to_string(),
        "/dashboard/compte/mot-de-passe".into(),
        "/dashboard/compte/double-authentification".into(),
        "/dashboard/compte/double-authentification/retirer".into(),
        "/dashboard/equipe/inviter".into(),
        "/dashboard/equipe/double-authentification".into(),
        format!("/dashboard/equipe/comptes/{id}/reinviter"),
        format!("/dashboard/equipe/comptes/{id}/desactiver"),
    ] {
        for csrf in ["", "0000"] {
            let r = b.post(
                &path,
                &session,
                &[
                    ("csrf", csrf),
                    ("current", PASSWORD),
                    ("password", "x"),
                    ("confirm", "x"),
                    ("name", "X"),
                    ("email", "x@exemple.fr"),
                    ("on", "oui"),
                ],
            );
            assert_eq!(
                r.status().as_u16(),
                400,
                "{path} took a post without its token"
            );
        }
    }
    // The session's token from another page does not open the forms that
    // have no session: sign-in, its code step, an invitation.
    let invite = user_add(&server, &team, "Bruno", "bruno@exemple.fr");
    for path in ["/dashboard/connexion", invite.as_str()] {
        let r = b.post(
            path,
            "",
            &[
                ("csrf", ""),
                ("email", "awa@exemple.fr"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        );
        assert_eq!(r.status().as_u16(), 400, "{path}");
    }
    let r = b.post(
        "/dashboard/connexion/code",
        "",
        &[("csrf", ""), ("code", "123456")],
    );
    assert_eq!(
        r.status().as_u16(),
        303,
        "no pending sign-in: back to the form"
    );
    // Nothing changed: the session still works, the invitation too.
    assert_eq!(b.status("/dashboard/degradations", &session), 200);
    assert_eq!(b.get(&invite, "").status().as_u16(), 200);
}

#[test]
fn wrong_passwords_are_throttled_per_address_and_per_account() {
    let data = tempfile::tempdir().unwrap();
    let (team, _) = team(data.path(), "t");
    account_in(data.path(), &team, "Awa", "awa@exemple.fr");
    account_in(data.path(), &team, "Bruno", "bruno@exemple.fr");
    let server = TestServer::start_with(
        carnet_server::Config {
            data_dir: data.path().to_path_buf(),
            code_failures: 3,
            trusted_proxy: true,
            ..carnet_server::Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    );
    let b = Browser::new(&server);
    // Three addresses each try Awa's account once: her account is at its limit.
    for addr in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let r = b.sign_in_from("awa@exemple.fr", "mauvais", Some(addr));
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = b.sign_in_from("awa@exemple.fr", PASSWORD, Some("192.0.2.4"));
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().unwrap().contains("trop de tentatives"));
    // Bruno, from a fresh address, is not held by Awa's failures.
    let r = b.sign_in_from("bruno@exemple.fr", PASSWORD, Some("192.0.2.5"));
    assert_eq!(r.status().as_u16(), 303);
    // One address failing on several accounts is held too.
    for email in ["x@exemple.fr", "y@exemple.fr", "z@exemple.fr"] {
        let r = b.sign_in_from(email, "mauvais", Some("198.51.100.7"));
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = b.sign_in_from("bruno@exemple.fr", PASSWORD, Some("198.51.100.7"));
    assert_eq!(r.status().as_u16(), 429);
    // The refusals are in the log, with their addresses.
    let log = carnet_dashboard::AccessLog::open(data.path(), 365).unwrap();
    let refused = log
        .entries(&team)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "connexion refusée")
        .count();
    assert_eq!(refused, 3);
}
