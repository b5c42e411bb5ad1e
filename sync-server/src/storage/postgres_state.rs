//! What an embedded server keeps per instance, kept in the PostgreSQL
//! database instead when the server serves from one, so that no instance
//! holds anything another needs: the dashboard's sessions
//! ([`PgSessions`]) and access log ([`PgAccessLog`]), the per-device token
//! buckets ([`PgTokenBuckets`]) and the failure counts on codes
//! ([`PgFailureCounts`]), each check one atomic statement. Periodic work
//! (the inactive-device sweep, the purges) runs in [`Round`]s that one
//! instance at a time takes ([`run_alone`]).
//!
//! They use the pool of [`super::PostgresStorage`] ([`super::PostgresStorage::pool`]);
//! the tables are `migrations/postgres/002_sessions_access_log_limits.sql`.

use std::time::Duration;

use carnet_dashboard::access_log::{pack_ids, unpack_ids};
use carnet_dashboard::session::{Session, hash_of, id_hash, new_session};
use carnet_dashboard::{
    Access, AccessEntry, AccessLogStore, DashboardError, SessionStore, Supervisor,
};
use postgres::{NoTls, Row};
use r2d2_postgres::PostgresConnectionManager;

use super::postgres::Pool;
use crate::auth::{FailureCounts, TokenBuckets, failure_keys};
use crate::error::{Result, ServerError};

/// Periodic work that one instance of a deployment does at a time: each
/// has its own advisory lock, so that two rounds of different kinds never
/// wait on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The daily revocation of devices unseen for too long.
    InactiveSweep,
    /// The purge of the access log past its retention.
    AccessLogPurge,
    /// The purge of expired dashboard sessions.
    SessionPurge,
    /// The deletion of erased and unreferenced photo blobs.
    PhotoCollection,
}

impl Round {
    /// Its advisory lock's key: any constants, as long as only this takes
    /// them (the migrations take 7302454151).
    fn key(self) -> i64 {
        match self {
            Round::InactiveSweep => 7_302_454_152,
            Round::AccessLogPurge => 7_302_454_153,
            Round::SessionPurge => 7_302_454_154,
            Round::PhotoCollection => 7_302_454_155,
        }
    }
}

/// Runs `round` on one connection of `pool` if no other instance is
/// running it now: takes the round's session-level advisory lock without
/// waiting (`pg_try_advisory_lock`), runs `f` on that connection, and
/// releases it. `None`, with `f` not run, when another holds it: that
/// instance does this round, this one skips it. A connection lost midway
/// releases the lock with it.
pub fn run_alone<T>(
    pool: &Pool,
    round: Round,
    f: impl FnOnce(&mut postgres::Client) -> Result<T>,
) -> Result<Option<T>> {
    let mut conn = pool.get()?;
    let taken: bool = conn
        .query_one("SELECT pg_try_advisory_lock($1)", &[&round.key()])?
        .get(0);
    if !taken {
        return Ok(None);
    }
    let done = f(&mut conn);
    conn.execute("SELECT pg_advisory_unlock($1)", &[&round.key()])?;
    done.map(Some)
}

type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// A database failure as the dashboard reports it (its cause only: these
/// tables hold ids and names, and statements carry them as parameters).
fn dashboard(e: impl Into<ServerError>) -> DashboardError {
    DashboardError::Core(carnet_core::Error::Backend(Box::new(e.into())))
}

/// The dashboard's sessions in the shared database.
pub struct PgSessions {
    pool: Pool,
}

impl PgSessions {
    /// Sessions in the database of `pool`.
    pub fn new(pool: Pool) -> PgSessions {
        PgSessions { pool }
    }

    fn conn(&self) -> std::result::Result<Conn, DashboardError> {
        self.pool.get().map_err(dashboard)
    }
}

