//! Where the run driver reads the time it passes to the state machine. Its monotonic half is
//! tokio's, so tests with paused tokio time move it without sleeping.

use tokio::time::Instant;

use super::machine::Now;
use crate::time::Timestamp;

/// A source of moments.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Now;
}

/// The wall clock, and tokio's monotonic clock from when it was made.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic time starts now.
    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            wall: Timestamp::now(),
            mono: self.origin.elapsed(),
        }
    }
}

/// A clock that stands still until it is moved: tests inject it to see the engine's times
/// (run and step records, retry starts, gate decisions, cache ages) come from it.
#[derive(Debug)]
pub struct ManualClock {
    wall_ms: std::sync::atomic::AtomicU64,
    mono_ms: std::sync::atomic::AtomicU64,
}

impl ManualClock {
    /// A clock reading `wall`, monotonic time zero.
    pub fn at(wall: Timestamp) -> ManualClock {
        ManualClock {
            wall_ms: wall.0.into(),
            mono_ms: 0.into(),
        }
    }

    /// Moves both halves forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        use std::sync::atomic::Ordering::SeqCst;
        let ms = by.as_millis() as u64;
        self.wall_ms.fetch_add(ms, SeqCst);
        self.mono_ms.fetch_add(ms, SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Now {
        use std::sync::atomic::Ordering::SeqCst;
        Now {
            wall: Timestamp(self.wall_ms.load(SeqCst)),
            mono: std::time::Duration::from_millis(self.mono_ms.load(SeqCst)),
        }
    }
}
