//! The retention sweep (RGPD art. 5(1)(e)): every day, each team's
//! resident contacts whose retention is over
//! ([`carnet_core::retention::Retention::Due`]) are erased, through the
//! core as a supervisor's erasure would be, so that every phone drops them
//! at its next sync. The rule itself is the core's; this module only walks
//! the teams.
//!
//! Instances sharing a PostgreSQL database may sweep at the same time:
//! that is harmless, since a contact another instance erased first reads
//! as erased (or no longer listed) here and is skipped.

use carnet_core::edit::Action;
use carnet_core::model::Record;
use carnet_core::retention::{Retention, retention};
use carnet_core::store::Query;
use carnet_core::{Kind, RecordId};
use carnet_dashboard::Access;

use crate::AppState;
use crate::error::{Result, ServerError};
use crate::storage::{Storage, StorageError};

/// The automerge actor the server signs its own erasures with: a fixed
/// value no device or account is ever given (those are random), so a
/// record's history and the team's log show the erasure came from the
/// retention rule and not from a person.
pub const RETENTION_ACTOR: &str = "00000000000000000000000072657465";

/// The origin the team's log gives the sweep's erasures: no device has it,
/// so every device pulls them.
const ORIGIN: &str = "retention";

/// The author a history shows for the sweep's erasures.
const AUTHOR: &str = "conservation automatique";

/// What the access log says for each contact the sweep erased.
const ACCESS_ACTION: &str = "effacement automatique (durée de conservation échue)";

/// Contacts read per page.
const PAGE: u32 = 500;

/// What a sweep did, in counts (never whom).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionSwept {
    /// Teams walked.
    pub teams: usize,
    /// Contacts erased because their retention was over.
    pub erased: usize,
    /// Contacts due within the notice period, listed for supervisors.
    pub listed: usize,
}

/// Erases every contact of every team whose retention is over at `now`
/// (ms since the Unix epoch; `serve` runs it daily with the clock, tests
/// with a time of their choosing), and writes each erasure to the access
/// log (the contact's id only). Logs counts only.
pub async fn sweep_retention(state: &AppState, now: i64) -> Result<RetentionSwept> {
    let storage = state.storage.clone();
    let log = state.access_log.clone();
    let swept = state
        .heavy(move || {
            let mut swept = RetentionSwept::default();
            for team in storage.team_ids()? {
                swept.teams += 1;
                let (erased, listed) = sweep_team(&*storage, &*log, &team, now)?;
                swept.erased += erased;
                swept.listed += listed;
            }
            Ok(swept)
        })
        .await?;
    tracing::info!(
        teams = swept.teams,
        erased = swept.erased,
        listed = swept.listed,
        "retention sweep done"
    );
    Ok(swept)
}

/// One team's sweep: (erased, listed).
fn sweep_team(
    storage: &dyn Storage,
    log: &dyn carnet_dashboard::AccessLogStore,
    team: &str,
    now: i64,
) -> Result<(usize, usize)> {
    let cfg = storage
        .team_reads(team)?
        .config()
        .map_err(|e| ServerError::Internal(format!("team configuration: {e}")))?;
    // Collected first, erased after: erasing while paging would shift the
    // pages under the walk.
    let mut due: Vec<RecordId> = Vec::new();
    let mut listed = 0;
    let mut offset = 0;
    loop {
        let page = storage.records(
            team,
            &Query {
                kind: Some(Kind::Contact),
                oldest_first: true,
                limit: Some(PAGE),
                offset,
                ..Default::default()
            },
        )?;
        for r in &page.items {
            let Record::Contact(c) = r else { continue };
            match retention(c, &cfg, now) {
                Retention::Due { .. } => due.push(c.header.id),
                Retention::Listed { .. } => listed += 1,
                Retention::Kept => {}
            }
        }
        if !page.has_more {
            break;
        }
        offset += PAGE;
    }
    let mut erased = 0;
    for id in due {
        match storage.act(team, ORIGIN, RETENTION_ACTOR, AUTHOR, id, &Action::Erase) {
            Ok(_) => {}
            // Another instance's sweep (or a supervisor) erased it first.
            Err(StorageError::Core(
                carnet_core::Error::Erased(_) | carnet_core::Error::NotFound(_),
            )) => continue,
            Err(e) => return Err(e.into()),
        }
        erased += 1;
        log.record(&Access {
            team_id: team,
            device_id: ORIGIN,
            person: AUTHOR,
            client: "serveur",
            action: ACCESS_ACTION,
            record_ids: &[id],
        })
        .map_err(|e| ServerError::Internal(format!("access log: {e}")))?;
    }
    Ok((erased, listed))
}
