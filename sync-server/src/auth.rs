//! Who is calling: the bearer token is hashed and looked up, the device's
//! standing checked (a wipe order answers 410 before anything else, a
//! revocation 401, a device unseen for too long is revoked on the spot),
//! then its request rate. Handlers take [`Authed`] (any role) or
//! [`Supervisor`], so a route cannot forget the check.
//!
//! Requests without a token (enrollment, the dashboard's sign-in) are
//! guarded by a throttle on failures ([`FailureCounts`]), keyed by the
//! client's address ([`client_addr`]) and by the whole deployment.
//!
//! Both limits are traits: counted in memory ([`RateLimiter`],
//! [`AttemptThrottle`]) by the embedded server, which runs as one instance;
//! in the database by servers sharing one, so that a budget is counted once
//! for the deployment however many instances a client's requests reach.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use carnet_core::now_ms;

use crate::AppState;
use crate::error::ServerError;
use crate::storage::{Device, REVOKED_INACTIVE, Role};

/// An authenticated device in good standing, of any role.
pub struct Authed(pub Device);

/// An authenticated supervisor.
pub struct Supervisor(pub Device);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or(ServerError::Unauthorized)?
            .to_string();
        let storage = state.storage.clone();
        let limiter = state.limiter.clone();
        let inactivity = state
            .config
            .device_inactivity()
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let device = state
            .blocking(move || {
                let Some(mut device) = storage.authenticate(&token)? else {
                    return Ok(None);
                };
                let now = now_ms();
                let overdue = inactivity.is_some_and(|ms| {
                    device.last_seen.unwrap_or(device.enrolled_at) < now.saturating_sub(ms)
                });
                if device.revoked_at.is_none() && overdue {
                    // Unseen too long: revoked now rather than at the next
                    // sweep, so a found phone cannot sync first.
                    storage.revoke_inactive(inactivity.unwrap_or(i64::MAX))?;
                    tracing::info!(device = %device.id, team = %device.team_id, "device revoked: inactive");
                    device.revoked_at = Some(now);
                    device.revoked_reason = Some(REVOKED_INACTIVE.into());
                } else {
                    storage.touch(&device.id)?;
                }
                // Only a device in good standing spends its budget (a
                // wipe order or a revocation is answered whatever it is).
                if device.revoked_at.is_none() && device.wipe_ordered_at.is_none() {
                    limiter.check(&device.id)?;
                }
                Ok(Some(device))
            })
            .await?
            .ok_or(ServerError::Unauthorized)?;
        if device.wipe_ordered_at.is_some() {
            tracing::info!(device = %device.id, "wipe order delivered");
            return Err(ServerError::WipeOrdered);
        }
        if device.revoked_at.is_some() {
            return Err(ServerError::Unauthorized);
        }
        Ok(Authed(device))
    }
}

impl FromRequestParts<AppState> for Supervisor {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authed(device) = Authed::from_request_parts(parts, state).await?;
        if device.role != Role::Supervisor {
            return Err(ServerError::Forbidden(
                "only a supervisor's device may use this route",
            ));
        }
        Ok(Supervisor(device))
    }
}

/// Per-device request budgets: a token bucket per device, `burst` requests
/// at once, refilled at `rate` per second. Methods may block on storage
/// (the server calls them on the blocking pool).
pub trait TokenBuckets: Send + Sync + 'static {
    /// Takes one token for `key`, or says how many seconds to wait
    /// ([`ServerError::RateLimited`]).
    fn check(&self, key: &str) -> Result<(), ServerError>;

    /// Forgets full buckets (they carry no information); the server calls
    /// it daily.
    fn forget_stale(&self) -> Result<(), ServerError> {
        Ok(())
    }
}

/// [`TokenBuckets`] in memory, for one instance; a restart forgives
/// everyone.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter; `rate` 0 lets everything through.
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

impl TokenBuckets for RateLimiter {
    fn check(&self, key: &str) -> Result<(), ServerError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Full buckets carry no information: forget them.
            let burst = self.burst;
            let rate = self.rate;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(ServerError::RateLimited(
                ((1.0 - *tokens) / self.rate).ceil() as u64,
            ))
        }
    }
}

/// The client's address, as the failure throttle keys it: the peer of the
/// connection ([`ConnectInfo`], present when the server runs through
/// [`crate::serve`]), or, only when `trusted_proxy` is set, the last entry of
/// `X-Forwarded-For` (the one our proxy appended; earlier ones are the
/// client's own word). IPv6 addresses are reduced to their /64, which one
/// host usually holds whole. `"unknown"` when there is none (in-process
/// tests), so that such requests share one budget.
pub fn client_addr(parts: &Parts, trusted_proxy: bool) -> String {
    let forwarded = trusted_proxy
        .then(|| parts.headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    match forwarded.or(peer) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
}

/// The client's address as an extractor (see [`client_addr`]).
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts, state.config.trusted_proxy)))
    }
}

/// How many more failures the whole deployment tolerates than one address:
/// enough that one guesser cannot lock every phone out of enrollment, few
/// enough that guessing from many addresses stays hopeless.
const DEPLOYMENT_FACTOR: u32 = 20;
/// Same, for one team, where the failing request names it.
const TEAM_FACTOR: u32 = 5;

