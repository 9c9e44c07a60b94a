//! `schedule:` — when `baton serve` starts a workflow by itself: one or more cron expressions
//! (seconds optional) read in a time zone, what to do about fires missed while nothing served
//! (`catchup`), and about a fire that comes while the last scheduled run still runs (`overlap`).
//!
//! ```yaml
//! schedule: "*/2 * * * * *"                      # short form: UTC, catchup none, overlap skip
//! schedule: ["0 3 * * *", "0 15 * * 1-5"]
//! schedule: { cron: "0 3 * * *", timezone: Europe/Paris, catchup: latest, overlap: queue }
//! ```

use serde::{Deserialize, Serialize};

use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::Pos;

/// A workflow's schedule, every expression and the zone checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Cron expressions (5 fields, or 6 with seconds first); the workflow fires at each.
    pub cron: Vec<String>,
    /// The IANA time zone the expressions are read in (`UTC` unless given).
    pub timezone: String,
    /// Fires missed while no `baton serve` ran.
    pub catchup: Catchup,
    /// A fire while the previous scheduled run is still active.
    pub overlap: Overlap,
    /// Where `schedule:` was written.
    pub pos: Pos,
}

/// What happens to fires missed while no `baton serve` ran (or it slept through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Catchup {
    /// Dropped: the next run is the next fire.
    #[default]
    None,
    /// One run for the most recent missed fire.
    Latest,
    /// One run per missed fire, oldest first.
    All,
}

/// What happens to a fire while the previous scheduled run of the workflow is still active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The fire is dropped.
    #[default]
    Skip,
    /// The fire waits; its run starts when the active one ends.
    Queue,
    /// The run starts anyway, beside the active one.
    Allow,
}

/// Parses a cron expression as schedules read it: seconds optional, no year field.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

/// Reads an IANA time zone name from the built-in tz database.
pub fn parse_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name).map_err(|e| e.to_string())
}

const EXAMPLE: &str = "schedule: { cron: \"0 3 * * *\", timezone: Europe/Paris }";

/// Converts `schedule:`; problems go to `r`.
pub fn convert_schedule(r: &mut Reader<'_>, node: &Node) -> Option<Schedule> {
    let mut schedule = Schedule {
        cron: Vec::new(),
        timezone: "UTC".into(),
        catchup: Catchup::None,
        overlap: Overlap::Skip,
        pos: node.pos,
    };
    match &node.value {
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            match t.get(r, "cron", &[]) {
                Some(n) => schedule.cron = cron_list(r, n)?,
                None => {
                    r.error(
                        node.pos,
                        "`schedule` has no `cron:`",
                        Some(format!("write it like `{EXAMPLE}`")),
                    );
                    return None;
                }
            }
            if let Some(n) = t.get(r, "timezone", &["tz", "time_zone"]) {
                let name = r.non_empty_string(n, "schedule.timezone", "timezone: Europe/Paris")?;
                if let Err(e) = parse_zone(&name) {
                    r.error(
                        n.pos,
                        format!("`{name}` is not a time zone baton knows: {e}"),
                        Some(
                            "use an IANA name like `Europe/Paris`, `America/New_York` or `UTC`"
                                .into(),
                        ),
                    );
                    return None;
                }
                schedule.timezone = name;
            }
            if let Some(n) = t.get(r, "catchup", &["catch_up"]) {
                schedule.catchup = choice(r, n, "catchup", &["none", "latest", "all"])?;
            }
            if let Some(n) = t.get(r, "overlap", &[]) {
                schedule.overlap = choice(r, n, "overlap", &["skip", "queue", "allow"])?;
            }
            t.finish(r, "`schedule`");
        }
        _ => schedule.cron = cron_list(r, node)?,
    }
    Some(schedule)
}