impl SessionStore for PgSessions {
    fn create_at(
        &self,
        who: &Supervisor,
        ttl: Duration,
        pending: bool,
        now: i64,
    ) -> std::result::Result<(String, Session), DashboardError> {
        let new = new_session(who, ttl, pending, now);
        self.conn()?
            .execute(
                "INSERT INTO dashboard_sessions (id_hash, team_id, account_id, name, email, actor, csrf, created_at, expires_at, pending)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &new.id_hash,
                    &who.team_id,
                    &who.account_id,
                    &who.name,
                    &who.email,
                    &who.actor,
                    &new.session.csrf,
                    &new.created_at,
                    &new.session.expires_at,
                    &pending,
                ],
            )
            .map_err(dashboard)?;
        Ok((new.id, new.session))
    }

    fn get_at(&self, id: &str, now: i64) -> std::result::Result<Option<Session>, DashboardError> {
        let Some(hash) = id_hash(id) else {
            return Ok(None);
        };
        let row = self
            .conn()?
            .query_opt(
                "SELECT team_id, account_id, name, email, actor, csrf, expires_at, pending
                 FROM dashboard_sessions WHERE id_hash = $1 AND expires_at > $2",
                &[&hash, &now],
            )
            .map_err(dashboard)?;
        Ok(row.map(|r| Session {
            supervisor: Supervisor {
                team_id: r.get(0),
                account_id: r.get(1),
                name: r.get(2),
                email: r.get(3),
                actor: r.get(4),
            },
            csrf: r.get(5),
            expires_at: r.get(6),
            pending: r.get(7),
        }))
    }

    fn delete(&self, id: &str) -> std::result::Result<(), DashboardError> {
        if let Some(hash) = id_hash(id) {
            self.conn()?
                .execute(
                    "DELETE FROM dashboard_sessions WHERE id_hash = $1",
                    &[&hash],
                )
                .map_err(dashboard)?;
        }
        Ok(())
    }

    fn end_account(
        &self,
        account_id: &str,
        except: Option<&str>,
    ) -> std::result::Result<usize, DashboardError> {
        let keep = except.map(hash_of).unwrap_or_default();
        let n = self
            .conn()?
            .execute(
                "DELETE FROM dashboard_sessions WHERE account_id = $1 AND id_hash <> $2",
                &[&account_id, &keep],
            )
            .map_err(dashboard)?;
        Ok(n as usize)
    }

    fn purge_expired(&self) -> std::result::Result<Option<usize>, DashboardError> {
        run_alone(&self.pool, Round::SessionPurge, |c| {
            Ok(c.execute(
                "DELETE FROM dashboard_sessions WHERE expires_at <= $1",
                &[&carnet_core::now_ms()],
            )? as usize)
        })
        .map_err(dashboard)
    }
}

/// The access log in the shared database: append-only there too (a
/// trigger refuses every update, and every deletion of an entry younger
/// than the retention).
pub struct PgAccessLog {
    pool: Pool,
    retention_days: u32,
}

impl PgAccessLog {
    /// The log in the database of `pool`, keeping entries `retention_days`
    /// days (at least one), which the database's guard on deletions then
    /// follows.
    pub fn new(pool: Pool, retention_days: u32) -> Result<PgAccessLog> {
        let retention_days = retention_days.max(1);
        pool.get()?.execute(
            "INSERT INTO access_log_retention (id, days) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET days = excluded.days",
            &[&i32::try_from(retention_days).unwrap_or(i32::MAX)],
        )?;
        Ok(PgAccessLog {
            pool,
            retention_days,
        })
    }

    fn select(
        &self,
        order_limit: &str,
        team_id: &str,
        limit: Option<i64>,
    ) -> std::result::Result<Vec<AccessEntry>, DashboardError> {
        let rows = self
            .pool
            .get()
            .map_err(dashboard)?
            .query(
                &format!(
                    "SELECT seq, at, team_id, device_id, person, client, action, record_ids
                     FROM access_log WHERE team_id = $1 {order_limit}"
                ),
                &[&team_id, &limit],
            )
            .map_err(dashboard)?;
        Ok(rows.iter().map(entry_from_row).collect())
    }
}

fn entry_from_row(r: &Row) -> AccessEntry {
    AccessEntry {
        seq: r.get(0),
        at: r.get(1),
        team_id: r.get(2),
        device_id: r.get(3),
        person: r.get(4),
        client: r.get(5),
        action: r.get(6),
        record_ids: unpack_ids(r.get(7)),
    }
}

impl AccessLogStore for PgAccessLog {
    fn record(&self, access: &Access<'_>) -> std::result::Result<(), DashboardError> {
        self.pool
            .get()
            .map_err(dashboard)?
            .execute(
                "INSERT INTO access_log (team_id, at, device_id, person, client, action, n_records, record_ids)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &access.team_id,
                    &carnet_core::now_ms(),
                    &access.device_id,
                    &access.person,
                    &access.client,
                    &access.action,
                    &i32::try_from(access.record_ids.len()).unwrap_or(i32::MAX),
                    &pack_ids(access.record_ids),
                ],
            )
            .map_err(dashboard)?;
        Ok(())
    }

    fn recent(
        &self,
        team_id: &str,
        limit: u32,
    ) -> std::result::Result<Vec<AccessEntry>, DashboardError> {
        self.select(
            "ORDER BY seq DESC LIMIT $2",
            team_id,
            Some(i64::from(limit)),
        )
    }

    fn entries(&self, team_id: &str) -> std::result::Result<Vec<AccessEntry>, DashboardError> {
        // LIMIT NULL is no limit.
        self.select("ORDER BY seq LIMIT $2", team_id, None)
    }

    fn retention_days(&self) -> u32 {
        self.retention_days
    }

    fn purge_expired(&self) -> std::result::Result<Option<usize>, DashboardError> {
        run_alone(&self.pool, Round::AccessLogPurge, |c| {
            Ok(c.execute("DELETE FROM access_log WHERE at < access_log_cutoff()", &[])? as usize)
        })
        .map_err(dashboard)
    }
}

/// Per-device token buckets in the shared database: every instance takes
/// from one bucket per device, so the budget is the deployment's.
pub struct PgTokenBuckets {
    pool: Pool,
    rate: f64,
    burst: f64,
}

