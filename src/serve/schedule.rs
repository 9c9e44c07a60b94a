//! A schedule's fire times, pure: the next fire after a moment, the fires missed between two
//! moments, and which of those a catch-up policy runs. Time is passed in (`Timestamp`s), so
//! the scheduler (`scheduler.rs`) and its tests decide what "now" is.

use anyhow::anyhow;
use jiff::Zoned;
use jiff::tz::TimeZone;

use crate::spec::schedule::{Catchup, Schedule, parse_cron, parse_zone};
use crate::store::Timestamp;

/// At most this many missed fires are run by `catchup: all` (the newest ones).
pub const MAX_CATCHUP: usize = 100;

/// Missed fires looked through at most (a week of a fire every few seconds).
const MAX_SCAN: usize = 200_000;

/// The fire times of one schedule: its expressions read in its zone.
#[derive(Debug, Clone)]
pub struct Fires {
    crons: Vec<croner::Cron>,
    zone: TimeZone,
}

impl Fires {
    /// The fires of a checked schedule.
    pub fn new(schedule: &Schedule) -> anyhow::Result<Fires> {
        let crons = schedule
            .cron
            .iter()
            .map(|c| parse_cron(c).map_err(|e| anyhow!("`{c}`: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let zone = parse_zone(&schedule.timezone).map_err(|e| anyhow!("{e}"))?;
        Ok(Fires { crons, zone })
    }

    /// The moment `t` in the schedule's zone.
    pub fn zoned(&self, t: Timestamp) -> Option<Zoned> {
        let ts = jiff::Timestamp::from_millisecond(i64::try_from(t.0).ok()?).ok()?;
        Some(ts.to_zoned(self.zone.clone()))
    }

    /// The first fire strictly after `t` (of any expression); `None` when none ever comes.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let from = self.zoned(t)?;
        self.crons
            .iter()
            .filter_map(|c| {
                let mut next = c.find_next_occurrence(&from, false).ok()?;
                // A moment within a second: the search works in whole seconds.
                while millis(&next)? <= t.0 {
                    next = c.find_next_occurrence(&next, false).ok()?;
                }
                millis(&next)
            })
            .min()
            .map(Timestamp)
    }

    /// The fires in `(after, upto]`, oldest first: the newest `cap` of them. The search goes
    /// forward (croner's backward search misses fires early in a year) and gives up after
    /// `MAX_SCAN` fires, with a warning.
    pub fn between(&self, after: Timestamp, upto: Timestamp, cap: usize) -> Vec<Timestamp> {
        let mut newest = std::collections::VecDeque::with_capacity(cap.min(MAX_CATCHUP));
        let mut cursor = after;
        for _ in 0..MAX_SCAN {
            match self.next_after(cursor) {
                Some(t) if t <= upto => {
                    if newest.len() == cap {
                        newest.pop_front();
                    }
                    newest.push_back(t);
                    cursor = t;
                }
                _ => return newest.into(),
            }
        }
        tracing::warn!(
            "schedule: more than {MAX_SCAN} missed fires; only the first ones were considered"
        );
        newest.into()
    }

    /// The next `n` fires after `t`, in the schedule's zone (for people).
    pub fn upcoming(&self, t: Timestamp, n: usize) -> Vec<Zoned> {
        let mut out = Vec::new();
        let mut cursor = t;
        while out.len() < n {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            out.extend(self.zoned(next));
            cursor = next;
        }
        out
    }
}

fn millis(z: &Zoned) -> Option<u64> {
    u64::try_from(z.timestamp().as_millisecond()).ok()
}

/// Which of the fires missed in `(mark, now]` to run under `policy`, oldest first.
pub fn catch_up(fires: &Fires, policy: Catchup, mark: Timestamp, now: Timestamp) -> Vec<Timestamp> {
    match policy {
        Catchup::None => Vec::new(),
        Catchup::Latest => fires.between(mark, now, 1),
        Catchup::All => fires.between(mark, now, MAX_CATCHUP),
    }
}

/// `2026-11-30 04:00:00 CET (Europe/Paris)`: a fire time for people, in the schedule's zone.
pub fn show(z: &Zoned) -> String {
    format!(
        "{} ({})",
        z.strftime("%Y-%m-%d %H:%M:%S %Z"),
        z.time_zone().iana_name().unwrap_or("UTC")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::schedule::Overlap;

    fn fires(cron: &str, zone: &str) -> Fires {
        Fires::new(&Schedule {
            cron: vec![cron.into()],
            timezone: zone.into(),
            catchup: Catchup::None,
            overlap: Overlap::Skip,
            pos: Default::default(),
        })
        .unwrap()
    }

    fn at(text: &str) -> Timestamp {
        let ts: jiff::Timestamp = text.parse().unwrap();
        Timestamp(ts.as_millisecond() as u64)
    }

    #[test]
    fn the_next_fire_is_read_in_the_schedules_zone() {
        // 03:00 in Paris is 02:00 UTC in winter.
        let f = fires("0 3 * * *", "Europe/Paris");
        assert_eq!(
            f.next_after(at("2026-11-30T12:00:00Z")),
            Some(at("2026-12-01T02:00:00Z"))
        );
        let f = fires("*/2 * * * * *", "UTC");
        assert_eq!(
            f.next_after(at("2026-11-30T12:00:00.500Z")),
            Some(at("2026-11-30T12:00:02Z"))
        );
        assert_eq!(
            f.next_after(at("2026-11-30T12:00:02Z")),
            Some(at("2026-11-30T12:00:04Z"))
        );
        let shown = show(&f.upcoming(at("2026-11-30T12:00:00Z"), 1)[0]);
        assert_eq!(shown, "2026-11-30 12:00:02 UTC (UTC)");
    }

    #[test]
    fn missed_fires_follow_the_catchup_policy() {
        let f = fires("0 * * * *", "UTC");
        let (mark, now) = (at("2026-11-30T08:30:00Z"), at("2026-11-30T12:10:00Z"));
        assert_eq!(catch_up(&f, Catchup::None, mark, now), []);
        assert_eq!(
            catch_up(&f, Catchup::Latest, mark, now),
            [at("2026-11-30T12:00:00Z")]
        );
        assert_eq!(
            catch_up(&f, Catchup::All, mark, now),
            [
                at("2026-11-30T09:00:00Z"),
                at("2026-11-30T10:00:00Z"),
                at("2026-11-30T11:00:00Z"),
                at("2026-11-30T12:00:00Z")
            ]
        );
        // A fire exactly at the mark was dealt with already.
        assert_eq!(
            f.between(at("2026-11-30T09:00:00Z"), at("2026-11-30T09:59:00Z"), 10),
            []
        );
    }
}
