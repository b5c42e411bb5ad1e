//! A report's photos on the dashboard and the fiche de signalement (PDF),
//! through the router as the server mounts it: two teams, each with its
//! supervisor. Mediators' devices attach photos to reports
//! (`Store::attach_photo`) and sync the records to their team's store; the
//! photos' blobs are then put in the backend as the server's blob store
//! would hold them once uploaded (some not yet).

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use carnet_core::photo::{PhotoHash, PhotoRef, Variant};
use carnet_core::{Kind, RecordId, Store};
use carnet_dashboard::testing::{DEMO_EMAIL, DemoFacts, StaticBackend, demo_records, sync_device};
use carnet_dashboard::{AccessLog, AccessLogStore, DashboardConfig};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use serde_json::json;
mod common;
use common::*;

/// A camera's photo, different for every `seed`: 400×300 pixels, or
/// 300×400 for seeds divisible by 3 (larger than a thumbnail, so the
/// device makes a smaller one).
fn camera_jpeg(seed: u8) -> Vec<u8> {
    let (w, h) = if seed.is_multiple_of(3) {
        (300, 400)
    } else {
        (400, 300)
    };
    let img = RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x / 2) as u8, (y / 2) as u8, seed.wrapping_mul(50)])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img)
        .unwrap();
    out
}

const CONTACT: &str = "Régie de quartiers du Carcassonnais — pôle médiation\n12 rue de l'Aude, 11000 Carcassonne · 04 68 00 00 00";

struct App {
    router: Router,
    backend: Arc<StaticBackend>,
    facts: DemoFacts,
    dir: tempfile::TempDir,
    /// Team 1's mediator's device (the demo week).
    device: Store,
    /// Team 2's report.
    other_report: RecordId,
}

/// Team 1 ("team1", supervisor "sup1"): the demo week, with the photos
/// `attach` adds on its device. Team 2 ("team2", "sup2"): one graffiti
/// report, with the photos `attach2` adds on its device. Both synced; no
/// photo blob uploaded yet.
fn app(attach: impl FnOnce(&Store, &DemoFacts), attach2: impl FnOnce(&Store, RecordId)) -> App {
    let dir = tempfile::tempdir().unwrap();
    let device = Store::open_unencrypted(dir.path().join("device1.db")).unwrap();
    let facts = demo_records(&device).unwrap();
    attach(&device, &facts);
    let store1 = Arc::new(Store::open_unencrypted(dir.path().join("team1.db")).unwrap());
    sync_device(&device, &store1).unwrap();

    let device2 = Store::open_unencrypted(dir.path().join("device2.db")).unwrap();
    let fields = json!({"sector": "grazailles-fleming", "category": "graffiti", "place": "Préau", "text": "Tags"});
    let other_report = device2
        .create(Kind::Report, fields.as_object().unwrap())
        .unwrap();
    attach2(&device2, other_report);
    let store2 = Arc::new(Store::open_unencrypted(dir.path().join("team2.db")).unwrap());
    sync_device(&device2, &store2).unwrap();

    let mut backend = StaticBackend::single("team1", store1, "Claire");
    backend.stores.insert("team2".into(), store2);
    backend.add_supervisor("team2", "Bruno", BRUNO);
    let backend = Arc::new(backend);
    let mut config = DashboardConfig::new(dir.path().join("dash"));
    config.secure_cookies = false;
    config.team_contacts.insert("team1".into(), CONTACT.into());
    let router = carnet_dashboard::router(backend.clone(), config).unwrap();
    App {
        router,
        backend,
        facts,
        dir,
        device,
        other_report,
    }
}

/// Attaches a photo per seed to `id` on `device`.
fn attach(device: &Store, id: RecordId, seeds: impl IntoIterator<Item = u8>) {
    for s in seeds {
        device.attach_photo(id, &camera_jpeg(s)).unwrap();
    }
}