impl PgTokenBuckets {
    /// Buckets of `burst` tokens (at least one) refilled at `rate` per
    /// second; `rate` 0 lets everything through without asking the database.
    pub fn new(pool: Pool, rate: f64, burst: u32) -> PgTokenBuckets {
        PgTokenBuckets {
            pool,
            rate,
            burst: f64::from(burst.max(1)),
        }
    }
}

/// The bucket refilled since its last request, to at most the burst
/// (`$2` rate, `$3` burst; `now` the database's clock, never going back).
const REFILLED: &str = "least($3::float8, b.tokens + greatest(0, excluded.at - b.at) * $2::float8)";

impl TokenBuckets for PgTokenBuckets {
    /// One statement, atomic under concurrent requests: creates the bucket
    /// full (less this request) or refills it, takes a token if there is a
    /// whole one, and says whether it did.
    fn check(&self, key: &str) -> Result<()> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let row = self.pool.get()?.query_one(
            &format!(
                "INSERT INTO rate_buckets AS b (device_id, tokens, at, granted)
                 VALUES ($1, $3::float8 - 1, extract(epoch FROM clock_timestamp())::float8, true)
                 ON CONFLICT (device_id) DO UPDATE SET
                     tokens = {REFILLED} - CASE WHEN {REFILLED} >= 1 THEN 1 ELSE 0 END,
                     granted = {REFILLED} >= 1,
                     at = greatest(b.at, excluded.at)
                 RETURNING tokens, granted"
            ),
            &[&key, &self.rate, &self.burst],
        )?;
        let (tokens, granted): (f64, bool) = (row.get(0), row.get(1));
        if granted {
            Ok(())
        } else {
            Err(ServerError::RateLimited(
                ((1.0 - tokens) / self.rate).ceil().max(1.0) as u64,
            ))
        }
    }

    fn forget_stale(&self) -> Result<()> {
        if self.rate > 0.0 {
            self.pool.get()?.execute(
                "DELETE FROM rate_buckets
                 WHERE tokens + (extract(epoch FROM clock_timestamp())::float8 - at) * $1::float8
                       >= $2::float8",
                &[&self.rate, &self.burst],
            )?;
        }
        Ok(())
    }
}

/// Failure counts on codes in the shared database: a guesser spreading
/// attempts over instances meets one budget.
pub struct PgFailureCounts {
    pool: Pool,
    max: u32,
    window: f64,
}

impl PgFailureCounts {
    /// Counts allowing `max` failures (at least one) per address per `window`.
    pub fn new(pool: Pool, max: u32, window: Duration) -> PgFailureCounts {
        PgFailureCounts {
            pool,
            max: max.max(1),
            window: window.as_secs_f64(),
        }
    }

    fn keys(&self, client: &str, team_id: Option<&str>) -> (Vec<String>, Vec<i32>) {
        failure_keys(client, team_id)
            .into_iter()
            .map(|(key, factor)| {
                let limit = self.max.saturating_mul(factor);
                (key, i32::try_from(limit).unwrap_or(i32::MAX))
            })
            .unzip()
    }
}

impl FailureCounts for PgFailureCounts {
    fn check(&self, client: &str, team_id: Option<&str>) -> Result<()> {
        let (keys, limits) = self.keys(client, team_id);
        let left: Option<f64> = self
            .pool
            .get()?
            .query_one(
                "SELECT max(f.window_start + $3 - t.now)
                 FROM failed_attempts f
                 JOIN unnest($1::text[], $2::int[]) AS k (key, lim) ON k.key = f.key
                 CROSS JOIN (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) t
                 WHERE t.now - f.window_start < $3 AND f.failures >= k.lim",
                &[&keys, &limits, &self.window],
            )?
            .get(0);
        match left {
            Some(left) => Err(ServerError::RateLimited(left.ceil().max(1.0) as u64)),
            None => Ok(()),
        }
    }

    /// One statement for every key, taken in the same order by every
    /// failure (address, deployment, team), so that concurrent failures
    /// never deadlock.
    fn fail(&self, client: &str, team_id: Option<&str>) -> Result<()> {
        let (keys, _) = self.keys(client, team_id);
        self.pool.get()?.execute(
            "INSERT INTO failed_attempts AS f (key, failures, window_start)
             SELECT key, 1, extract(epoch FROM clock_timestamp())::float8
             FROM unnest($1::text[]) AS key
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN excluded.window_start - f.window_start >= $2 THEN 1
                                 ELSE least(f.failures, 2147483646) + 1 END,
                 window_start = CASE WHEN excluded.window_start - f.window_start >= $2
                                     THEN excluded.window_start ELSE f.window_start END",
            &[&keys, &self.window],
        )?;
        Ok(())
    }

    fn forget_stale(&self) -> Result<()> {
        self.pool.get()?.execute(
            "DELETE FROM failed_attempts
             WHERE extract(epoch FROM clock_timestamp())::float8 - window_start >= $1",
            &[&self.window],
        )?;
        Ok(())
    }
}
