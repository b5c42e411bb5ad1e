//! A report's photos on the dashboard and the fiche de signalement (PDF),
//! through the router as the server mounts it: two teams, each with its
//! supervisor; the photos' blobs held by the backend as the server's blob
//! store would, some not uploaded yet.
//!
//! The records come from a device synced to the team's store; their photo
//! references are laid over them by `Team` below (a record's document
//! gains them through the core's `attach_photo`, built apart): the pages
//! read records only through `TeamReads`, so this is all they see.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, StatusCode, header};
use carnet_core::photo::{PhotoHash, PhotoRef};
use carnet_core::store::{ActivityRow, Count, Fix, GroupBy, OpenRow, Page, Query, RecordDetails};
use carnet_core::{Kind, Record, RecordId, Store, TeamConfig};
use carnet_dashboard::testing::{DemoFacts, StaticBackend, demo_records, sync_device};
use carnet_dashboard::{
    AccessLog, AccessLogStore, Backend, DashboardConfig, DashboardError, LapsedDevice, Supervisor,
    TeamReads,
};
use image::codecs::jpeg::JpegEncoder;
use image::{GrayImage, Luma, Rgb, RgbImage};
use serde_json::json;
use tower::ServiceExt;

/// A team's store with photo references laid over some of its records.
struct Team {
    store: Arc<Store>,
    photos: HashMap<RecordId, Vec<PhotoRef>>,
}

impl Team {
    fn dress(&self, mut r: Record) -> Record {
        let id = match &r {
            Record::Report(x) => x.header.id,
            Record::Note(x) => x.header.id,
            Record::Contact(x) => x.header.id,
            Record::Activity(x) => x.header.id,
        };
        if let (Some(p), Record::Report(x)) = (self.photos.get(&id), &mut r) {
            x.photos = p.clone();
        }
        r
    }
}

impl TeamReads for Team {
    fn config(&self) -> Result<TeamConfig, DashboardError> {
        TeamReads::config(&*self.store)
    }
    fn log_head(&self) -> Result<u64, DashboardError> {
        TeamReads::log_head(&*self.store)
    }
    fn list(&self, q: &Query) -> Result<Page, DashboardError> {
        TeamReads::list(&*self.store, q)
    }
    fn count(&self, q: &Query, by: GroupBy) -> Result<Vec<Count>, DashboardError> {
        TeamReads::count(&*self.store, q, by)
    }
    fn open_rows(&self) -> Result<Vec<OpenRow>, DashboardError> {
        TeamReads::open_rows(&*self.store)
    }
    fn get(&self, id: RecordId) -> Result<Record, DashboardError> {
        Ok(self.dress(TeamReads::get(&*self.store, id)?))
    }
    fn details(&self, id: RecordId) -> Result<RecordDetails, DashboardError> {
        let mut d = TeamReads::details(&*self.store, id)?;
        d.record = self.dress(d.record);
        Ok(d)
    }
    fn activity_rows(&self, since: i64, until: i64) -> Result<Vec<ActivityRow>, DashboardError> {
        TeamReads::activity_rows(&*self.store, since, until)
    }
    fn fixes(&self, since: i64, until: i64) -> Result<Vec<Fix>, DashboardError> {
        TeamReads::fixes(&*self.store, since, until)
    }
    fn forwarded_count(&self, since: i64, until: i64) -> Result<u64, DashboardError> {
        TeamReads::forwarded_count(&*self.store, since, until)
    }
    fn residents_met_on_notes(&self, since: i64, until: i64) -> Result<u64, DashboardError> {
        TeamReads::residents_met_on_notes(&*self.store, since, until)
    }
    fn referrals_by_partner(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, u64)>, DashboardError> {
        TeamReads::referrals_by_partner(&*self.store, since, until)
    }
    fn axes_by_kind(
        &self,
        since: i64,
        until: i64,
    ) -> Result<BTreeMap<(String, String), u64>, DashboardError> {
        TeamReads::axes_by_kind(&*self.store, since, until)
    }
}

/// The testing backend (credentials, blobs) with the teams above.
struct Server {
    inner: Arc<StaticBackend>,
    teams: HashMap<String, Arc<Team>>,
}

