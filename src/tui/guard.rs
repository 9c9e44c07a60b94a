//! The approval prompt's key guard: keys pressed in the first moments after the prompt opens
//! are dropped, so a key typed for something else (a double press of the key that opened it, a
//! burst typed ahead) never decides a gate. Pure: every call takes `now`.

use std::time::{Duration, Instant};

/// How long a freshly opened approval prompt ignores keys, unless `[tui] approval_guard` says.
pub const DEFAULT_APPROVAL_GUARD: Duration = Duration::from_millis(500);

/// A window, from the moment a prompt opens, in which its keys are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGuard {
    until: Instant,
}

impl KeyGuard {
    /// A guard opened at `now` that holds for `interval` (zero: never holds).
    pub fn opened(now: Instant, interval: Duration) -> KeyGuard {
        KeyGuard {
            until: now + interval,
        }
    }

    /// Whether a key handled at `now` is to be ignored.
    pub fn holds(&self, now: Instant) -> bool {
        now < self.until
    }

    /// When keys start to count (the screen redraws then, to take the "ignored" hint away).
    pub fn ends_at(&self) -> Instant {
        self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_inside_the_interval_are_ignored_and_from_its_end_they_count() {
        let t0 = Instant::now();
        let guard = KeyGuard::opened(t0, Duration::from_millis(500));
        assert!(guard.holds(t0));
        assert!(guard.holds(t0 + Duration::from_millis(100)));
        assert!(guard.holds(t0 + Duration::from_millis(499)));
        assert!(!guard.holds(t0 + Duration::from_millis(500)));
        assert!(!guard.holds(t0 + Duration::from_secs(60)));
        assert_eq!(guard.ends_at(), t0 + Duration::from_millis(500));
    }

    #[test]
    fn a_zero_interval_never_holds() {
        let t0 = Instant::now();
        assert!(!KeyGuard::opened(t0, Duration::ZERO).holds(t0));
    }
}