/// Counts failed attempts (wrong enrollment codes, failed dashboard
/// sign-ins) per key in fixed windows, and refuses further attempts with 429
/// once a key has failed too often, before the attempt is tried. Keys:
/// the client's address (`max` failures per window), the deployment (20 ×
/// `max`, since a wrong code names no team) and a team when the request
/// names one (5 × `max`). Successes are not counted. Methods may block on
/// storage (the server calls them on the blocking pool).
pub trait FailureCounts: Send + Sync + 'static {
    /// Answers 429 (with the seconds until the window ends) if `client`,
    /// the deployment, or `team_id` when the request names one, has failed
    /// too often; call it before the attempt.
    fn check(&self, client: &str, team_id: Option<&str>) -> Result<(), ServerError>;

    /// Counts a failed attempt of `client` (and of the deployment, and of
    /// `team_id` when the request named one).
    fn fail(&self, client: &str, team_id: Option<&str>) -> Result<(), ServerError>;

    /// Forgets windows that ended; the server calls it daily.
    fn forget_stale(&self) -> Result<(), ServerError> {
        Ok(())
    }
}

/// The keys a failure counts against, each with its budget: `max` × factor.
pub(crate) fn failure_keys(client: &str, team_id: Option<&str>) -> Vec<(String, u32)> {
    let mut keys = vec![
        (format!("addr:{client}"), 1),
        (ALL.to_string(), DEPLOYMENT_FACTOR),
    ];
    if let Some(team) = team_id {
        keys.push((format!("team:{team}"), TEAM_FACTOR));
    }
    keys
}

/// [`FailureCounts`] in memory, for one instance: a restart forgives
/// everyone.
pub struct AttemptThrottle {
    max: u32,
    window: Duration,
    /// key → (failures, start of its window)
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// The deployment-wide key.
const ALL: &str = "all";

impl AttemptThrottle {
    /// A throttle allowing `max` failures per address per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        AttemptThrottle {
            max: max.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn check_at(
        &self,
        client: &str,
        team_id: Option<&str>,
        now: Instant,
    ) -> Result<(), ServerError> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None::<Duration>;
        for (key, factor) in failure_keys(client, team_id) {
            if let Some(&(n, start)) = failures.get(&key) {
                let elapsed = now.saturating_duration_since(start);
                if elapsed < self.window && n >= self.max.saturating_mul(factor) {
                    let left = self.window - elapsed;
                    wait = Some(wait.map_or(left, |w| w.max(left)));
                }
            }
        }
        match wait {
            Some(left) => Err(ServerError::RateLimited(
                left.as_secs_f64().ceil().max(1.0) as u64
            )),
            None => Ok(()),
        }
    }

    fn fail_at(&self, client: &str, team_id: Option<&str>, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 10_000 {
            // Expired windows carry no information. The deployment key caps
            // the failures counted per window, hence the live keys.
            let window = self.window;
            failures.retain(|_, (_, start)| now.saturating_duration_since(*start) < window);
        }
        for (key, _) in failure_keys(client, team_id) {
            let entry = failures.entry(key).or_insert((0, now));
            if now.saturating_duration_since(entry.1) >= self.window {
                *entry = (0, now);
            }
            entry.0 = entry.0.saturating_add(1);
        }
    }
}

impl FailureCounts for AttemptThrottle {
    fn check(&self, client: &str, team_id: Option<&str>) -> Result<(), ServerError> {
        self.check_at(client, team_id, Instant::now())
    }

    fn fail(&self, client: &str, team_id: Option<&str>) -> Result<(), ServerError> {
        self.fail_at(client, team_id, Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_are_refused_per_address_until_the_window_ends() {
        let t = AttemptThrottle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            t.check_at("a", None, start).unwrap();
            t.fail_at("a", None, start);
        }
        let later = start + Duration::from_secs(20);
        assert!(matches!(
            t.check_at("a", None, later),
            Err(ServerError::RateLimited(40))
        ));
        t.check_at("b", None, later).unwrap();
        t.check_at("a", None, start + Duration::from_secs(60))
            .unwrap();
    }

    #[test]
    fn the_deployment_and_a_team_have_their_own_larger_budgets() {
        let t = AttemptThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..TEAM_FACTOR {
            t.fail_at(&format!("x{i}"), Some("team"), now);
        }
        assert!(t.check_at("fresh", Some("team"), now).is_err());
        t.check_at("fresh", Some("other"), now).unwrap();
        for i in TEAM_FACTOR..DEPLOYMENT_FACTOR {
            t.fail_at(&format!("x{i}"), None, now);
        }
        assert!(t.check_at("fresh", None, now).is_err());
    }

    #[test]
    fn a_burst_passes_then_the_bucket_says_when_to_come_back() {
        let l = RateLimiter::new(1.0, 3);
        for _ in 0..3 {
            l.check("a").unwrap();
        }
        assert!(matches!(l.check("a"), Err(ServerError::RateLimited(1))));
        l.check("b").unwrap();
        RateLimiter::new(0.0, 1).check("a").unwrap();
    }
}