impl Backend for Server {
    fn sign_in(&self, c: &str, client: &str) -> Result<Option<Supervisor>, DashboardError> {
        self.inner.sign_in(c, client)
    }
    fn team(&self, team_id: &str) -> Result<Arc<dyn TeamReads>, DashboardError> {
        match self.teams.get(team_id) {
            Some(t) => Ok(t.clone()),
            None => Err(DashboardError::NotFound("équipe inconnue".into())),
        }
    }
    fn still_allowed(&self, who: &Supervisor) -> Result<bool, DashboardError> {
        self.inner.still_allowed(who)
    }
    fn actor_names(&self, team_id: &str) -> Result<HashMap<String, String>, DashboardError> {
        self.inner.actor_names(team_id)
    }
    fn lapsed_devices(&self, team_id: &str) -> Result<Vec<LapsedDevice>, DashboardError> {
        self.inner.lapsed_devices(team_id)
    }
    fn photo(&self, team_id: &str, blob: &PhotoHash) -> Result<Option<Vec<u8>>, DashboardError> {
        self.inner.photo(team_id, blob)
    }
    fn client_address(&self, parts: &Parts) -> String {
        self.inner.client_address(parts)
    }
}

/// A small JPEG, different for every `seed`; in grey for odd seeds.
fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut out, 80);
    if seed % 2 == 1 {
        let img = GrayImage::from_fn(w, h, |x, y| {
            Luma([(x * 3 + y + u32::from(seed) * 40) as u8])
        });
        enc.encode_image(&img).unwrap();
    } else {
        let img = RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 4) as u8, (y * 4) as u8, seed.wrapping_mul(50)])
        });
        enc.encode_image(&img).unwrap();
    }
    out
}

/// A photo's two blobs and its reference.
struct Photo {
    full: Vec<u8>,
    thumb: Vec<u8>,
    r: PhotoRef,
}

fn photo(seed: u8, added_at: i64) -> Photo {
    let (w, h) = if seed % 3 == 2 { (48, 64) } else { (64, 48) };
    let full = jpeg(w, h, seed);
    let thumb = jpeg(w / 4, h / 4, seed);
    let r = PhotoRef {
        hash: PhotoHash::of(&full),
        thumb: PhotoHash::of(&thumb),
        size: full.len() as u64,
        thumb_size: thumb.len() as u64,
        width: w,
        height: h,
        added_at,
    };
    Photo { full, thumb, r }
}

const CONTACT: &str = "Régie de quartiers du Carcassonnais — pôle médiation\n12 rue de l'Aude, 11000 Carcassonne · 04 68 00 00 00";

struct App {
    router: Router,
    backend: Arc<StaticBackend>,
    facts: DemoFacts,
    dir: tempfile::TempDir,
    /// Team 2's report.
    other_report: RecordId,
}