/// One expression or a list of them, each checked at its own place.
fn cron_list(r: &mut Reader<'_>, node: &Node) -> Option<Vec<String>> {
    let items = r.string_list(node, "schedule.cron", "cron: \"0 3 * * *\"")?;
    if items.is_empty() {
        r.error(
            node.pos,
            "`schedule` lists no cron expression",
            Some(format!("write it like `{EXAMPLE}`")),
        );
        return None;
    }
    let mut ok = true;
    for (expr, pos) in &items {
        if let Err(e) = parse_cron(expr) {
            ok = false;
            r.error(
                *pos,
                format!("`{expr}` is not a cron expression: {e}"),
                Some(
                    "five fields `minute hour day-of-month month day-of-week` (e.g. `0 3 * * *`), \
                     or six with seconds first (e.g. `*/10 * * * * *`)"
                        .into(),
                ),
            );
        }
    }
    ok.then(|| items.into_iter().map(|(e, _)| e).collect())
}

/// One of the allowed words, as the enum it names.
fn choice<T: for<'de> Deserialize<'de>>(
    r: &mut Reader<'_>,
    node: &Node,
    what: &str,
    allowed: &[&str],
) -> Option<T> {
    let word = r.string(
        node,
        &format!("schedule.{what}"),
        &format!("{what}: {}", allowed[0]),
    )?;
    match serde_json::from_value(serde_json::Value::String(word.clone())) {
        Ok(v) if allowed.contains(&word.as_str()) => Some(v),
        _ => {
            r.error(
                node.pos,
                format!("`{word}` is not a `{what}` policy"),
                Some(format!("use one of: {}", allowed.join(", "))),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    fn parse(yaml: &str) -> Result<Option<super::Schedule>, String> {
        crate::spec::parse_str(yaml, std::path::Path::new("s.yaml"))
            .map(|wf| wf.schedule)
            .map_err(|d| d.to_string())
    }

    const STEPS: &str = "steps:\n  - { id: a, run: echo a }\n";

    #[test]
    fn the_short_form_a_list_and_the_full_form_are_read() {
        let s = parse(&format!("name: s\nschedule: \"*/2 * * * * *\"\n{STEPS}"));
        let s = s.unwrap().unwrap();
        assert_eq!(s.cron, ["*/2 * * * * *"]);
        assert_eq!(
            (s.timezone.as_str(), s.catchup, s.overlap),
            ("UTC", super::Catchup::None, super::Overlap::Skip)
        );
        let s = parse(&format!(
            "name: s\nschedule: [\"0 3 * * *\", \"0 4 * * *\"]\n{STEPS}"
        ));
        assert_eq!(s.unwrap().unwrap().cron.len(), 2);
        let s = parse(&format!(
            "name: s\nschedule: {{ cron: \"0 3 * * *\", timezone: Europe/Paris, catchup: all, overlap: queue }}\n{STEPS}"
        ));
        let s = s.unwrap().unwrap();
        assert_eq!(s.timezone, "Europe/Paris");
        assert_eq!(
            (s.catchup, s.overlap),
            (super::Catchup::All, super::Overlap::Queue)
        );
        assert_eq!(parse(&format!("name: s\n{STEPS}")).unwrap(), None);
    }

    #[test]
    fn a_bad_expression_zone_or_policy_is_reported_where_it_was_written() {
        let e = parse(&format!("name: s\nschedule: \"61 * * * *\"\n{STEPS}")).unwrap_err();
        assert!(
            e.contains("s.yaml:2:11") && e.contains("not a cron expression"),
            "{e}"
        );
        let e = parse(&format!(
            "name: s\nschedule:\n  cron: \"0 3 * * *\"\n  timezone: Mars/Olympus\n{STEPS}"
        ))
        .unwrap_err();
        assert!(
            e.contains("s.yaml:4:13") && e.contains("Mars/Olympus"),
            "{e}"
        );
        let e = parse(&format!(
            "name: s\nschedule: {{ cron: \"0 3 * * *\", overlap: sometimes }}\n{STEPS}"
        ))
        .unwrap_err();
        assert!(e.contains("skip, queue, allow"), "{e}");
        let e = parse(&format!("name: s\nschedule: {{ timezone: UTC }}\n{STEPS}")).unwrap_err();
        assert!(e.contains("no `cron:`"), "{e}");
    }
}
