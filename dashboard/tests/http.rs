//! HTTP tests of every page and download, through the router as the server
//! mounts it, over a team store filled by a sync: a device records, then
//! syncs through the core's protocol (`testing::sync_device`).

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use carnet_core::Store;
use carnet_dashboard::testing::{
    DEMO_EMAIL, DEMO_PASSWORD, DemoFacts, StaticBackend, demo_records, sync_device,
};
use carnet_dashboard::{AccessLog, AccessLogStore, DashboardConfig, LapsedDevice};

mod common;
use common::*;

struct App {
    router: Router,
    facts: DemoFacts,
    dir: tempfile::TempDir,
    /// The demo device's store (its actor is in the registry as "Tablette d'Awa").
    device: Store,
}

/// The registry's name of the demo device (its documents say "awa").
const DEVICE_NAME: &str = "Tablette d'Awa";

fn app_built(
    config: impl FnOnce(DashboardConfig) -> DashboardConfig,
    backend: impl FnOnce(&mut StaticBackend),
    extra: impl FnOnce(&Store),
) -> App {
    let dir = tempfile::tempdir().unwrap();
    let device = Store::open_unencrypted(dir.path().join("device.db")).unwrap();
    let facts = demo_records(&device).unwrap();
    extra(&device);
    let team = Arc::new(Store::open_unencrypted(dir.path().join("team.db")).unwrap());
    let report = sync_device(&device, &team).unwrap();
    assert!(report.pushed > 0);
    let mut b = StaticBackend::single("team1", team, "Claire");
    b.names.insert(device.peer_id(), DEVICE_NAME.into());
    backend(&mut b);
    let config = config(DashboardConfig::new(dir.path().join("dash")));
    let router = carnet_dashboard::router(Arc::new(b), config).unwrap();
    App {
        router,
        facts,
        dir,
        device,
    }
}

fn app_with(secure: bool) -> App {
    app_built(
        |c| DashboardConfig {
            secure_cookies: secure,
            ..c
        },
        |_| {},
        |_| {},
    )
}

fn app() -> App {
    app_with(false)
}

async fn sign_in(app: &App) -> String {
    sign_in_as(app, DEMO_EMAIL).await
}

impl AsRef<Router> for App {
    fn as_ref(&self) -> &Router {
        &self.router
    }
}

