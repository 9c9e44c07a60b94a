//! When to draw: at most one frame per interval (60 fps), only when something changed, and
//! once a second while a running clock is on screen. Pure: every call takes `now`.

use std::time::{Duration, Instant};

/// The shortest time between two frames (60 frames a second).
pub const MIN_FRAME_INTERVAL: Duration = Duration::from_nanos(1_000_000_000 / 60);

/// How often a screen showing a running clock is redrawn.
pub const CLOCK_INTERVAL: Duration = Duration::from_secs(1);

/// Folds redraw requests into frames no closer than `min_interval`.
#[derive(Debug, Clone)]
pub struct FrameLimiter {
    min_interval: Duration,
    last_frame: Option<Instant>,
}

impl Default for FrameLimiter {
    fn default() -> Self {
        FrameLimiter::new(MIN_FRAME_INTERVAL)
    }
}

impl FrameLimiter {
    /// A limiter with the given minimum interval between frames.
    pub fn new(min_interval: Duration) -> FrameLimiter {
        FrameLimiter {
            min_interval,
            last_frame: None,
        }
    }

    /// The earliest instant the next frame may be drawn.
    pub fn next_allowed(&self) -> Option<Instant> {
        self.last_frame.map(|last| last + self.min_interval)
    }

    /// Whether a frame may be drawn at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.next_allowed().is_none_or(|at| now >= at)
    }

    /// How long to wait from `now` before a frame may be drawn (zero when it may be now).
    pub fn delay(&self, now: Instant) -> Duration {
        self.next_allowed()
            .map(|at| at.saturating_duration_since(now))
            .unwrap_or(Duration::ZERO)
    }

    /// Notes that a frame was drawn at `now`.
    pub fn drawn(&mut self, now: Instant) {
        self.last_frame = Some(now);
    }
}

/// How long the event loop may sleep: until a frame is allowed when the screen is dirty, until
/// the next clock tick when a clock is shown, else indefinitely (`None`).
pub fn wait_time(
    limiter: &FrameLimiter,
    dirty: bool,
    clock_tick: Option<Instant>,
    now: Instant,
) -> Option<Duration> {
    let frame = dirty.then(|| limiter.delay(now));
    let clock = clock_tick.map(|at| at.saturating_duration_since(now));
    match (frame, clock) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_frame_is_allowed_at_once() {
        let limiter = FrameLimiter::default();
        let now = Instant::now();
        assert!(limiter.ready(now));
        assert_eq!(limiter.delay(now), Duration::ZERO);
    }

    #[test]
    fn frames_are_spaced_by_the_minimum_interval() {
        let mut limiter = FrameLimiter::new(Duration::from_millis(16));
        let t0 = Instant::now();
        limiter.drawn(t0);
        assert!(!limiter.ready(t0 + Duration::from_millis(10)));
        assert_eq!(
            limiter.delay(t0 + Duration::from_millis(10)),
            Duration::from_millis(6)
        );
        assert!(limiter.ready(t0 + Duration::from_millis(16)));
        assert_eq!(limiter.delay(t0 + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn idle_screen_without_clock_sleeps_indefinitely() {
        let limiter = FrameLimiter::default();
        assert_eq!(wait_time(&limiter, false, None, Instant::now()), None);
    }

    #[test]
    fn dirty_screen_waits_for_the_limiter_and_clock_for_its_tick() {
        let mut limiter = FrameLimiter::new(Duration::from_millis(16));
        let t0 = Instant::now();
        limiter.drawn(t0);
        let tick = Some(t0 + Duration::from_millis(500));
        assert_eq!(
            wait_time(&limiter, true, tick, t0),
            Some(Duration::from_millis(16))
        );
        assert_eq!(
            wait_time(&limiter, false, tick, t0),
            Some(Duration::from_millis(500))
        );
    }
}
