//! Who is calling: the bearer token is hashed and looked up, the device's
//! standing checked (a wipe order answers 410 before anything else, a
//! revocation 401), then its request rate. Handlers take [`Authed`] (any
//! role) or [`Supervisor`], so a route cannot forget the check.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::ServerError;
use crate::storage::{Device, Role};

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
        let device = state
            .blocking(move || {
                let device = storage.authenticate(&token)?;
                if let Some(d) = &device {
                    storage.touch(&d.id)?;
                }
                Ok(device)
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
        state.limiter.check(&device.id)?;
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

/// A token bucket per device: `burst` requests at once, refilled at `rate`
/// per second. Kept in memory; a restart forgives everyone.
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

    /// Takes one token for `key`, or says how many seconds to wait.
    pub fn check(&self, key: &str) -> Result<(), ServerError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
