//! Where the run driver reads the time it passes to the state machine. Its monotonic half is
//! tokio's, so tests with paused tokio time move it without sleeping.

use tokio::time::Instant;

use super::machine::Now;
use crate::time::Timestamp;

/// A source of moments.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Now;
}

/// The wall clock, and tokio's monotonic clock from when it was made.
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