#[tokio::test]
async fn sign_in_gives_a_strict_http_only_session_and_refuses_others() {
    let app = app();
    let r = get(&app, "/dashboard/degradations", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/dashboard/connexion");
    assert_eq!(
        get(&app, "/dashboard/degradations", Some("carnet_session=00"))
            .await
            .location(),
        "/dashboard/connexion"
    );

    // A wrong password (or a device token pasted as one) is refused, and
    // the page says device tokens no longer open the dashboard.
    let r = try_sign_in(&app, DEMO_EMAIL, "mediator-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.set_cookie("carnet_session").is_none());
    assert!(r.text().contains("incorrect"));
    assert!(r.text().contains("jeton d&#39;appareil") || r.text().contains("jeton d'appareil"));

    // A sign-in posted without the form's token (cross-site) is refused.
    let r = post(
        &app,
        "/dashboard/connexion",
        "",
        &format!(
            "csrf=x&email={}&password={}",
            enc(DEMO_EMAIL),
            enc(DEMO_PASSWORD)
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = try_sign_in(&app, DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/dashboard/degradations");
    let c = r.set_cookie("carnet_session").unwrap();
    assert!(
        c.contains("HttpOnly")
            && c.contains("SameSite=Strict")
            && c.contains("Path=/dashboard")
            && c.contains("Max-Age=28800"),
        "{c}"
    );
    assert!(!c.contains("Secure"));
    assert_eq!(cookie_value(&c).len(), "carnet_session=".len() + 64);

    let secure = app_with(true);
    let c = try_sign_in(&secure, DEMO_EMAIL, DEMO_PASSWORD)
        .await
        .set_cookie("carnet_session")
        .unwrap();
    assert!(c.contains("; Secure"), "{c}");
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_ends_the_session() {
    let app = app();
    let cookie = sign_in(&app).await;
    let page = get(&app, "/dashboard/degradations", Some(&cookie)).await;
    let csrf = hidden_csrf(&page.text());
    assert_eq!(
        post(&app, "/dashboard/deconnexion", &cookie, "csrf=forged")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/dashboard/degradations", Some(&cookie))
            .await
            .status,
        StatusCode::OK
    );
    let r = post(
        &app,
        "/dashboard/deconnexion",
        &cookie,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.set_cookie("carnet_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get(&app, "/dashboard/degradations", Some(&cookie))
            .await
            .location(),
        "/dashboard/connexion"
    );
}

fn assert_page(r: &Resp, wants: &[&str]) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let t = r.text();
    assert!(t.contains("<html lang=\"fr\">"));
    assert!(
        !t.contains("http://")
            || t.matches("http://")
                .all(|_| t.contains("xmlns=\"http://www.w3.org/2000/svg\"")),
        "no external resource"
    );
    assert!(!t.contains("<script"), "no script needed");
    for w in wants {
        assert!(t.contains(w), "page lacks {w:?}");
    }
    // Resident's personal data never shows on a dashboard page.
    assert!(!t.contains("Mme Exemple") && !t.contains("06 00 00 00 00"));
}

#[tokio::test]
async fn values_typed_on_a_phone_show_escaped_never_as_markup() {
    const SCRIPT: &str = "<script>alert(1)</script>";
    const PLACE: &str = "Hall \"A\" <img src=x onerror=alert(2)>";
    let mut report = None;
    let app = app_built(
        |c| c,
        |_| {},
        |device| {
            let fields = |v: serde_json::Value| v.as_object().unwrap().clone();
            report = Some(
                device
                    .create(
                        carnet_core::Kind::Report,
                        &fields(serde_json::json!({"sector": "conte-joliot", "category": "lighting", "place": PLACE, "text": SCRIPT, "axes": ["cadre-de-vie"]})),
                    )
                    .unwrap(),
            );
            device
                .create(
                    carnet_core::Kind::Activity,
                    &fields(serde_json::json!({"activity_type": "aller_vers", "sector": "conte-joliot", "place": SCRIPT, "met_known": 1, "met_new": 0, "referrals": 0, "partners": [PLACE], "axes": ["participation"]})),
                )
                .unwrap();
        },
    );
    let report = report.unwrap();
    let c = sign_in(&app).await;
    let c = Some(c.as_str());
    let script = "&lt;script&gt;alert(1)&lt;/script&gt;";
    let place = "Hall &quot;A&quot; &lt;img src=x onerror=alert(2)&gt;";
    for (path, wants) in [
        ("/dashboard/degradations".to_string(), vec![place]),
        (
            format!("/dashboard/signalements/{report}"),
            vec![place, script],
        ),
        ("/dashboard/activite".to_string(), vec![place, script]),
    ] {
        let r = get(&app, &path, c).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        // assert_page also checks that no `<script` made it to the page.
        assert_page(&r, &wants);
        let t = r.text();
        assert!(
            !t.contains("<img src=x") && !t.contains("\"A\""),
            "{path}: {t}"
        );
    }
}

#[tokio::test]
async fn every_page_renders_in_french_with_the_synced_records() {
    let app = app();
    let f = &app.facts;
    let c = sign_in(&app).await;
    let c = Some(c.as_str());
    assert_eq!(
        get(&app, "/dashboard/", c).await.location(),
        "/dashboard/degradations"
    );

    let r = get(&app, "/dashboard/degradations", c).await;
    assert_page(
        &r,
        &[
            "Dégradations ouvertes",
            "Tour 5, ascenseur",
            "Mur de l'école",
            "Ozanam + Albignac",
            "Ascenseur",
            "Transmis",
            "Ville — propreté",
            &format!("/dashboard/signalements/{}", f.open_report),
            "<svg",
        ],
    );
    assert!(
        !r.text().contains("Bât. B2"),
        "the resolved report is not open"
    );
    let r = get(&app, "/dashboard/degradations?secteur=ozanam-albignac", c).await;
    assert_page(&r, &["Tour 5, ascenseur"]);
    assert!(!r.text().contains("Mur de l'école"));

    let r = get(&app, "/dashboard/retards", c).await;
    assert_page(
        &r,
        &[
            "Dégradations en retard",
            "Délais par catégorie",
            "Ascenseur",
            "Aucun signalement.",
        ],
    );

    let r = get(
        &app,
        &format!("/dashboard/signalements/{}", f.resolved_report),
        c,
    )
    .await;
    assert_page(
        &r,
        &[
            "Éclairage",
            "Bât. B2, hall d'entrée",
            "Historique des statuts",
            "BX-12",
            "Bailleur social",
            "En cours",
            "Résolu",
            "Journal des modifications",
            "création",
            "Tablette d'Awa",
        ],
    );
    // The fields a change touched, by their French labels, never raw names.
    let page = r.text();
    assert!(page.contains("Secteur, "), "{page}");
    assert!(page.contains("Lieu"), "{page}");
    assert!(!page.contains("sector, "), "{page}");

    let r = get(&app, "/dashboard/delais", c).await;
    assert_page(
        &r,
        &[
            "Délais de résolution",
            "Par secteur",
            "La Conte + Joliot Curie",
            "Par organisme responsable",
            "Bailleur social",
            "Éclairage",
        ],
    );

    let r = get(&app, "/dashboard/activite", c).await;
    assert_page(
        &r,
        &[
            "Activité",
            "Sessions aller vers",
            "Square Fleming",
            "Participation citoyenne",
            "Grazailles + Fleming",
            "CAF",
            "Habitants rencontrés lors des sessions aller vers",
        ],
    );

    let r = get(&app, "/dashboard/rapport", c).await;
    assert_page(
        &r,
        &[
            "Rapport d'activité",
            "Synthèse",
            "Dégradations transmises aux services compétents",
            "Délai médian de résolution",
            "Télécharger (XLSX)",
            "@media print",
        ],
    );

    assert_page(
        &get(&app, "/dashboard/exports", c).await,
        &[
            "Exports du journal",
            "Export des contacts d'habitants",
            "journal.json",
        ],
    );
    assert_page(
        &get(&app, "/dashboard/exports/contacts", c).await,
        &["Données personnelles", "confirme"],
    );
    assert_page(
        &get(&app, "/dashboard/journal", c).await,
        &["Journal des accès", "fiche signalement"],
    );
}

#[tokio::test]
async fn bad_requests_get_french_error_pages() {
    let app = app();
    let c = sign_in(&app).await;
    let c = Some(c.as_str());
    assert_eq!(
        get(&app, "/dashboard/signalements/pas-un-id", c)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = get(
        &app,
        &format!("/dashboard/signalements/{}", carnet_core::RecordId::new()),
        c,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("Introuvable"));
    // A contact is not a report: its page does not exist here.
    assert_eq!(
        get(
            &app,
            &format!("/dashboard/signalements/{}", app.facts.contact),
            c
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/dashboard/delais?du=2025-13-01", c).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/dashboard/activite?du=2025-02-01&au=2025-01-01", c)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/dashboard/exports/journal.pdf", c).await.status,
        StatusCode::NOT_FOUND
    );
}

fn sheet(bytes: &[u8], name: &str) -> Vec<Vec<Data>> {
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.to_vec())).unwrap();
    wb.worksheet_range(name)
        .unwrap()
        .rows()
        .map(|r| r.to_vec())
        .collect()
}

/// The rows under a sheet's header row (the one that starts with `first`).
fn table<'a>(rows: &'a [Vec<Data>], first: &str) -> &'a [Vec<Data>] {
    let at = rows
        .iter()
        .position(|r| r[0] == Data::String(first.into()))
        .unwrap_or_else(|| panic!("no header row {first}"));
    &rows[at + 1..]
}

fn value(rows: &[Vec<Data>], label: &str) -> f64 {
    let row = rows
        .iter()
        .find(|r| r[0] == Data::String(label.into()))
        .unwrap_or_else(|| panic!("no row {label}"));
    match &row[1] {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        other => panic!("{label}: {other:?}"),
    }
}

#[tokio::test]
async fn the_funders_report_downloads_as_xlsx_and_csv_with_its_numbers() {
    let app = app();
    let f = &app.facts;
    let c = sign_in(&app).await;
    let r = get(&app, "/dashboard/rapport.xlsx", Some(&c)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("rapport-activite-")
    );
    let wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(r.body.clone())).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "Synthèse",
            "Axes de mission",
            "Secteurs",
            "Types d'activité",
            "Orientations",
            "Dégradations"
        ]
    );
    let s = sheet(&r.body, "Synthèse");
    assert_eq!(value(&s, "Activités menées"), f.activities as f64);
    assert_eq!(
        value(&s, "dont sessions « aller vers »"),
        f.aller_vers as f64
    );
    assert_eq!(value(&s, "dont déjà connus"), f.met_known as f64);
    assert_eq!(
        value(&s, "dont nouveaux (jusque-là inconnus)"),
        f.met_new as f64
    );
    assert_eq!(
        value(&s, "Habitants rencontrés lors des activités"),
        (f.met_known + f.met_new) as f64
    );
    assert_eq!(
        value(&s, "Habitants rencontrés lors des observations de terrain"),
        f.notes_met as f64
    );
    assert_eq!(
        value(&s, "Nouveaux contacts d'habitants"),
        f.new_contacts as f64
    );
    assert_eq!(
        value(&s, "Orientations vers des partenaires (activités)"),
        f.activity_referrals as f64
    );
    assert_eq!(
        value(&s, "Orientations vers des partenaires (suivis individuels)"),
        f.log_referrals as f64
    );
    assert_eq!(value(&s, "Dégradations signalées"), f.reported as f64);
    assert_eq!(
        value(&s, "Dégradations transmises aux services compétents"),
        f.forwarded as f64
    );
    assert_eq!(value(&s, "Dégradations résolues"), f.resolved as f64);
    assert_eq!(value(&s, "Délai médian de résolution (jours)"), 0.0);
    let axes = sheet(&r.body, "Axes de mission");
    assert_eq!(value(&axes, "Participation citoyenne"), 2.0);
    assert_eq!(value(&axes, "Accès aux droits et à la santé"), 1.0);
    let types = sheet(&r.body, "Types d'activité");
    assert_eq!(value(&types, "Aller vers"), 2.0);
    let orientations = sheet(&r.body, "Orientations");
    assert_eq!(
        table(&orientations, "Partenaire")[0][0],
        Data::String("CAF".into())
    );
    // Every sheet opens with what it covers, then its table.
    for name in wb.sheet_names() {
        let rows = sheet(&r.body, &name);
        let cover: Vec<String> = rows.iter().take(3).map(|r| r[0].to_string()).collect();
        assert!(
            cover[0].starts_with("Rapport d'activité — "),
            "{name}: {cover:?}"
        );
        assert!(cover[1].starts_with("Période : du "), "{name}: {cover:?}");
        assert_eq!(cover[2], "Programme : adultes-relais, contrat de ville");
    }
    let deg = sheet(&r.body, "Dégradations");
    assert_eq!(value(&deg, "Ensemble"), 3.0);
    let all_text: String = [
        "Synthèse",
        "Axes de mission",
        "Secteurs",
        "Types d'activité",
        "Orientations",
        "Dégradations",
    ]
    .iter()
    .flat_map(|n| sheet(&r.body, n))
    .flatten()
    .map(|d| d.to_string())
    .collect();
    assert!(
        !all_text.contains("Mme Exemple") && !all_text.contains("06 00"),
        "no personal data in the report"
    );

    let r = get(
        &app,
        "/dashboard/rapport.csv?du=2000-01-01&au=2100-12-31",
        Some(&c),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(t.starts_with('\u{feff}'));
    assert!(
        t.contains("Synthèse;Dégradations signalées;Valeur;3"),
        "{t}"
    );
    assert!(t.contains("Par type d'activité;Aller vers;Habitants nouveaux;6"));
    assert!(!t.contains("Mme Exemple"));

    // A period with nothing in it gives zeros, not an error.
    let r = get(
        &app,
        "/dashboard/rapport.xlsx?du=2001-01-01&au=2001-12-31",
        Some(&c),
    )
    .await;
    assert_eq!(
        value(&sheet(&r.body, "Synthèse"), "Dégradations signalées"),
        0.0
    );
}

#[tokio::test]
async fn log_exports_filter_and_never_carry_contacts() {
    let app = app();
    let c = sign_in(&app).await;
    let c = Some(c.as_str());
    let r = get(&app, "/dashboard/exports/journal.csv", c).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert_eq!(
        t.lines().count(),
        1 + 7,
        "3 reports, 3 activities, 1 note:\n{t}"
    );
    assert!(t.contains("Tour 5, ascenseur") && !t.contains("Mme Exemple") && !t.contains("06 00"));
    assert!(t.lines().next().unwrap().contains("Organisme responsable"));

    let r = get(
        &app,
        "/dashboard/exports/journal.json?type=report&secteur=ozanam-albignac",
        c,
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["place"], "Tour 5, ascenseur");
    assert!(items[0].get("contacts").is_none());

    let r = get(&app, "/dashboard/exports/journal.json", c).await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v.as_array().unwrap().iter().all(|i| i["kind"] != "contact"));

    let r = get(
        &app,
        "/dashboard/exports/journal.xlsx?type=activity&activite=aller_vers",
        c,
    )
    .await;
    let rows = sheet(&r.body, "Journal");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], Data::String("Identifiant".into()));

    assert_eq!(
        get(&app, "/dashboard/exports/journal.csv?type=contact", c)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = get(
        &app,
        "/dashboard/exports/journal.csv?du=2001-01-01&au=2001-01-31",
        c,
    )
    .await;
    assert_eq!(r.text().lines().count(), 1);
}