/// Team 1 ("team1", supervisor "sup1"): the demo week; `photos` laid over
/// its open lift report. Team 2 ("team2", "sup2"): one report, whose
/// photos name `team2_photos`.
fn app(
    photos: impl FnOnce(&DemoFacts) -> HashMap<RecordId, Vec<PhotoRef>>,
    team2_photos: Vec<PhotoRef>,
) -> App {
    let dir = tempfile::tempdir().unwrap();
    let device = Store::open_unencrypted(dir.path().join("device1.db")).unwrap();
    let facts = demo_records(&device).unwrap();
    let store1 = Arc::new(Store::open_unencrypted(dir.path().join("team1.db")).unwrap());
    sync_device(&device, &store1).unwrap();

    let device2 = Store::open_unencrypted(dir.path().join("device2.db")).unwrap();
    let fields = json!({"sector": "grazailles-fleming", "category": "graffiti", "place": "Préau", "text": "Tags"});
    let other_report = device2
        .create(Kind::Report, fields.as_object().unwrap())
        .unwrap();
    let store2 = Arc::new(Store::open_unencrypted(dir.path().join("team2.db")).unwrap());
    sync_device(&device2, &store2).unwrap();

    let who = |team: &str, name: &str| Supervisor {
        team_id: team.into(),
        device_id: format!("device-{name}"),
        name: name.into(),
    };
    let mut inner = StaticBackend::single("team1", store1.clone(), "sup1", "Claire");
    inner
        .credentials
        .insert("sup2".into(), who("team2", "Bruno"));
    let inner = Arc::new(inner);
    let teams = HashMap::from([
        (
            "team1".to_string(),
            Arc::new(Team {
                store: store1,
                photos: photos(&facts),
            }),
        ),
        (
            "team2".to_string(),
            Arc::new(Team {
                store: store2,
                photos: HashMap::from([(other_report, team2_photos)]),
            }),
        ),
    ]);
    let mut config = DashboardConfig::new(dir.path().join("dash"));
    config.secure_cookies = false;
    config.team_contacts.insert("team1".into(), CONTACT.into());
    let server = Server {
        inner: inner.clone(),
        teams,
    };
    let router = carnet_dashboard::router(Arc::new(server), config).unwrap();
    App {
        router,
        backend: inner,
        facts,
        dir,
        other_report,
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(app: &App, req: Request<Body>) -> Resp {
    let resp = app.router.clone().oneshot(req).await.unwrap();
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

async fn get(app: &App, path: &str, cookie: Option<&str>) -> Resp {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    send(app, b.body(Body::empty()).unwrap()).await
}

fn set_cookie(r: &Resp, name: &str) -> String {
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_string()
}

async fn sign_in(app: &App, credential: &str) -> String {
    let form = get(app, "/dashboard/connexion", None).await;
    let pre = set_cookie(&form, "carnet_connexion");
    let html = form.text();
    let i = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    let csrf = &html[i..i + 64];
    let req = Request::post("/dashboard/connexion")
        .header(header::COOKIE, pre)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={csrf}&credential={credential}")))
        .unwrap();
    let r = send(app, req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    set_cookie(&r, "carnet_session")
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
    // Added out of order: the page shows the oldest first.
    let newer = photo(1, 2_000);
    let older = photo(2, 1_000);
    let missing = photo(3, 3_000);
    let refs = vec![newer.r.clone(), older.r.clone(), missing.r.clone()];
    let app = app(|f| HashMap::from([(f.open_report, refs)]), vec![]);
    for p in [&newer, &older] {
        app.backend.put_blob("team1", &p.full);
        app.backend.put_blob("team1", &p.thumb);
    }
    let id = app.facts.open_report;
    let page = format!("/dashboard/signalements/{id}");

    // Signed out: the page and every photo send to the sign-in form.
    for path in [
        page.clone(),
        photo_url(id, &older.r.thumb),
        photo_url(id, &older.r.hash),
        format!("{page}/fiche.pdf"),
    ] {
        let r = get(&app, &path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.header(header::LOCATION), "/dashboard/connexion");
        assert!(r.body.is_empty());
    }

    let c = sign_in(&app, "sup1").await;
    let html = get(&app, &page, Some(&c)).await.text();
    assert!(html.contains("Photos (3)"), "{html}");
    let link = |p: &Photo| {
        format!(
            "<a href=\"{}\" title=\"Voir la photo",
            photo_url(id, &p.r.hash)
        )
    };
    let img = |p: &Photo| format!("<img src=\"{}\"", photo_url(id, &p.r.thumb));
    let (a_old, a_new) = (
        html.find(&link(&older)).unwrap(),
        html.find(&link(&newer)).unwrap(),
    );
    assert!(a_old < a_new, "oldest first");
    assert!(
        html[a_old..].find(&img(&older)).unwrap() < 200,
        "the thumbnail is the link"
    );
    assert!(html.contains(&img(&newer)));
    assert!(
        !html.contains(&missing.r.thumb.to_hex()),
        "no image for a photo not received"
    );
    assert_eq!(html.matches("photo pas encore reçue").count(), 1);
    assert!(html.contains(&format!("href=\"{page}/fiche.pdf\"")));
    assert!(html.contains(&reference(id)));

    for (blob, bytes) in [(&older.r.thumb, &older.thumb), (&older.r.hash, &older.full)] {
        let r = get(&app, &photo_url(id, blob), Some(&c)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&r.body, bytes);
        assert_eq!(r.header(header::CONTENT_TYPE), "image/jpeg");
        assert_eq!(r.header(header::CACHE_CONTROL), "private, no-store");
        assert_eq!(r.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    }

    // Not uploaded yet: a French page says so.
    let r = get(&app, &photo_url(id, &missing.r.hash), Some(&c)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("photo pas encore reçue"));
    // Once it arrives, the page shows it.
    app.backend.put_blob("team1", &missing.thumb);
    let html = get(&app, &page, Some(&c)).await.text();
    assert!(html.contains(&img(&missing)));
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
    let p = photo(2, 1_000);
    let other = photo(4, 1_000);
    let (mine, theirs) = (p.r.clone(), other.r.clone());
    // Team 2's report names team 1's photo: a hash alone opens nothing.
    let app = app(
        |f| {
            HashMap::from([
                (f.open_report, vec![mine]),
                (f.resolved_report, vec![theirs]),
            ])
        },
        vec![p.r.clone()],
    );
    for bytes in [&p.full, &p.thumb, &other.full, &other.thumb] {
        app.backend.put_blob("team1", bytes);
    }
    let id = app.facts.open_report;

    let c2 = sign_in(&app, "sup2").await;
    for path in [
        photo_url(id, &p.r.thumb),
        photo_url(id, &p.r.hash),
        format!("/dashboard/signalements/{id}/fiche.pdf"),
        format!("/dashboard/signalements/{id}"),
    ] {
        let r = get(&app, &path, Some(&c2)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_ne!(r.header(header::CONTENT_TYPE), "image/jpeg", "{path}");
    }
    let r = get(&app, &photo_url(app.other_report, &p.r.hash), Some(&c2)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.text().contains("pas encore reçue"),
        "team 2 holds no such blob"
    );
    assert_ne!(r.body, p.full);

    let c1 = sign_in(&app, "sup1").await;
    for (path, why) in [
        (photo_url(id, &other.r.hash), "another record's photo"),
        (photo_url(id, &PhotoHash::of(b"x")), "no photo's hash"),
        (
            format!("/dashboard/signalements/{id}/photos/zz"),
            "not a hash",
        ),
        (photo_url(app.facts.contact, &p.r.hash), "a contact's id"),
        (photo_url(app.other_report, &p.r.hash), "team 2's record"),
    ] {
        let r = get(&app, &path, Some(&c1)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{why}");
        assert_ne!(r.header(header::CONTENT_TYPE), "image/jpeg", "{why}");
    }
    assert_eq!(
        get(&app, &photo_url(id, &p.r.hash), Some(&c1)).await.body,
        p.full
    );
    let contact_fiche = format!("/dashboard/signalements/{}/fiche.pdf", app.facts.contact);
    assert_eq!(
        get(&app, &contact_fiche, Some(&c1)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_fiche_is_one_french_page_with_the_report_and_its_photos() {
    let photos: Vec<Photo> = (0..3).map(|i| photo(i, 1_000 + i64::from(i))).collect();
    let refs: Vec<PhotoRef> = photos.iter().map(|p| p.r.clone()).collect();
    let app = app(|f| HashMap::from([(f.open_report, refs)]), vec![]);
    // Two of three uploaded (one grey, one in colour).
    for p in &photos[..2] {
        app.backend.put_blob("team1", &p.full);
    }
    let id = app.facts.open_report;
    let c = sign_in(&app, "sup1").await;
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
    assert_eq!(images.len(), 2, "one image per photo received");
    let mut images = images;
    images.sort();
    let image = |color_space: &str| Image {
        width: 64,
        height: 48,
        color_space: color_space.into(),
        filters: vec!["DCTDecode".into()],
    };
    assert_eq!(images, [image("DeviceGray"), image("DeviceRGB")]);
    // The photos' bytes are in the file as stored.
    for p in &photos[..2] {
        assert!(r.body.windows(p.full.len()).any(|w| w == p.full));
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
    let many: Vec<Photo> = (0..9).map(|i| photo(i, i64::from(i))).collect();
    let refs: Vec<PhotoRef> = many.iter().map(|p| p.r.clone()).collect();
    let app = app(|f| HashMap::from([(f.open_report, refs)]), vec![]);
    for p in &many {
        app.backend.put_blob("team1", &p.full);
    }
    let c = sign_in(&app, "sup1").await;

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
        "Non",
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
