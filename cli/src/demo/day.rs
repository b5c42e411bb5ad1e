//! A day of three mediators of the Régie de quartiers du Carcassonnais, done
//! through the same core calls as `carnet note add`, `report add|status`,
//! `contact add|log`, `activity add` and `set`.
//!
//! The evening before, Amina recorded a forced door in Viguier and synced;
//! in the morning everyone synced at the office. Then, offline all day,
//! Amina and Karim both edited that same signalement: each gave a different
//! hall (the same field: a conflict both values of which are kept) and each
//! added a sentence to the description (text: both sentences are kept).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use carnet_core::store::StatusChange;
use carnet_core::sync::SyncSummary;
use carnet_core::sync::client::Client;
use carnet_core::{Kind, RecordId, ReportStatus, Store};
use serde_json::{Value, json};

use crate::device;
use crate::error::{CliError, Result};
use crate::key;

/// One enrolled device of the demo.
pub struct Device {
    /// Author name (`amina`, `karim`, `lucie`, `coordination`).
    pub name: &'static str,
    /// Its store directory.
    pub dir: PathBuf,
    /// The open store.
    pub store: Store,
    token: String,
    server: String,
}

impl Device {
    /// Creates `base/name` with its own key file, enrolls it with `code`.
    pub fn enroll(base: &Path, name: &'static str, server: &str, code: &str) -> Result<Device> {
        let dir = base.join(name);
        let k = key::create_file(&dir)?;
        let store = Store::open(device::db_path(&dir), &k)?;
        // The demo's server is on this machine, over plain HTTP.
        let roots = carnet_core::sync::ExtraRoots::default();
        let e = carnet_core::sync::enroll(&store, server, &roots, code, &format!("{name} (démo)"))?;
        store.set_author(name)?;
        Ok(Device {
            name,
            dir,
            store,
            token: e.token,
            server: e.server,
        })
    }

    /// Syncs with the server, as `carnet sync` does.
    pub fn sync(&self) -> Result<SyncSummary> {
        let cancel = AtomicBool::new(false);
        Ok(Client::new(&self.server)?.sync(&self.store, &self.token, &mut |_| {}, &cancel)?)
    }

    /// The device token, for the supervisor's merged-log call.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn create(&self, kind: Kind, fields: Value) -> Result<RecordId> {
        let Value::Object(m) = fields else {
            return Err(CliError::Demo("a demo record is not an object".into()));
        };
        Ok(self.store.create(kind, &m)?)
    }

    fn status(
        &self,
        id: RecordId,
        status: ReportStatus,
        to: Option<&str>,
        reference: Option<&str>,
        comment: Option<&str>,
    ) -> Result<()> {
        Ok(self.store.change_status(
            id,
            &StatusChange {
                status: Some(status),
                to: to.map(str::to_string),
                reference: reference.map(str::to_string),
                comment: comment.map(str::to_string),
                duplicate_of: None,
            },
        )?)
    }
}

/// Today at `h:m`, local time, in ms: the day's records carry the hours a
/// mediator would type.
fn today_at(h: i8, m: i8) -> i64 {
    let now = jiff::Zoned::now();
    now.with()
        .hour(h)
        .minute(m)
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or_else(|_| now.timestamp().as_millisecond())
}

/// What one mediator did to the shared signalement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SharedEdit {
    /// Who.
    pub by: &'static str,
    /// The hall they wrote into `place`.
    pub place: String,
    /// The sentence they added to the description.
    pub added: String,
}

