//! A change made on the server for a supervisor: with the core's own
//! [`crate::edit::apply`], by an actor bound to the supervisor's account,
//! then judged like any change a device pushes ([`apply_pushed_to`]).

use super::Store;
use super::log_store::{LogStore, SqliteLog, apply_pushed_to};
use super::replication::{ApplyReport, Batch, Entry, Payload, parse_actor};
use crate::doc::RecordDoc;
use crate::edit::{self, Action};
use crate::{Error, RecordId, Result, TeamConfig, now_ms};

/// Makes `action` on record `id` of a team log as `actor` (32 hex digits,
/// the actor bound to the supervisor's account), labelled `author` in its
/// history, at `now`, and applies it through [`apply_pushed_to`] so that it
/// is judged exactly like a pushed change: a change the rules refuse is the
/// same [`Error::Refused`] a push gets. An erasure goes as a batch with
/// [`Payload::Erased`]. Nothing to change (a consent already given) applies
/// nothing. The caller's transaction makes it all or nothing.
#[allow(clippy::too_many_arguments)]
pub fn act_in(
    log: &mut dyn LogStore,
    config: &TeamConfig,
    origin: &str,
    actor: &str,
    author: &str,
    now: i64,
    id: RecordId,
    action: &Action,
) -> Result<ApplyReport> {
    let actor_id = parse_actor(Some(actor))?
        .ok_or_else(|| Error::invalid("actor", "expected 32 hexadecimal digits"))?;
    let Some((bytes, _)) = log.stored_doc(id)? else {
        return Err(if log.is_erased(id)? {
            Error::Erased(id)
        } else {
            Error::NotFound(id)
        });
    };
    let payload = match action {
        Action::Erase => Payload::Erased,
        _ => {
            let mut doc = RecordDoc::load(&bytes, &actor_id)?;
            let Some(hash) = edit::apply(config, &mut doc, id, action, author, now)? else {
                return Ok(ApplyReport::default());
            };
            Payload::Change(doc.change_bytes(&hash).ok_or_else(|| {
                Error::Internal("a new change is missing from its document".into())
            })?)
        }
    };
    let batch = Batch {
        entries: vec![Entry {
            record_id: id,
            payload,
        }],
        upto: 0,
        more: false,
    };
    apply_pushed_to(log, config, origin, Some(actor), &batch)
}

impl Store {
    /// [`act_in`] over this store's own log in one write transaction: the
    /// embedded server's team log is a store opened unencrypted.
    pub fn act_as(
        &self,
        origin: &str,
        actor: &str,
        author: &str,
        id: RecordId,
        action: &Action,
    ) -> Result<ApplyReport> {
        let report = self.write(|tx, ctx| {
            act_in(
                &mut SqliteLog::new(tx),
                ctx.config,
                origin,
                actor,
                author,
                now_ms(),
                id,
                action,
            )
        })?;
        // An erasure is acknowledged only once no byte of it is left in
        // the log file either.
        if report.erased > 0 {
            self.checkpoint()?;
        }
        Ok(report)
    }
}