impl App {
    /// The server receives one of team 1's blobs from the device.
    fn upload(&self, photo: &PhotoRef, variant: Variant) -> Vec<u8> {
        let bytes = self.device.photo(photo.hash, variant).unwrap();
        self.backend.put_blob("team1", &bytes);
        bytes
    }

    /// Team 1's photo references on `id`, in the order pages show them:
    /// oldest first, then by hash (attached the same millisecond).
    fn photos(&self, id: RecordId) -> Vec<PhotoRef> {
        let mut refs: Vec<PhotoRef> = self
            .device
            .photos(id)
            .unwrap()
            .into_iter()
            .map(|i| i.photo)
            .collect();
        refs.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.hash.cmp(&b.hash)));
        refs
    }
}

/// The second team's supervisor's e-mail.
const BRUNO: &str = "bruno@exemple.fr";

impl AsRef<Router> for App {
    fn as_ref(&self) -> &Router {
        &self.router
    }
}

fn photo_url(id: RecordId, blob: &PhotoHash) -> String {
    format!("/dashboard/signalements/{id}/photos/{blob}")
}

/// The reference the fiche gives `id` (last 8 hex digits of its id).
fn reference(id: RecordId) -> String {
    let hex = id.to_string().replace('-', "").to_uppercase();
    format!("SIG-{}-{}", &hex[24..28], &hex[28..32])
}

/// An image XObject of the fiche, as a PDF reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Image {
    width: i64,
    height: i64,
    color_space: String,
    filters: Vec<String>,
}

/// The fiche's text and images, read back with a PDF reader.
fn pdf(body: &[u8]) -> (String, Vec<Image>) {
    let doc = lopdf::Document::load_mem(body).expect("a PDF lopdf reads");
    let pages = doc.get_pages();
    assert_eq!(pages.len(), 1, "the fiche is one page");
    let text = doc.extract_text(&[1]).unwrap();
    let page = *pages.get(&1).unwrap();
    let images = doc
        .get_page_images(page)
        .unwrap()
        .into_iter()
        .map(|i| Image {
            width: i.width,
            height: i.height,
            color_space: i.color_space.unwrap_or_default(),
            filters: i.filters.unwrap_or_default(),
        })
        .collect();
    (text, images)
}

#[tokio::test]
async fn thumbnails_link_to_full_photos_for_the_team_s_signed_in_supervisor_only() {
    let app = app(|d, f| attach(d, f.open_report, [1, 2, 3]), |_, _| {});
    let id = app.facts.open_report;
    let photos = app.photos(id);
    let [first, second, missing] = &photos[..] else {
        panic!("three photos")
    };
    for p in [first, second] {
        app.upload(p, Variant::Thumb);
        app.upload(p, Variant::Full);
    }
    let page = format!("/dashboard/signalements/{id}");

    // Signed out: the page, the photos and the fiche send to the sign-in form.
    for path in [
        page.clone(),
        photo_url(id, &first.thumb),
        photo_url(id, &first.hash),
        format!("{page}/fiche.pdf"),
    ] {
        let r = get(&app, &path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.header(header::LOCATION), "/dashboard/connexion");
        assert!(r.body.is_empty());
    }

    let c = sign_in_as(&app, DEMO_EMAIL).await;
    let html = get(&app, &page, Some(&c)).await.text();
    assert!(html.contains("Photos (3)"), "{html}");
    let link = |p: &PhotoRef| {
        format!(
            "<a href=\"{}\" title=\"Voir la photo",
            photo_url(id, &p.hash)
        )
    };
    let img = |p: &PhotoRef| format!("<img src=\"{}\"", photo_url(id, &p.thumb));
    let (a1, a2) = (
        html.find(&link(first)).unwrap(),
        html.find(&link(second)).unwrap(),
    );
    assert!(a1 < a2, "oldest first");
    assert!(
        html[a1..].find(&img(first)).unwrap() < 200,
        "the thumbnail is the link"
    );
    assert!(html.contains(&img(second)));
    assert!(
        !html.contains(&missing.thumb.to_hex()),
        "no image for a photo not received"
    );
    assert_eq!(html.matches("photo pas encore reçue").count(), 1);
    assert!(html.contains(&format!("href=\"{page}/fiche.pdf\"")));
    assert!(html.contains(&reference(id)));

    for variant in [Variant::Thumb, Variant::Full] {
        let (blob, _) = first.blob(variant);
        let r = get(&app, &photo_url(id, &blob), Some(&c)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, app.device.photo(first.hash, variant).unwrap());
        assert_eq!(r.header(header::CONTENT_TYPE), "image/jpeg");
        assert_eq!(r.header(header::CACHE_CONTROL), "private, no-store");
        assert_eq!(r.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    }

    // Not uploaded yet: a French page says so.
    let r = get(&app, &photo_url(id, &missing.hash), Some(&c)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("photo pas encore reçue"));
    // Once its thumbnail arrives, the page shows it.
    app.upload(missing, Variant::Thumb);
    let html = get(&app, &page, Some(&c)).await.text();
    assert!(html.contains(&img(missing)));
    assert!(!html.contains("photo pas encore reçue"));

    // Opening a full photo is logged (a thumbnail rides on the page's entry).
    let log = AccessLog::open(&app.dir.path().join("dash"), 365).unwrap();
    let photo_reads: Vec<_> = log
        .entries("team1")
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "photo de signalement")
        .collect();
    assert_eq!(photo_reads.len(), 1);
    assert_eq!(photo_reads[0].record_ids, vec![id]);
}