#[tokio::test]
async fn contacts_export_is_explicit_and_csrf_checked() {
    let app = app();
    let c = sign_in(&app).await;
    let form = get(&app, "/dashboard/exports/contacts", Some(&c)).await;
    let csrf = hidden_csrf(&form.text());
    assert_eq!(
        post(
            &app,
            "/dashboard/exports/contacts",
            &c,
            "csrf=bad&confirme=oui&format=csv"
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(
            &app,
            "/dashboard/exports/contacts",
            &c,
            &format!("csrf={csrf}&format=csv")
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    let r = post(
        &app,
        "/dashboard/exports/contacts",
        &c,
        &format!("csrf={csrf}&confirme=oui&format=csv"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("carnet-contacts-")
    );
    let t = r.text();
    assert!(t.contains("Mme Exemple") && t.contains("06 00 00 00 00") && t.contains("CAF"));
    let r = post(
        &app,
        "/dashboard/exports/contacts",
        &c,
        &format!("csrf={csrf}&confirme=oui&format=xlsx"),
    )
    .await;
    assert_eq!(
        sheet(&r.body, "Contacts")[1][1],
        Data::String("Mme Exemple".into())
    );
    let r = post(
        &app,
        "/dashboard/exports/contacts",
        &c,
        &format!("csrf={csrf}&confirme=oui&format=json&secteur=ozanam-albignac"),
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn reads_and_exports_are_in_the_access_log_by_id_only() {
    let app = app();
    let f = app.facts.clone();
    let c = sign_in(&app).await;
    get(
        &app,
        &format!("/dashboard/signalements/{}", f.resolved_report),
        Some(&c),
    )
    .await;
    get(&app, "/dashboard/degradations", Some(&c)).await;
    get(&app, "/dashboard/exports/journal.csv", Some(&c)).await;
    let form = get(&app, "/dashboard/exports/contacts", Some(&c)).await;
    let csrf = hidden_csrf(&form.text());
    post(
        &app,
        "/dashboard/exports/contacts",
        &c,
        &format!("csrf={csrf}&confirme=oui&format=csv"),
    )
    .await;
    get(&app, "/dashboard/rapport.xlsx", Some(&c)).await;

    let log = AccessLog::open(&app.dir.path().join("dash"), 365).unwrap();
    let entries = log.recent("team1", 50).unwrap();
    let find = |p: &str| {
        entries
            .iter()
            .find(|e| e.action.starts_with(p))
            .unwrap_or_else(|| panic!("no {p} in {entries:?}"))
    };
    assert_eq!(find("fiche signalement").record_ids, [f.resolved_report]);
    assert_eq!(find("page dégradations ouvertes").record_ids.len(), 2);
    assert_eq!(find("export journal CSV").record_ids.len(), 7);
    assert_eq!(find("export CONTACTS CSV").record_ids, [f.contact]);
    assert!(find("rapport financeurs XLSX").record_ids.is_empty());
    assert!(
        entries
            .iter()
            .all(|e| e.who() == "Claire [compte-claire]" && e.team_id == "team1")
    );
    assert!(
        entries
            .iter()
            .all(|e| !e.action.contains("Exemple") && !e.action.contains("Tour 5"))
    );
    assert!(
        entries.iter().all(|e| e.client == "unknown"),
        "no peer address in-process"
    );
    assert_eq!(
        log.purge_expired().unwrap(),
        Some(0),
        "entries just written are younger than the retention"
    );
}

async fn get_from(app: &App, path: &str, cookie: &str, from: &str) -> Resp {
    let req = Request::get(path)
        .header(header::COOKIE, cookie)
        .extension(ConnectInfo(from.parse::<SocketAddr>().unwrap()))
        .body(Body::empty())
        .unwrap();
    send(app, req).await
}

#[tokio::test]
async fn the_access_log_names_device_person_and_address_and_downloads_neutralised() {
    let app = app();
    let f = app.facts.clone();
    let c = sign_in(&app).await;
    let r = get_from(
        &app,
        &format!("/dashboard/signalements/{}", f.open_report),
        &c,
        "192.0.2.44:51000",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    let page = get(&app, "/dashboard/journal", Some(&c)).await;
    assert_page(
        &page,
        &[
            "Personne",
            "Appareil",
            "Adresse",
            "compte-claire",
            "192.0.2.44",
            "journal.csv",
        ],
    );

    let r = get(&app, "/dashboard/journal.csv", Some(&c)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("journal-des-acces")
    );
    let body = r.body.strip_prefix("\u{feff}".as_bytes()).expect("a BOM");
    let mut rd = csv::ReaderBuilder::new().delimiter(b';').from_reader(body);
    let headers = rd.headers().unwrap().clone();
    assert_eq!(&headers[0], "seq");
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let row = rows
        .iter()
        .find(|r| r[col("action")].starts_with("fiche signalement"))
        .unwrap();
    assert_eq!(&row[col("device_id")], "compte-claire");
    assert_eq!(&row[col("person")], "Claire");
    assert_eq!(&row[col("client")], "192.0.2.44");
    assert_eq!(&row[col("record_ids")], f.open_report.to_string());

    let r = get(&app, "/dashboard/journal.json", Some(&c)).await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["client"] == "192.0.2.44")
    );
    assert_eq!(
        get(&app, "/dashboard/journal.xls", Some(&c)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn dashboard_csv_downloads_neutralise_formulas_from_the_field() {
    let app = app_built(
        |c| c,
        |_| {},
        |device| {
            let fields = |v: serde_json::Value| v.as_object().unwrap().clone();
            device
                .create(
                    carnet_core::Kind::Note,
                    &fields(serde_json::json!({"sector": "conte-joliot", "place": "=1+1", "text": "+HYPERLINK(\"x\")"})),
                )
                .unwrap();
            device
                .create(
                    carnet_core::Kind::Contact,
                    &fields(serde_json::json!({"name": "@SUM(A1)", "consents": ["telephone", "orientation"], "phone": "-1+2", "sector": "conte-joliot"})),
                )
                .unwrap();
        },
    );
    let c = sign_in(&app).await;
    let r = get(&app, "/dashboard/exports/journal.csv?type=note", Some(&c)).await;
    assert_eq!(r.status, StatusCode::OK);
    let t = r.text();
    assert!(
        t.contains(";'=1+1;") && t.contains("\"'+HYPERLINK(\"\"x\"\")\""),
        "{t}"
    );
    assert!(!t.contains(";=1+1"), "{t}");

    let form = get(&app, "/dashboard/exports/contacts", Some(&c)).await;
    let csrf = hidden_csrf(&form.text());
    let r = post(
        &app,
        "/dashboard/exports/contacts",
        &c,
        &format!("csrf={csrf}&confirme=oui&format=csv"),
    )
    .await;
    let t = r.text();
    assert!(t.contains(";'@SUM(A1);") && t.contains(";'-1+2;"), "{t}");
}

#[tokio::test]
async fn authors_and_changes_are_named_by_the_registry_not_the_document() {
    let app = app();
    let f = app.facts.clone();
    let c = sign_in(&app).await;
    // Author, status events ("Par") and change log alike.
    let r = get(
        &app,
        &format!("/dashboard/signalements/{}", f.resolved_report),
        Some(&c),
    )
    .await;
    assert_page(&r, &["par Tablette d'Awa", "<td>Tablette d'Awa</td>"]);
    assert!(
        !r.text().contains("awa"),
        "the documents' own author id is never shown"
    );

    let r = get(&app, "/dashboard/exports/journal.csv?type=report", Some(&c)).await;
    let body = r.body.strip_prefix("\u{feff}".as_bytes()).unwrap().to_vec();
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(body.as_slice());
    let author = rd
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "Auteur")
        .unwrap();
    for row in rd.records() {
        assert_eq!(&row.unwrap()[author], DEVICE_NAME);
    }
    let r = get(
        &app,
        "/dashboard/exports/journal.json?type=report",
        Some(&c),
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|r| r["author"] == DEVICE_NAME)
    );

    // A device the registry does not know is named as unknown, whatever
    // its documents say.
    let stranger = app_built(|c| c, |b| b.names.clear(), |_| {});
    let c = sign_in(&stranger).await;
    let r = get(
        &stranger,
        &format!("/dashboard/signalements/{}", stranger.facts.open_report),
        Some(&c),
    )
    .await;
    let actor = stranger.device.peer_id();
    assert_page(&r, &[&format!("par appareil inconnu ({})", &actor[..8])]);
}

#[tokio::test]
async fn the_home_page_lists_devices_revoked_for_inactivity() {
    let app = app_built(
        |c| c,
        |b| {
            b.lapsed.push(LapsedDevice {
                device_id: "d-old".into(),
                name: "Téléphone de Karim".into(),
                last_seen: Some(1_700_000_000_000),
                revoked_at: 1_710_000_000_000,
            })
        },
        |_| {},
    );
    let c = sign_in(&app).await;
    let r = get(&app, "/dashboard/degradations", Some(&c)).await;
    assert_page(
        &r,
        &[
            "Appareils révoqués pour inactivité",
            "Téléphone de Karim",
            "vu pour la dernière fois le 14/11/2023",
        ],
    );
    let quiet = self::app();
    let c = sign_in(&quiet).await;
    assert!(
        !get(&quiet, "/dashboard/degradations", Some(&c))
            .await
            .text()
            .contains("inactivité")
    );
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address_with_a_french_429() {
    let app = app_built(|c| c, |b| b.max_failures = 3, |_| {});
    for _ in 0..3 {
        assert_eq!(
            try_sign_in(&app, DEMO_EMAIL, "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = try_sign_in(&app, DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.text().contains("trop de tentatives de connexion"),
        "{}",
        r.text()
    );
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(r.set_cookie("carnet_session").is_none());
    assert!(
        r.set_cookie("carnet_connexion").is_some(),
        "the form stays usable later"
    );
}

#[tokio::test]
async fn cookies_are_secure_unless_configured_otherwise() {
    let app = app_built(|c| c, |_| {}, |_| {});
    let r = try_sign_in(&app, DEMO_EMAIL, DEMO_PASSWORD).await;
    assert!(r.set_cookie("carnet_session").unwrap().contains("; Secure"));
}

/// Every storage call of the pages (the session check included) holds one of
/// the permits the server hands over: with them closed (a server shutting
/// down), a signed-in page and a sign-in both fail instead of reaching
/// SQLite, a page needing no storage still answers, and no permit leaks.
#[tokio::test]
async fn storage_calls_hold_the_servers_permits() {
    let permits = Arc::new(tokio::sync::Semaphore::new(3));
    let shared = permits.clone();
    let app = app_built(
        move |c| DashboardConfig {
            secure_cookies: false,
            storage_permits: shared,
            ..c
        },
        |_| {},
        |_| {},
    );
    let session = sign_in(&app).await;
    for page in [
        "/dashboard/degradations",
        "/dashboard/rapport",
        "/dashboard/journal",
    ] {
        assert_eq!(get(&app, page, Some(&session)).await.status, StatusCode::OK);
    }
    assert_eq!(
        permits.available_permits(),
        3,
        "every permit was given back"
    );

    permits.close();
    let r = get(&app, "/dashboard/degradations", Some(&session)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    let r = try_sign_in(&app, DEMO_EMAIL, DEMO_PASSWORD).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert!(r.set_cookie("carnet_session").is_none());
    let r = get(&app, "/dashboard/degradations", None).await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "no session: no storage needed"
    );
}

/// The value of the hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let at = format!("name=\"{name}\" value=\"");
    let i = html.find(&at).expect("the field") + at.len();
    html[i..].split('"').next().unwrap().to_string()
}

/// The team page invites a person (the link shown once), whose invitation
/// refuses a weak password with its reason and accepts a good one, which
/// then signs in; disabling the account ends its session at once.
#[tokio::test]
async fn a_supervisor_invites_a_person_who_sets_a_password_and_can_be_disabled() {
    let app = app();
    let c = sign_in(&app).await;
    let team = get(&app, "/dashboard/equipe", Some(&c)).await;
    assert_page(&team, &["Équipe : comptes superviseurs", "Claire"]);
    let csrf = hidden_csrf(&team.text());
    let r = post(
        &app,
        "/dashboard/equipe/inviter",
        &c,
        &format!("csrf={csrf}&name=Bruno&email=bruno%40exemple.fr"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let page = r.text();
    let at = page.find("/dashboard/invitation/").expect("the link, once");
    let link = page[at..].split('"').next().unwrap().to_string();
    assert!(
        !get(&app, "/dashboard/equipe", Some(&c))
            .await
            .text()
            .contains(&link)
    );

    let form = get(&app, &link, None).await;
    assert_eq!(form.status, StatusCode::OK);
    let pre = cookie_value(&form.set_cookie("carnet_connexion").unwrap());
    let html = form.text();
    let accept = |password: &str| {
        format!(
            "csrf={}&password={p}&confirm={p}&totp_secret={}&code=",
            hidden_csrf(&html),
            hidden(&html, "totp_secret"),
            p = enc(password)
        )
    };
    let r = post(&app, &link, &pre, &accept("password1234")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("trop facile à deviner"), "{}", r.text());
    let r = post(&app, &link, &pre, &accept(DEMO_PASSWORD)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let bruno = cookie_value(&r.set_cookie("carnet_session").unwrap());
    assert_eq!(
        get(&app, "/dashboard/compte", Some(&bruno)).await.status,
        StatusCode::OK
    );

    let team = get(&app, "/dashboard/equipe", Some(&c)).await.text();
    let at = team.find("/desactiver").expect("a disable button");
    let start = team[..at].rfind("/dashboard/equipe/comptes/").unwrap();
    let r = post(
        &app,
        &team[start..at + "/desactiver".len()],
        &c,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("Compte désactivé"));
    assert_eq!(
        get(&app, "/dashboard/degradations", Some(&bruno))
            .await
            .location(),
        "/dashboard/connexion"
    );
}
