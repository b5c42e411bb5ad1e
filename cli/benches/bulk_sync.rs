//! The end-of-shift bulk sync as the phones live it, measured in one run:
//! one device pushes 10,000 field notes and a brand-new one pulls them,
//! each as a whole `carnet sync` process, through the real server in a
//! process of its own (its peak memory is its alone), with a counting
//! proxy in between for the bytes on the wire (HTTP heads and bodies, both
//! ways). Each figure is printed beside its reference. Run with:
//!
//! ```text
//! cargo bench -p carnet-cli --bench bulk_sync
//! CARNET_BENCH_RECORDS=2000 cargo bench -p carnet-cli --bench bulk_sync
//! ```
//!
//! The notes are like a mediator's: ~25 French words drawn from a
//! vocabulary of the trade, a sector and one of its quartiers, 1–3 mission
//! axes, 1–2 tags, a count of residents met (seeded, so every run writes
//! the same text).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use carnet_core::Store;
use carnet_core::config::TeamConfig;
use carnet_core::schema::Kind;
use carnet_core::store::{Entry, Payload, Query};
use carnet_core::sync::protocol::{PUSH_PAGE_BYTES, PushHeader, SERVER_ORIGIN};
use carnet_core::sync::wire;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Words of a mediator's field note.
const WORDS: &str = "habitant habitante jeune jeunes bâtiment escalier hall entrée porte serrure \
    ascenseur panne éclairage lampe parking voiture trottoir poubelle encombrants propreté bailleur \
    gardien locataire famille enfant enfants parents école collège square jardin banc aire jeux \
    quartier rue avenue place marché commerce boulangerie pharmacie médiation échange discussion \
    rencontre tension bruit nuisance conflit voisinage voisin voisine dame monsieur personne âgée \
    isolement visite accompagnement démarche dossier logement loyer facture électricité eau \
    chauffage froid humidité moisissure fuite plafond fenêtre vitre cassée tag graffiti dépôt \
    sauvage sac chien déjections sécurité police municipale patrouille soirée nuit matin \
    après-midi semaine lundi mardi mercredi jeudi vendredi samedi dimanche fête association centre \
    social maison projet atelier réunion collectif animation sortie football stade vélo scooter \
    rodéo moto vitesse signalement relance suivi orientation partenaire mairie ville service \
    technique réparation intervention délai attente colère inquiétude satisfaction remerciement \
    calme apaisé agité groupe attroupement regroupement cage sous-sol cave local container tri \
    collecte passage ramassage herbe haute arbre branche chute danger risque lumière noir coupure \
    courant interphone badge clé code digicode boîte lettres courrier vol dégradation réparé \
    signalé transmis prévu constaté vu entendu dit expliqué proposé orienté rassuré informé la le \
    les un une des du de au aux et à pour avec sans chez sur sous dans devant derrière près loin \
    très peu beaucoup encore déjà toujours jamais";
const TAGS: [&str; 6] = [
    "hall",
    "ascenseur",
    "jeunes",
    "bruit",
    "propreté",
    "bailleur",
];

/// The `i`-th note of the run.
fn note(
    cfg: &TeamConfig,
    words: &[&str],
    rng: &mut StdRng,
    i: usize,
) -> serde_json::Map<String, Value> {
    let sector = &cfg.sectors[rng.random_range(0..cfg.sectors.len())];
    let quartier = &sector.quartiers[rng.random_range(0..sector.quartiers.len())];
    let text: Vec<&str> = (0..25)
        .map(|_| words[rng.random_range(0..words.len())])
        .collect();
    let axes: Vec<&str> = cfg
        .axes
        .iter()
        .take(rng.random_range(1..=3))
        .map(|a| a.code.as_str())
        .collect();
    let tags: Vec<&str> = (0..rng.random_range(1..=2))
        .map(|_| TAGS[rng.random_range(0..TAGS.len())])
        .collect();
    let v = json!({
        "sector": sector.code,
        "quartier": quartier.code,
        "text": text.join(" "),
        "axes": axes,
        "tags": tags,
        "residents_met": (i % 7) as i64,
    });
    v.as_object().cloned().unwrap_or_default()
}

/// Bytes through the proxy, each way.
#[derive(Default)]
struct Counted {
    up: AtomicU64,
    down: AtomicU64,
}

impl Counted {
    /// Both ways since the last call, and starts counting again.
    fn take(&self) -> (u64, u64) {
        (
            self.up.swap(0, Ordering::SeqCst),
            self.down.swap(0, Ordering::SeqCst),
        )
    }
}

