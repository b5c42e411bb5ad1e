//! What the pages read of one team's records: the dashboard's view of the
//! core's queries. The queries themselves are the core's (`Store`'s read
//! model and aggregates); this trait only names the ones the dashboard
//! uses, so that a server keeping its teams elsewhere than in a SQLite
//! `Store` (PostgreSQL) serves the same pages by implementing it, and so
//! that the dashboard cannot write to a team's records.
//!
//! Every method blocks on storage: the pages call them on the blocking pool
//! (see `pages::blocking`), never on the async threads.

use std::collections::BTreeMap;

use carnet_core::store::{ActivityRow, Count, Fix, GroupBy, OpenRow, Page, Query, RecordDetails};
use carnet_core::{Record, RecordId, Store, TeamConfig};

use crate::DashboardError;

/// One team's records, read-only, as the pages see them. Times are ms since
/// the epoch; `since..until` is a half-open period.
pub trait TeamReads: Send + Sync {
    /// The team's configuration (name, sectors, categories, deadlines).
    fn config(&self) -> Result<TeamConfig, DashboardError>;
    /// Where the team's log stands: cached aggregates are recomputed only
    /// once it moves.
    fn log_head(&self) -> Result<u64, DashboardError>;
    /// A page of records matching `q` (lists and exports).
    fn list(&self, q: &Query) -> Result<Page, DashboardError>;
    /// How many records match `q`, grouped.
    fn count(&self, q: &Query, by: GroupBy) -> Result<Vec<Count>, DashboardError>;
    /// Every open report's columns, for the overdue counts.
    fn open_rows(&self) -> Result<Vec<OpenRow>, DashboardError>;
    /// One record.
    fn get(&self, id: RecordId) -> Result<Record, DashboardError>;
    /// One record with its conflicts and history.
    fn details(&self, id: RecordId) -> Result<RecordDetails, DashboardError>;
    /// The activity sessions of the period, for the funders' report.
    fn activity_rows(&self, since: i64, until: i64) -> Result<Vec<ActivityRow>, DashboardError>;
    /// The reports fixed in the period, with how long each took.
    fn fixes(&self, since: i64, until: i64) -> Result<Vec<Fix>, DashboardError>;
    /// Reports forwarded to a partner in the period.
    fn forwarded_count(&self, since: i64, until: i64) -> Result<u64, DashboardError>;
    /// Residents met, as counted on the period's notes.
    fn residents_met_on_notes(&self, since: i64, until: i64) -> Result<u64, DashboardError>;
    /// Referrals of the period per partner.
    fn referrals_by_partner(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, u64)>, DashboardError>;
    /// Records of the period per (kind, axis).
    fn axes_by_kind(
        &self,
        since: i64,
        until: i64,
    ) -> Result<BTreeMap<(String, String), u64>, DashboardError>;
}

/// The embedded server's teams (and the tests') are core stores.
impl TeamReads for Store {
    fn config(&self) -> Result<TeamConfig, DashboardError> {
        Ok(Store::config(self))
    }

    fn log_head(&self) -> Result<u64, DashboardError> {
        Ok(Store::log_head(self)?)
    }

    fn list(&self, q: &Query) -> Result<Page, DashboardError> {
        Ok(Store::list(self, q)?)
    }

    fn count(&self, q: &Query, by: GroupBy) -> Result<Vec<Count>, DashboardError> {
        Ok(Store::count(self, q, by)?)
    }

    fn open_rows(&self) -> Result<Vec<OpenRow>, DashboardError> {
        Ok(Store::open_rows(self)?)
    }

    fn get(&self, id: RecordId) -> Result<Record, DashboardError> {
        Ok(Store::get(self, id)?)
    }

    fn details(&self, id: RecordId) -> Result<RecordDetails, DashboardError> {
        Ok(Store::details(self, id)?)
    }

    fn activity_rows(&self, since: i64, until: i64) -> Result<Vec<ActivityRow>, DashboardError> {
        Ok(Store::activity_rows(self, since, until)?)
    }

    fn fixes(&self, since: i64, until: i64) -> Result<Vec<Fix>, DashboardError> {
        Ok(Store::fixes(self, since, until)?)
    }

    fn forwarded_count(&self, since: i64, until: i64) -> Result<u64, DashboardError> {
        Ok(Store::forwarded_count(self, since, until)?)
    }

    fn residents_met_on_notes(&self, since: i64, until: i64) -> Result<u64, DashboardError> {
        Ok(Store::residents_met_on_notes(self, since, until)?)
    }

    fn referrals_by_partner(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, u64)>, DashboardError> {
        Ok(Store::referrals_by_partner(self, since, until)?)
    }

    fn axes_by_kind(
        &self,
        since: i64,
        until: i64,
    ) -> Result<BTreeMap<(String, String), u64>, DashboardError> {
        Ok(Store::axes_by_kind(self, since, until)?)
    }
}
