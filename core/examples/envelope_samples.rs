//! Writes the envelopes that Carnet's zstd dictionary 1
//! (`core/src/sync/dictionary-1.zdict`) was trained on, one file
//! each, uncompressed: pushes and pulls of 1 to 30 entries, by three
//! devices, of every kind of record — created, a field edited, a report's
//! status moved on, an interaction logged on a resident's contact — with
//! texts of 3 to 40 words of a mediator's vocabulary (its own list, not the
//! benchmarks': they measure the dictionary on words it was not made from).
//!
//! Dictionary 1 was made so, with Debian's `zstd` 1.5:
//!
//! ```text
//! cargo run --release -p carnet-core --example envelope_samples -- /tmp/envelopes
//! zstd --train -r /tmp/envelopes --maxdict=8192 --dictID=1129467393 \
//!     -o core/src/sync/dictionary-1.zdict
//! ```
//!
//! Its bytes are part of the wire format: running this again makes another
//! dictionary (record ids and actors are random), which would be dictionary
//! 2 in a new format, never a replacement for 1.

use std::path::PathBuf;

use carnet_core::lifecycle::ReportStatus;
use carnet_core::store::{Entry, StatusChange};
use carnet_core::sync::protocol::{PullHeader, PushHeader};
use carnet_core::sync::wire;
use carnet_core::{Kind, RecordId, Store, TeamConfig};
use serde_json::{Map, Value, json};

/// A mediator's words, from the team's description of its work and the
/// everyday words of a round.
const WORDS: &str = "médiation médiateur médiatrice habitants habitant locataire locataires \
    bailleur régie quartier quartiers secteur résidence immeuble bâtiment entrée cage escalier \
    palier hall ascenseur cave parking local poubelles ordures encombrants tri propreté cadre vie \
    tranquillité publique respect dégradation dégradations dysfonctionnement signalement signaler \
    intervention technique veille lieux installations éclairage lumière panne porte vitre boîte \
    interphone jeunes enfants familles parents voisins voisine voisin dame monsieur âgé isolée \
    conflit conflits tension dispute bruit nuisances calme apaisé rencontre échange discussion \
    écoute présence déambulation tournée sortie scolaire école animation atelier association \
    partenaires mairie police services santé droits démarches administratives dossier courrier \
    facture énergie chauffage humidité fuite logement aide orientation orienté accompagné \
    informé rassuré sensibilisation rappel règles consignes participation citoyenne réunion \
    collectif fête jardin square aire jeux banc rue place marché commerce arrêt bus trottoir \
    stationnement voiture scooter chien matin midi soir nuit week-end aujourd'hui hier demain \
    semaine suivi relance rappeler revoir prévu constaté vu signalé transmis réparé toujours \
    encore déjà plus moins très bien mal bon besoin problème souci demande question réponse \
    le la les un une des du de d' l' au aux et ou mais donc car pour par avec sans sur sous \
    dans devant derrière chez entre vers il elle ils elles on nous qui que est sont a ont fait \
    pas ne";

/// A small xorshift: the samples need variety, not quality randomness.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn text(dice: &mut Dice, words: &[&str], from: usize, to: usize) -> String {
    let n = from + dice.below(to - from + 1);
    let t: Vec<&str> = (0..n).map(|_| words[dice.below(words.len())]).collect();
    t.join(" ")
}

