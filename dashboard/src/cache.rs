//! Aggregates kept until the team's log moves. A team's records change only
//! when a device syncs (or the server writes), and every change appends to
//! the store's change log, so the log's head is an exact version: an
//! aggregate computed at head `h` is valid while the head is still `h`.
//! Supervisors reload and switch between pages far more often than devices
//! sync; this makes every view after the first one after a sync cheap.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::DashboardError;

type Entry = (u64, Arc<dyn Any + Send + Sync>);

/// Computed values by key, each tagged with the log head it was computed at.
#[derive(Default)]
pub struct Cache {
    map: Mutex<HashMap<String, Entry>>,
}

/// Entries kept at most; past it the cache starts over (periods are few).
const MAX_ENTRIES: usize = 256;

impl Cache {
    /// The value for `key` computed at `head`, computing it if needed.
    pub fn get_or<T: Clone + Send + Sync + 'static>(
        &self,
        key: String,
        head: u64,
        f: impl FnOnce() -> Result<T, DashboardError>,
    ) -> Result<T, DashboardError> {
        if let Some((h, v)) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(&key)
            && *h == head
            && let Some(v) = v.downcast_ref::<T>()
        {
            return Ok(v.clone());
        }
        let v = f()?;
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (head, Arc::new(v.clone())));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_live_until_the_head_moves() {
        let c = Cache::default();
        let calls = std::cell::Cell::new(0);
        let get = |head: u64| {
            c.get_or("k".into(), head, || {
                calls.set(calls.get() + 1);
                Ok::<_, DashboardError>(head * 10)
            })
            .unwrap()
        };
        assert_eq!(get(1), 10);
        assert_eq!(get(1), 10);
        assert_eq!(get(2), 20);
        assert_eq!(calls.get(), 2);
    }
}
