//! Residents' rights on the dashboard, through the router as the server
//! mounts it, over a team store filled by a device's sync: the list and
//! its search, a resident's file, consents, rectification (and the core
//! refusing a change), the dossier downloads, and the erasure that first
//! redacts the resident's name from the team's texts — each step in the
//! access log by record id.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use carnet_core::model::Contact;
use carnet_core::sync::SyncOptions;
use carnet_core::sync::sim::Sim;
use carnet_core::{Kind, Record, RecordId, Store};
use carnet_dashboard::testing::{DEMO_EMAIL, DemoFacts, StaticBackend, demo_records, sync_device};
use carnet_dashboard::{AccessLog, AccessLogStore, DashboardConfig};
use serde_json::{Value, json};
mod common;
use common::*;

struct App {
    router: Router,
    facts: DemoFacts,
    dir: tempfile::TempDir,
    team: Arc<Store>,
    /// The mediator's phone that recorded everything.
    device: Store,
    /// "Éloïse Dupré": no consent to be called.
    eloise: RecordId,
    /// A note linked to her that names her ("eloise DUPRE est passée").
    note: RecordId,
    /// A report that names her without a link.
    report: RecordId,
}

fn fields(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let device = Store::open_unencrypted(dir.path().join("device.db")).unwrap();
    let facts = demo_records(&device).unwrap();
    let eloise = device
        .create(
            Kind::Contact,
            &fields(json!({"name": "Éloïse Dupré", "consents": ["suivi"], "sector": "conte-joliot", "household": "<b>2 enfants</b>"})),
        )
        .unwrap();
    let note = device
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "eloise DUPRE est passée à la permanence", "contacts": [eloise.to_string()]})),
        )
        .unwrap();
    let report = device
        .create(
            Kind::Report,
            &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Bât. C", "text": "Signalé par Mme Dupré, hall sombre"})),
        )
        .unwrap();
    let team = Arc::new(Store::open_unencrypted(dir.path().join("team.db")).unwrap());
    sync_device(&device, &team).unwrap();
    let b = StaticBackend::single("team1", team.clone(), "Claire");
    let router =
        carnet_dashboard::router(Arc::new(b), DashboardConfig::new(dir.path().join("dash")))
            .unwrap();
    App {
        router,
        facts,
        dir,
        team,
        device,
        eloise,
        note,
        report,
    }
}

impl AsRef<Router> for App {
    fn as_ref(&self) -> &Router {
        &self.router
    }
}

/// Signs in; returns the session cookie and the page's CSRF token.
async fn sign_in(app: &App) -> (String, String) {
    let c = sign_in_as(app, DEMO_EMAIL).await;
    let page = get(app, "/dashboard/habitants", Some(&c)).await;
    let csrf = hidden_csrf(&page.text());
    (c, csrf)
}

fn contact(app: &App, id: RecordId) -> Contact {
    match app.team.get(id).unwrap() {
        Record::Contact(c) => c,
        other => panic!("not a contact: {other:?}"),
    }
}

fn log_entries(app: &App) -> Vec<carnet_dashboard::AccessEntry> {
    AccessLog::open(&app.dir.path().join("dash"), 365)
        .unwrap()
        .recent("team1", 100)
        .unwrap()
}

#[tokio::test]
async fn the_list_searches_folded_names_and_the_file_shows_consents() {
    let app = app();
    let (c, _) = sign_in(&app).await;
    let all = get(&app, "/dashboard/habitants", Some(&c)).await;
    assert_eq!(all.status, StatusCode::OK);
    let t = all.text();
    assert!(
        t.contains("Éloïse Dupré") && t.contains("Mme Exemple"),
        "{t}"
    );
    assert!(
        t.contains("href=\"/dashboard/habitants\" class=\"on\">Habitants"),
        "{t}"
    );
    let found = get(&app, "/dashboard/habitants?nom=ELOISE", Some(&c)).await;
    let t = found.text();
    let list = &t[t.find("Toutes les fiches").unwrap()..];
    assert!(list.contains("Éloïse Dupré"), "{t}");
    assert!(!list.contains("Mme Exemple"), "{t}");

    let file = get(
        &app,
        &format!("/dashboard/habitants/{}", app.eloise),
        Some(&c),
    )
    .await;
    assert_eq!(file.status, StatusCode::OK);
    let t = file.text();
    assert!(t.contains("suivi individuel"), "{t}");
    assert!(t.contains("&lt;b&gt;2 enfants&lt;/b&gt;"), "escaped: {t}");
    assert!(
        t.contains("eloise DUPRE est passée"),
        "the linked note: {t}"
    );
    assert!(!t.contains("Signalé par Mme Dupré"), "not linked: {t}");
    let entries = log_entries(&app);
    let file_entry = entries
        .iter()
        .find(|e| e.action == "fiche habitant")
        .unwrap();
    assert_eq!(file_entry.record_ids, [app.eloise, app.note]);
    assert!(entries.iter().any(|e| e.action == "liste des habitants"));
    assert!(entries.iter().all(|e| !e.action.contains("Dupré")));
}