fn fields(dice: &mut Dice, cfg: &TeamConfig, words: &[&str], kind: Kind) -> Map<String, Value> {
    let sector = &cfg.sectors[dice.below(cfg.sectors.len())];
    let quartier = &sector.quartiers[dice.below(sector.quartiers.len())];
    let axes: Vec<&str> = (0..1 + dice.below(3))
        .map(|_| cfg.axes[dice.below(cfg.axes.len())].code.as_str())
        .collect();
    let mut axes = axes;
    axes.sort_unstable();
    axes.dedup();
    let v = match kind {
        Kind::Note => json!({
            "sector": sector.code, "quartier": quartier.code,
            "text": text(dice, words, 3, 40), "axes": axes,
            "tags": [words[dice.below(words.len())]],
            "residents_met": dice.below(9) as i64,
            "place": format!("Bât. {}", 1 + dice.below(40)),
        }),
        Kind::Report => json!({
            "sector": sector.code, "quartier": quartier.code,
            "category": cfg.categories[dice.below(cfg.categories.len())].code,
            "place": format!("Bât. {} hall {}", 1 + dice.below(40), 1 + dice.below(4)),
            "text": text(dice, words, 3, 25), "axes": axes,
        }),
        Kind::Activity => json!({
            "activity_type": (["aller_vers", "permanence", "shift", "meeting"][dice.below(4)]),
            "sector": sector.code, "met_known": dice.below(20) as i64,
            "met_new": dice.below(6) as i64, "text": text(dice, words, 3, 20), "axes": axes,
        }),
        Kind::Contact => json!({
            "name": format!("Résident {}", dice.below(10_000)),
            "phone": format!("06 {:02} {:02} {:02} {:02}", dice.below(100), dice.below(100), dice.below(100), dice.below(100)),
            "consents": ["telephone"],
            "address": format!("{} rue des Lilas", 1 + dice.below(90)),
            "topics": ["logement"],
        }),
    };
    v.as_object().cloned().unwrap_or_default()
}

/// One device's work: records of every kind, then edits of some of them.
fn device_log(dice: &mut Dice, cfg: &TeamConfig, words: &[&str], n: usize) -> Vec<Entry> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path().join("carnet.db"), &[7; 32]).expect("a store");
    let mut made: Vec<(Kind, RecordId)> = Vec::new();
    for i in 0..n {
        let kind = match i % 10 {
            0..=4 => Kind::Note,
            5..=6 => Kind::Report,
            7..=8 => Kind::Activity,
            _ => Kind::Contact,
        };
        let Ok(id) = store.create(kind, &fields(dice, cfg, words, kind)) else {
            continue;
        };
        made.push((kind, id));
    }
    for &(kind, id) in made.iter().step_by(3) {
        let _ = match kind {
            Kind::Note | Kind::Activity => {
                store.set_field(id, "text", &json!(text(dice, words, 3, 30)))
            }
            Kind::Report => store.change_status(
                id,
                &StatusChange {
                    status: Some(ReportStatus::Forwarded),
                    to: Some(cfg.bodies[dice.below(cfg.bodies.len())].code.clone()),
                    reference: Some(format!("DI-{}", dice.below(100_000))),
                    comment: Some(text(dice, words, 2, 12)),
                    duplicate_of: None,
                },
            ),
            Kind::Contact => store.add_interaction(id, &text(dice, words, 3, 15), None),
        };
    }
    store
        .changes_since(0, usize::MAX, None)
        .expect("the device's log")
        .entries
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: envelope_samples <directory>"),
    );
    std::fs::create_dir_all(&out).expect("the output directory");
    let cfg = TeamConfig::carcassonne();
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let lineage = format!("{:032x}", dice.0);
    let mut written = 0usize;
    for device in 0..3 {
        let log = device_log(&mut dice, &cfg, &words, 600);
        let mut at = 0;
        while at < log.len() {
            let n = match dice.below(10) {
                0..=5 => 1,
                6..=8 => 2 + dice.below(4),
                _ => 10 + dice.below(21),
            }
            .min(log.len() - at);
            let page = &log[at..at + n];
            at += n;
            let upto = at as u64;
            // The format-3 encoding, without the dictionary being made.
            let body = if (device + at) % 2 == 0 {
                let header = PushHeader {
                    upto,
                    lineage: Some(lineage.clone()),
                };
                wire::encode_for(3, &header, page)
            } else {
                let header = PullHeader {
                    upto: upto * 3,
                    more: false,
                    lineage: Some(lineage.clone()),
                };
                wire::encode_for(3, &header, page)
            }
            .expect("an envelope");
            let raw = zstd::bulk::decompress(&body, wire::MAX_DECOMPRESSED).expect("zstd");
            std::fs::write(out.join(format!("{written:05}.crn")), raw).expect("a sample");
            written += 1;
        }
    }
    println!("{written} envelopes in {}", out.display());
}
