//! `baton schedules`: each scheduled workflow the console's folders hold, with its next fire
//! times in its schedule's zone, its catch-up and overlap policies.

use crate::config::Paths;
use crate::serve::Catalogue;
use crate::serve::schedule::{Fires, show};
use crate::store::Timestamp;

/// `baton schedules`' options.
#[derive(Debug, clap::Args)]
pub struct SchedulesArgs {
    /// How many next fire times to list per workflow.
    #[arg(long, short = 'n', default_value_t = 3)]
    pub next: usize,
}

/// Lists the schedules; exit 0.
pub fn run(paths: &Paths, args: &SchedulesArgs) -> i32 {
    let entries = Catalogue::of(paths).entries();
    let now = Timestamp::now();
    let mut any = false;
    for entry in entries {
        let Some(schedule) = &entry.schedule else {
            continue;
        };
        any = true;
        let shown = super::common::Shown::stdout(false);
        outln!(
            "{}  ({})  cron {}  timezone {}  catchup {}, overlap {}",
            shown.text(&entry.name),
            shown.text(&entry.path.display().to_string()),
            shown.text(&schedule.cron.join(" | ")),
            schedule.timezone,
            format!("{:?}", schedule.catchup).to_lowercase(),
            format!("{:?}", schedule.overlap).to_lowercase()
        );
        match Fires::new(schedule) {
            Ok(fires) => {
                for z in fires.upcoming(now, args.next) {
                    outln!("  next {}", show(&z));
                }
            }
            Err(e) => outln!("  {e:#}"),
        }
    }
    if !any {
        outln!(
            "no scheduled workflows in ./workflows or {}; add `schedule: \"0 3 * * *\"` to one",
            paths.workflows_dir().display()
        );
    }
    0
}
