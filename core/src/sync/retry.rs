//! When a failed request is sent again, and after how long: decided once,
//! here, for the sync session and for the clients' plain calls (enrollment,
//! token rotation, supervisors' reads and actions). No clock and no sleep:
//! callers get a duration and do the waiting.

use std::time::Duration;

/// Longest wait a server's `Retry-After` can impose on one attempt: a sync
/// started by a person should fail and say so rather than hang for an hour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Retry policy for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts before giving up (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub first_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// Whether sending a request twice is harmless, which decides what may be
/// retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Idempotent: a push (changes are identified by their hash), a pull, a
    /// read, an enrollment (the same code within minutes returns the same
    /// device).
    Safe,
    /// Harmful once it reached the server (a token rotation revokes the
    /// token that asks): sent again only when it surely did not arrive.
    OnlyIfUnsent,
}

/// How one attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection was made: the request never left.
    Unsent,
    /// The connection failed once the request may have left (timeout,
    /// reset, a body cut short, an answer that cannot be read).
    Transport,
    /// The server answered with this status, not a success.
    Status(u16),
}

impl Replay {
    /// Whether an attempt that failed this way may be sent again: lost
    /// connections, 429 (refused before it was handled) and 5xx (a server
    /// fault) may succeed later; any other status is the server's final
    /// word.
    pub fn allows(self, failure: Failure) -> bool {
        match failure {
            Failure::Unsent | Failure::Status(429) => true,
            Failure::Transport => self == Replay::Safe,
            Failure::Status(s) => (500..=599).contains(&s) && self == Replay::Safe,
        }
    }
}

/// The attempts of one request: how long to wait after each failure, and
/// when to give up.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: Retry,
    failures: u32,
}

impl Backoff {
    /// No attempt failed yet.
    pub fn new(policy: Retry) -> Self {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// Counts a failed attempt: the wait before the next one (the doubling
    /// backoff, or the server's `Retry-After` if longer, up to
    /// [`MAX_RETRY_AFTER`]), or `None` once the attempts are used up.
    pub fn after_failure(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.policy.attempts.max(1) {
            return None;
        }
        let doubling = 1u32.checked_shl(self.failures - 1).unwrap_or(u32::MAX);
        let wait = self.policy.first_backoff.saturating_mul(doubling);
        Some(match retry_after {
            Some(asked) => wait.max(asked.min(MAX_RETRY_AFTER)),
            None => wait,
        })
    }

    /// A request went through: the next one gets every attempt again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_may_succeed_later_is_retried() {
        for status in [429, 500, 502, 503, 504] {
            assert!(Replay::Safe.allows(Failure::Status(status)), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 410, 413, 426] {
            assert!(!Replay::Safe.allows(Failure::Status(status)), "{status}");
        }
        assert!(Replay::Safe.allows(Failure::Transport));
        assert!(Replay::Safe.allows(Failure::Unsent));
        // A rotation that may have reached the server is never sent again.
        assert!(!Replay::OnlyIfUnsent.allows(Failure::Transport));
        assert!(!Replay::OnlyIfUnsent.allows(Failure::Status(500)));
        assert!(Replay::OnlyIfUnsent.allows(Failure::Unsent));
        assert!(Replay::OnlyIfUnsent.allows(Failure::Status(429)));
    }

    #[test]
    fn waits_double_and_attempts_are_bounded() {
        let mut b = Backoff::new(Retry {
            attempts: 4,
            first_backoff: Duration::from_millis(100),
        });
        assert_eq!(b.after_failure(None), Some(Duration::from_millis(100)));
        assert_eq!(b.after_failure(None), Some(Duration::from_millis(200)));
        assert_eq!(b.after_failure(None), Some(Duration::from_millis(400)));
        assert_eq!(b.after_failure(None), None);
        b.reset();
        assert_eq!(b.after_failure(None), Some(Duration::from_millis(100)));
    }

    #[test]
    fn a_longer_retry_after_wins_up_to_a_bound() {
        let mut b = Backoff::new(Retry::default());
        assert_eq!(
            b.after_failure(Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            b.after_failure(Some(Duration::from_millis(1))),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            b.after_failure(Some(Duration::from_secs(86_400))),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn one_attempt_means_no_retry() {
        for attempts in [0, 1] {
            let mut b = Backoff::new(Retry {
                attempts,
                first_backoff: Duration::from_millis(1),
            });
            assert_eq!(b.after_failure(None), None);
        }
    }
}