/// What the day produced that the picture refers to.
pub struct Day {
    /// The signalement edited by two mediators at once.
    pub shared: RecordId,
    /// Its description before the day.
    pub shared_text_before: String,
    /// The two concurrent edits.
    pub edits: Vec<SharedEdit>,
    /// What each mediator did, for the narration: (who, line).
    pub log: Vec<(&'static str, String)>,
}

/// The evening before: Amina's signalement, synced by everyone in the morning.
pub fn eve(amina: &Device) -> Result<(RecordId, String)> {
    let text = "Porte d'entrée du hall forcée, elle ne ferme plus.".to_string();
    let id = amina.create(
        Kind::Report,
        json!({
            "sector": "viguier-saint-jacques", "quartier": "viguier", "category": "doors-locks",
            "place": "12 rue Jean Moulin", "text": text, "axes": ["cadre-de-vie", "tranquillite"],
        }),
    )?;
    Ok((id, text))
}

/// The day's offline work of the three mediators.
pub fn day(
    amina: &Device,
    karim: &Device,
    lucie: &Device,
    shared: RecordId,
    before: String,
) -> Result<Day> {
    let mut log = Vec::new();

    // Amina — La Conte + Joliot Curie.
    amina.create(
        Kind::Activity,
        json!({
            "activity_type": "shift", "sector": "conte-joliot", "started_at": today_at(9, 0),
            "ended_at": today_at(12, 30), "team": ["amina"], "axes": ["tranquillite"],
            "text": "Déambulation La Conte puis Joliot Curie.",
        }),
    )?;
    amina.create(
        Kind::Note,
        json!({
            "sector": "conte-joliot", "quartier": "la-conte", "place": "Bâtiment C, pied d'immeuble",
            "observed_at": today_at(10, 15), "axes": ["jeunesse", "tranquillite"], "residents_met": 10,
            "text": "Une dizaine de jeunes au pied du bâtiment C, échange calme. Rappel de la sortie foot de mercredi.",
        }),
    )?;
    let lights = amina.create(
        Kind::Report,
        json!({
            "sector": "conte-joliot", "quartier": "joliot-curie", "category": "lighting", "urgent": true,
            "place": "Parking Joliot Curie, allée des Tilleuls", "axes": ["cadre-de-vie"],
            "text": "Trois lampadaires éteints, passage très sombre le soir.",
        }),
    )?;
    amina.status(
        lights,
        ReportStatus::Forwarded,
        Some("ville-eclairage"),
        Some("ECL-2611"),
        None,
    )?;
    log.push(("amina", "déambulation La Conte / Joliot Curie: 1 note (10 jeunes rencontrés), 1 signalement urgent (éclairage) transmis à la ville".to_string()));

    // Karim — Viguier + Saint Jacques, Ozanam + Albignac.
    let letterboxes = karim.create(
        Kind::Report,
        json!({
            "sector": "ozanam-albignac", "quartier": "albignac", "category": "letterboxes",
            "place": "Bâtiment 2, entrée", "text": "Six boîtes aux lettres forcées.",
        }),
    )?;
    karim.status(
        letterboxes,
        ReportStatus::Forwarded,
        Some("bailleur"),
        Some("BX-4460"),
        None,
    )?;
    karim.status(letterboxes, ReportStatus::InProgress, None, None, None)?;
    karim.status(
        letterboxes,
        ReportStatus::Resolved,
        None,
        None,
        Some("Le bailleur a remplacé les boîtes."),
    )?;
    karim.status(
        letterboxes,
        ReportStatus::Closed,
        None,
        None,
        Some("Vérifié sur place."),
    )?;
    karim.create(
        Kind::Note,
        json!({
            "sector": "viguier-saint-jacques", "quartier": "saint-jacques", "place": "Local de permanence",
            "observed_at": today_at(9, 30), "axes": ["acces-droits"], "residents_met": 4,
            "text": "Permanence : trois habitants pour des factures d'énergie, un pour un dossier CAF.",
        }),
    )?;
    let contact = karim.create(
        Kind::Contact,
        json!({
            "name": "Mme Exemple (résidente fictive)", "phone": "06 00 00 00 00", "sector": "ozanam-albignac",
            "landlord": "bailleur", "topics": ["énergie", "impayés"], "consents": ["suivi", "orientation", "telephone"],
        }),
    )?;
    karim.store.add_interaction(
        contact,
        "Facture d'électricité en retard : dossier chèque énergie préparé ensemble.",
        Some("France Services"),
    )?;
    log.push(("karim", "permanence Saint Jacques: 1 note; signalement boîtes aux lettres Albignac suivi jusqu'à la clôture; 1 contact (consentements : suivi, orientation, téléphone) orienté vers France Services".to_string()));

    // Lucie — Grazailles + Fleming, and Ozanam.
    lucie.create(
        Kind::Activity,
        json!({
            "activity_type": "aller_vers", "sector": "grazailles-fleming", "quartier": "grazailles",
            "place": "Place de Grazailles", "started_at": today_at(14, 0), "ended_at": today_at(17, 0),
            "team": ["lucie", "karim"], "met_known": 14, "met_new": 9, "referrals": 3,
            "topics": ["énergie", "logement"], "partners": ["CAF", "La Poste"],
            "axes": ["participation", "acces-droits"],
            "text": "Barnum et café sur la place : des habitants qu'on ne voit pas aux permanences.",
        }),
    )?;
    let lift = lucie.create(
        Kind::Report,
        json!({
            "sector": "grazailles-fleming", "quartier": "fleming", "category": "lift", "urgent": true,
            "place": "Bâtiment F, ascenseur", "axes": ["cadre-de-vie", "acces-droits"],
            "text": "Ascenseur en panne depuis deux jours ; une personne âgée ne peut plus descendre du 6e.",
        }),
    )?;
    lucie.status(
        lift,
        ReportStatus::Forwarded,
        Some("bailleur"),
        Some("ASC-0932"),
        None,
    )?;
    lucie.status(
        lift,
        ReportStatus::InProgress,
        None,
        None,
        Some("Technicien annoncé demain matin."),
    )?;
    lucie.create(
        Kind::Note,
        json!({
            "sector": "grazailles-fleming", "quartier": "fleming", "place": "Bâtiment F",
            "observed_at": today_at(11, 0), "axes": ["participation"], "residents_met": 2,
            "text": "Visite de bienvenue à de nouveaux locataires, présentation des permanences.",
        }),
    )?;
    lucie.create(
        Kind::Report,
        json!({
            "sector": "ozanam-albignac", "quartier": "ozanam", "category": "cleanliness",
            "place": "Rue d'Ozanam, local poubelles", "text": "Encombrants déposés devant le local : matelas, meubles.",
        }),
    )?;
    log.push(("lucie", "aller vers à Grazailles (23 habitants, dont 9 nouveaux); ascenseur Fleming transmis au bailleur, en cours; encombrants Ozanam".to_string()));

    // The same signalement, edited by two mediators who cannot see each other.
    let edits = vec![
        SharedEdit {
            by: "amina",
            place: "12 rue Jean Moulin, hall A".into(),
            added: " Serrure arrachée côté intérieur.".into(),
        },
        SharedEdit {
            by: "karim",
            place: "12 rue Jean Moulin, hall B".into(),
            added: " Des locataires signalent des allées et venues la nuit.".into(),
        },
    ];
    for (dev, e) in [(amina, &edits[0]), (karim, &edits[1])] {
        dev.store.set_field(shared, "place", &json!(e.place))?;
        dev.store
            .set_field(shared, "text", &json!(format!("{before}{}", e.added)))?;
    }
    karim.status(
        shared,
        ReportStatus::Forwarded,
        Some("bailleur"),
        Some("BX-4471"),
        None,
    )?;
    log.push(("amina+karim", "le même signalement (porte forcée, Viguier), modifié par les deux hors ligne : adresse et description".to_string()));

    Ok(Day {
        shared,
        shared_text_before: before,
        edits,
        log,
    })
}