/// A loopback proxy to `to` that counts what crosses it.
fn counting_proxy(to: SocketAddr) -> (String, Arc<Counted>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let counted = Arc::new(Counted::default());
    let c = counted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(to) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let pipe = |mut from: TcpStream, mut to: TcpStream, up: bool, c: Arc<Counted>| {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 << 10];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        let counter = if up { &c.up } else { &c.down };
                        counter.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                true,
                c.clone(),
            );
            pipe(server, client, false, c.clone());
        }
    });
    (url, counted)
}

/// The server, in a child process of this bench (the real server's code,
/// on its embedded SQLite).
struct ServerChild {
    child: Child,
    addr: SocketAddr,
}

impl ServerChild {
    fn start(data: &Path) -> ServerChild {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--serve")
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        ServerChild {
            child,
            addr: line.trim().parse().expect("the server's address"),
        }
    }

    /// Peak resident memory so far (VmHWM), in MB.
    fn peak_mb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: serve until the bench closes our stdin.
fn serve(data: PathBuf) {
    let server = carnet_server::RunningServer::start(carnet_server::Config {
        data_dir: data,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_per_second: 0.0,
        ..Default::default()
    })
    .unwrap();
    println!("{}", server.url().trim_start_matches("http://"));
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// `carnet --json --store DIR args…`, which must succeed.
fn carnet(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["--json", "--store"])
        .arg(dir)
        .args(args)
        .env("CARNET_KEY", KEY)
        .env_remove("CARNET_STORE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "carnet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn open(dir: &Path) -> Store {
    let key: [u8; 32] = hex::decode(KEY).unwrap().try_into().unwrap();
    Store::open(dir.join("carnet.db"), &key).unwrap()
}

/// The raw sizes the wire is compared with: every record of a store as
/// JSON, one copy each, as `carnet show --json` prints it; and as a plain
/// record (what was written and who and when: no empty field, no
/// bookkeeping of the store's), the stricter reference. Also the count.
fn raw_json(store: &Store) -> (usize, usize, usize) {
    let (mut bytes, mut plain, mut count, mut offset) = (0, 0, 0, 0);
    loop {
        let page = store
            .list(&Query {
                limit: Some(1000),
                offset,
                oldest_first: true,
                ..Default::default()
            })
            .unwrap();
        for r in &page.items {
            let mut v = serde_json::to_value(r).unwrap();
            bytes += serde_json::to_vec(&v).unwrap().len();
            if let Some(m) = v.as_object_mut() {
                m.retain(|k, v| {
                    !(v.is_null()
                        || v.as_array().is_some_and(Vec::is_empty)
                        || k == "updated_at"
                        || k == "created_by")
                });
            }
            plain += serde_json::to_vec(&v).unwrap().len();
            count += 1;
        }
        if !page.has_more {
            return (bytes, plain, count);
        }
        offset += 1000;
    }
}

/// The push bodies of a store's log (its pages as `carnet sync` cuts them),
/// in bytes: as they are sent, and with each change DEFLATEd on its own as
/// automerge compresses it, as changes travelled before they went
/// uncompressed (the reference the wire's gain is measured against).
fn push_bodies(store: &Store) -> (usize, usize) {
    let deflated = |e: &Entry| match &e.payload {
        Payload::Change(b) => Entry {
            record_id: e.record_id,
            payload: Payload::Change(
                automerge::Change::from_bytes(b.clone())
                    .unwrap()
                    .bytes()
                    .into_owned(),
            ),
        },
        _ => e.clone(),
    };
    let (mut now, mut before, mut after) = (0, 0, 0);
    loop {
        let page = store
            .changes_since(after, PUSH_PAGE_BYTES, Some(SERVER_ORIGIN))
            .unwrap();
        if page.entries.is_empty() {
            return (now, before);
        }
        let header = PushHeader {
            upto: page.upto,
            lineage: None,
        };
        now += wire::encode(&header, &page.entries).unwrap().len();
        let old: Vec<Entry> = page.entries.iter().map(deflated).collect();
        before += wire::encode(&header, &old).unwrap().len();
        after = page.upto;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        return serve(PathBuf::from(&args[2]));
    }
    let n: usize = std::env::var("CARNET_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("server");
    let (team, _) = carnet_server::init_team(&data, "Bench").unwrap();
    let server = ServerChild::start(&data);
    let (url, wire) = counting_proxy(server.addr);
    let code = |name: &str| {
        carnet_server::issue_code(&data, &team, carnet_server::Role::Mediator, Some(name)).unwrap()
    };
    let (p, q) = (tmp.path().join("pusher"), tmp.path().join("puller"));
    for (dir, name) in [(&p, "amina"), (&q, "karim")] {
        carnet(
            dir,
            &[
                "init",
                "--server",
                &url,
                "--code",
                &code(name),
                "--name",
                name,
            ],
        );
    }
    wire.take();

    println!(
        "carnet bulk sync: {n} field notes, `carnet sync` processes, the server in its own process\n"
    );
    let cfg = TeamConfig::carcassonne();
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut rng = StdRng::seed_from_u64(2026);
    {
        let store = open(&p);
        let t = Instant::now();
        for i in 0..n {
            store
                .create(Kind::Note, &note(&cfg, &words, &mut rng, i))
                .unwrap();
        }
        println!(
            "written on the pushing device: {:.1} s (each durable on return)",
            t.elapsed().as_secs_f64()
        );
    }

    let t = Instant::now();
    let pushed = carnet(&p, &["sync"]);
    let push_secs = t.elapsed().as_secs_f64();
    let (push_up, push_down) = wire.take();
    let t = Instant::now();
    let pulled = carnet(&q, &["sync"]);
    let pull_secs = t.elapsed().as_secs_f64();
    let (pull_up, pull_down) = wire.take();
    assert_eq!(
        (pushed["pushed"].as_u64(), pulled["pulled"].as_u64()),
        (Some(n as u64), Some(n as u64))
    );
    let (full, raw, count) = raw_json(&open(&q));
    assert_eq!(count, n);

    // One more note like the others, written after the bulk sync.
    open(&p)
        .create(Kind::Note, &note(&cfg, &words, &mut rng, n))
        .unwrap();
    wire.take();
    carnet(&p, &["sync"]);
    carnet(&q, &["sync"]);
    let one = wire.take();
    carnet(&q, &["sync"]);
    let nothing = wire.take();

    let (bodies, deflated_bodies) = push_bodies(&open(&p));
    let push = push_up + push_down;
    let pull = pull_up + pull_down;
    let ratio = |b: u64| b as f64 / raw as f64;
    println!(
        "raw JSON of the {n} records, one copy: {:.2} MB as plain records ({:.0} B/record), the reference below; {:.2} MB as `carnet show --json` prints them ({:.0} B/record)",
        raw as f64 / 1e6,
        raw as f64 / n as f64,
        full as f64 / 1e6,
        full as f64 / n as f64
    );
    println!("| measure | figure | reference |");
    println!("|---|---|---|");
    println!(
        "| push, bytes on the wire | {:.2} MB, **{:.2}× raw JSON** (up {:.2} MB, down {} kB) | ≤ 0.40× |",
        push as f64 / 1e6,
        ratio(push),
        push_up as f64 / 1e6,
        push_down / 1000
    );
    println!(
        "| pull, bytes on the wire | {:.2} MB, **{:.2}× raw JSON** (up {} kB, down {:.2} MB) | ≤ 0.40× |",
        pull as f64 / 1e6,
        ratio(pull),
        pull_up / 1000,
        pull_down as f64 / 1e6
    );
    println!(
        "| the push's bodies, changes as sent / each DEFLATEd alone (as before) | {:.2} MB / {:.2} MB: **{:.2}× / {:.2}× raw JSON** | |",
        bodies as f64 / 1e6,
        deflated_bodies as f64 / 1e6,
        ratio(bodies as u64),
        ratio(deflated_bodies as u64)
    );
    println!(
        "| push + pull | {:.2} MB, **{:.2}× raw JSON** | ≤ 0.80× |",
        (push + pull) as f64 / 1e6,
        ratio(push + pull)
    );
    println!(
        "| 1 new record after reconnect (both devices) | {} B | ≤ 2.2 kB |",
        one.0 + one.1
    );
    println!("| nothing new | {} B | ≤ 376 B |", nothing.0 + nothing.1);
    println!(
        "| push then fresh pull, whole processes | push {push_secs:.2} s + pull {pull_secs:.2} s: **{:.0} records/s** | ≥ 3,000 |",
        n as f64 / (push_secs + pull_secs)
    );
    println!(
        "| server peak memory (VmHWM) | **{:.0} MB** | ≤ 100 MB |",
        server.peak_mb()
    );
}