#[tokio::test]
async fn consents_rectification_and_refusals_go_through_the_core() {
    let app = app();
    let (c, csrf) = sign_in(&app).await;
    let exemple = app.facts.contact;
    let base = format!("/dashboard/habitants/{exemple}");

    // Withdrawing the consent to be called clears the phone.
    assert!(contact(&app, exemple).phone.is_some());
    let r = post(
        &app,
        &format!("{base}/consentement"),
        &c,
        &format!("csrf={csrf}&purpose=telephone&geste=retirer"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        r.header(header::LOCATION),
        format!("{base}?fait=consentement-retire")
    );
    let got = contact(&app, exemple);
    assert_eq!(got.phone, None);
    assert!(!got.has_consent(carnet_core::consent::Purpose::Telephone));
    let shown = get(&app, &format!("{base}?fait=consentement-retire"), Some(&c)).await;
    assert!(
        shown.text().contains("Consentement retiré"),
        "{}",
        shown.text()
    );

    // A phone without the consent is refused, in French, and nothing changes.
    let r = post(
        &app,
        &format!("{base}/rectifier"),
        &c,
        &format!("csrf={csrf}&field=phone&value=0611111111"),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("<html lang=\"fr\""), "{}", r.text());
    assert!(r.text().contains("contact par téléphone"), "{}", r.text());
    assert_eq!(contact(&app, exemple).phone, None);

    // Given again, then the phone is kept.
    let r = post(
        &app,
        &format!("{base}/consentement"),
        &c,
        &format!("csrf={csrf}&purpose=telephone&geste=donner"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = post(
        &app,
        &format!("{base}/rectifier"),
        &c,
        &format!("csrf={csrf}&field=phone&value=0611111111"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.header(header::LOCATION), format!("{base}?fait=rectifie"));
    assert_eq!(contact(&app, exemple).phone.as_deref(), Some("0611111111"));

    // Rectification of the address.
    let r = post(
        &app,
        &format!("{base}/rectifier"),
        &c,
        &format!(
            "csrf={csrf}&field=address&value={}",
            enc("12 rue des Lilas")
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        contact(&app, exemple).address.as_deref(),
        Some("12 rue des Lilas")
    );

    // Without the CSRF token: refused, nothing changed.
    let r = post(
        &app,
        &format!("{base}/rectifier"),
        &c,
        "field=address&value=ailleurs",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        contact(&app, exemple).address.as_deref(),
        Some("12 rue des Lilas")
    );

    // A retention extension, its reason in the access log.
    let r = post(
        &app,
        &format!("{base}/conservation"),
        &c,
        &format!(
            "csrf={csrf}&jusqu_au=2031-06-30&motif={}",
            enc("procédure en cours")
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(contact(&app, exemple).keep_until.is_some());
    let r = post(
        &app,
        &format!("{base}/conservation"),
        &c,
        &format!("csrf={csrf}&jusqu_au=2031-06-30&motif="),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let entries = log_entries(&app);
    for action in [
        "consentement retiré (telephone)",
        "consentement donné (telephone)",
        "rectification (phone)",
        "rectification (address)",
    ] {
        let e = entries
            .iter()
            .find(|e| e.action == action)
            .unwrap_or_else(|| panic!("{action}: {entries:?}"));
        assert_eq!(e.record_ids, [exemple]);
    }
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "rectification (phone)")
            .count(),
        1,
        "the refused one is logged as refused"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "rectification (phone) — refusé")
    );
    assert!(
        entries.iter().any(|e| e.action
            == "prolongation de conservation jusqu'au 30/06/2031 — motif : procédure en cours"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| !e.action.contains("0611111111") && !e.action.contains("Lilas"))
    );
}

#[tokio::test]
async fn the_dossier_downloads_as_json_and_as_an_escaped_french_page() {
    let app = app();
    let (c, _) = sign_in(&app).await;
    let base = format!("/dashboard/habitants/{}", app.eloise);
    let j = get(&app, &format!("{base}/dossier.json"), Some(&c)).await;
    assert_eq!(j.status, StatusCode::OK);
    assert!(
        j.header(header::CONTENT_DISPOSITION)
            .starts_with("attachment")
    );
    let v: Value = serde_json::from_slice(&j.body).unwrap();
    assert_eq!(v["contact"]["name"], "Éloïse Dupré");
    assert_eq!(v["contact"]["id"], app.eloise.to_string());
    let linked: Vec<&str> = v["linked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(linked, [app.note.to_string()]);
    assert_eq!(v["extracted_by"], "Claire");

    let h = get(&app, &format!("{base}/dossier.html"), Some(&c)).await;
    assert_eq!(h.status, StatusCode::OK);
    assert!(
        h.header(header::CONTENT_DISPOSITION)
            .starts_with("attachment")
    );
    let t = h.text();
    assert!(t.contains("<html lang=\"fr\">"), "{t}");
    assert!(
        t.contains("Dossier de Éloïse Dupré — données détenues par"),
        "{t}"
    );
    assert!(
        t.contains("&lt;b&gt;2 enfants&lt;/b&gt;") && !t.contains("<b>2 enfants"),
        "{t}"
    );
    assert!(t.contains("eloise DUPRE est passée"), "{t}");
    assert!(
        t.contains("Extrait le") && t.contains("par Claire") && t.contains("24 mois"),
        "{t}"
    );

    let entries = log_entries(&app);
    for action in ["dossier RGPD (accès) JSON", "dossier RGPD (accès) document"] {
        let e = entries.iter().find(|e| e.action == action).unwrap();
        assert_eq!(e.record_ids, [app.eloise, app.note]);
    }
}

#[tokio::test]
async fn erasure_redacts_the_name_from_ticked_texts_then_erases_the_contact() {
    let app = app();
    let (c, csrf) = sign_in(&app).await;
    let base = format!("/dashboard/habitants/{}/effacement", app.eloise);
    let page = get(&app, &base, Some(&c)).await;
    assert_eq!(page.status, StatusCode::OK);
    let t = page.text();
    for id in [app.note, app.report] {
        assert!(
            t.contains(&format!("name=\"caviarder\" value=\"{id}\" checked")),
            "{t}"
        );
    }
    assert!(t.contains("eloise DUPRE est passée"), "{t}");

    // Without the CSRF token nothing happens.
    let r = post(&app, &base, &c, &format!("caviarder={}", app.note)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(app.team.get(app.eloise).is_ok());

    // Only the note is ticked: the report keeps its text.
    let r = post(
        &app,
        &base,
        &c,
        &format!("csrf={csrf}&caviarder={}", app.note),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let t = r.text();
    assert!(
        t.contains("Fiche effacée") && t.contains("Nom remplacé dans 1 texte(s)"),
        "{t}"
    );
    assert!(app.team.get(app.eloise).is_err(), "the contact is gone");
    let text = |id| match app.team.get(id).unwrap() {
        Record::Note(n) => n.text,
        Record::Report(r) => r.text,
        _ => unreachable!(),
    };
    assert_eq!(text(app.note), "[nom effacé] est passée à la permanence");
    assert_eq!(text(app.report), "Signalé par Mme Dupré, hall sombre");

    let entries = log_entries(&app);
    let find = |a: &str| {
        entries
            .iter()
            .find(|e| e.action == a)
            .unwrap_or_else(|| panic!("{a}: {entries:?}"))
    };
    assert_eq!(
        find("caviardage du nom après effacement").record_ids,
        [app.note]
    );
    assert_eq!(
        find("effacement (droit à l'effacement)").record_ids,
        [app.eloise]
    );
    assert!(entries.iter().all(|e| !e.action.contains("Dupré")));

    // The file is gone for good.
    let r = get(
        &app,
        &format!("/dashboard/habitants/{}", app.eloise),
        Some(&c),
    )
    .await;
    assert_eq!(r.status, StatusCode::GONE);
}

#[tokio::test]
async fn a_conflict_on_the_file_gets_the_coordinators_form() {
    let app = app();
    let (c, csrf) = sign_in(&app).await;
    // A second phone takes the file, then both change the address offline
    // (one simulated network, so that the two phones are two devices).
    let other = Store::open_unencrypted(app.dir.path().join("other.db")).unwrap();
    let mut net = Sim::new(&app.team, 0, SyncOptions::default());
    let (first, second) = (net.enroll(&app.device), net.enroll(&other));
    net.sync(second).unwrap();
    app.device
        .set_field(app.eloise, "address", &json!("3 rue Haute"))
        .unwrap();
    other
        .set_field(app.eloise, "address", &json!("5 rue Basse"))
        .unwrap();
    net.sync(first).unwrap();
    net.sync(second).unwrap();

    let t = get(
        &app,
        &format!("/dashboard/habitants/{}", app.eloise),
        Some(&c),
    )
    .await
    .text();
    let at = t.find("Conflits à trancher").expect("a conflict section");
    let form = &t[at..];
    assert!(
        form.contains(&format!(
            "action=\"/dashboard/fiches/{}/conflit\"",
            app.eloise
        )),
        "{form}"
    );
    assert!(
        form.contains(&format!("name=\"csrf\" value=\"{csrf}\"")),
        "{form}"
    );
    assert!(form.contains("name=\"field\" value=\"address\""), "{form}");
    assert!(
        form.contains("name=\"choix\" value=\"0\"") && form.contains("name=\"choix\" value=\"1\""),
        "{form}"
    );
    assert!(
        form.contains("3 rue Haute") && form.contains("5 rue Basse"),
        "{form}"
    );
    assert!(
        form.contains("name=\"valeur\"") && form.contains("Trancher"),
        "{form}"
    );
}