#[tokio::test]
async fn no_photo_nor_fiche_opens_to_another_team_nor_under_another_record() {
    // Team 2's device attaches the very same photo as team 1's: same hashes.
    let app = app(
        |d, f| {
            attach(d, f.open_report, [2]);
            attach(d, f.resolved_report, [4]);
        },
        |d, id| attach(d, id, [2]),
    );
    let id = app.facts.open_report;
    let p = app.photos(id).remove(0);
    let other = app.photos(app.facts.resolved_report).remove(0);
    for photo in [&p, &other] {
        app.upload(photo, Variant::Thumb);
        app.upload(photo, Variant::Full);
    }

    let c2 = sign_in_as(&app, BRUNO).await;
    for path in [
        photo_url(id, &p.thumb),
        photo_url(id, &p.hash),
        format!("/dashboard/signalements/{id}/fiche.pdf"),
        format!("/dashboard/signalements/{id}"),
    ] {
        let r = get(&app, &path, Some(&c2)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_ne!(r.header(header::CONTENT_TYPE), "image/jpeg", "{path}");
    }
    // Team 2's own report names the same hash, but team 2's device has not
    // uploaded it: team 1's copy is never served to team 2.
    let r = get(&app, &photo_url(app.other_report, &p.hash), Some(&c2)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.text().contains("pas encore reçue"),
        "team 2 holds no such blob"
    );
    let html = get(
        &app,
        &format!("/dashboard/signalements/{}", app.other_report),
        Some(&c2),
    )
    .await
    .text();
    assert!(html.contains("photo pas encore reçue"));

    let c1 = sign_in_as(&app, DEMO_EMAIL).await;
    for (path, why) in [
        (photo_url(id, &other.hash), "another record's photo"),
        (photo_url(id, &other.thumb), "another record's thumbnail"),
        (photo_url(id, &PhotoHash::of(b"x")), "no photo's hash"),
        (
            format!("/dashboard/signalements/{id}/photos/zz"),
            "not a hash",
        ),
        (photo_url(app.facts.contact, &p.hash), "a contact's id"),
        (photo_url(app.other_report, &p.hash), "team 2's record"),
    ] {
        let r = get(&app, &path, Some(&c1)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{why}");
        assert_ne!(r.header(header::CONTENT_TYPE), "image/jpeg", "{why}");
    }
    let r = get(&app, &photo_url(id, &p.hash), Some(&c1)).await;
    assert_eq!(r.status, StatusCode::OK);
    let contact_fiche = format!("/dashboard/signalements/{}/fiche.pdf", app.facts.contact);
    assert_eq!(
        get(&app, &contact_fiche, Some(&c1)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_fiche_is_one_french_page_with_the_report_and_its_photos() {
    let app = app(|d, f| attach(d, f.open_report, [1, 2, 3]), |_, _| {});
    let id = app.facts.open_report;
    let photos = app.photos(id);
    // Two of three uploaded.
    let fulls: Vec<Vec<u8>> = photos[..2]
        .iter()
        .map(|p| app.upload(p, Variant::Full))
        .collect();
    let c = sign_in_as(&app, DEMO_EMAIL).await;
    let r = get(
        &app,
        &format!("/dashboard/signalements/{id}/fiche.pdf"),
        Some(&c),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header(header::CONTENT_TYPE), "application/pdf");
    assert_eq!(
        r.header(header::CONTENT_DISPOSITION),
        format!(
            "attachment; filename=\"fiche-signalement-{}.pdf\"",
            reference(id)
        )
    );
    assert_eq!(r.header(header::CACHE_CONTROL), "no-store");

    let (text, images) = pdf(&r.body);
    for expected in [
        "Fiche de signalement",
        "Régie de quartiers du Carcassonnais",
        "12 rue de l'Aude, 11000 Carcassonne",
        &reference(id),
        "Ascenseur",
        "Tour 5, ascenseur",
        "Ascenseur bloqué au 3e",
        "Ozanam + Albignac",
        "OUI — danger pour les personnes",
        "Signalé",
        "(pas encore transmis)",
        "1 photo pas encore reçue par le serveur",
        "Fiche éditée le",
        "par Claire",
        &id.to_string(),
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    // One image per photo received, at its size, its JPEG bytes as stored.
    let mut expected: Vec<Image> = photos[..2]
        .iter()
        .map(|p| Image {
            width: i64::from(p.width),
            height: i64::from(p.height),
            color_space: "DeviceRGB".into(),
            filters: vec!["DCTDecode".into()],
        })
        .collect();
    expected.sort();
    let mut images = images;
    images.sort();
    assert_eq!(images, expected);
    for full in &fulls {
        assert!(r.body.windows(full.len()).any(|w| w == &full[..]));
    }

    let log = AccessLog::open(&app.dir.path().join("dash"), 365).unwrap();
    let entries = log.entries("team1").unwrap();
    let last = entries.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.record_ids.as_slice()),
        ("fiche de signalement (PDF)", &[id][..])
    );
}

#[tokio::test]
async fn a_fiche_without_photos_or_with_too_many_still_fits_one_page() {
    let app = app(|d, f| attach(d, f.open_report, 1..=9), |_, _| {});
    for p in app.photos(app.facts.open_report) {
        app.upload(&p, Variant::Full);
    }
    let c = sign_in_as(&app, DEMO_EMAIL).await;

    // The fixed lighting report: no photo, forwarded with the body's reference.
    let id = app.facts.resolved_report;
    let r = get(
        &app,
        &format!("/dashboard/signalements/{id}/fiche.pdf"),
        Some(&c),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let (text, images) = pdf(&r.body);
    assert!(images.is_empty());
    for expected in [
        "Éclairage",
        "Bât. B2, hall d'entrée",
        "Éclairage du hall en panne",
        "La Conte",
        "Résolu",
        "Bailleur social, le",
        "(votre référence : BX-12)",
        "Aucune photo n'est jointe à ce signalement.",
        &reference(id),
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }

    // Nine photos: as many as fit, the rest said.
    let id = app.facts.open_report;
    let r = get(
        &app,
        &format!("/dashboard/signalements/{id}/fiche.pdf"),
        Some(&c),
    )
    .await;
    let (text, images) = pdf(&r.body);
    assert_eq!(images.len(), 6);
    assert!(
        text.contains("3 autres photos non reproduites faute de place"),
        "{text}"
    );
}
