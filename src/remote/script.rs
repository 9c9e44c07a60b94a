//! The POSIX-sh programs baton runs on a host. Each is sent as `exec /bin/sh -c PROGRAM baton
//! ARGS…`, whatever the login shell; none carries a secret on its command line (what `ps` shows
//! there): a step's environment and command go through the connection's stdin.

use std::time::Duration;

use indexmap::IndexMap;

use crate::spec::shell_quote;

/// The first line a step prints on the host, read by baton and never logged: its process
/// group, and its leader's start time (`/proc/PID/stat` field 22) when the host has `/proc`.
pub const PGID_MARKER: &str = "@baton-pgid ";

/// Reads the step's script from stdin up to the line `$2`, starts it in a session (and
/// process group) of its own, and waits for it; then stops what it left in its group (TERM,
/// `$1` tenths of a second, KILL) and exits with its status. A watcher stops the group the
/// same way when stdin ends before the step does: baton holds stdin open for the whole
/// attempt, so the step dies with its connection (baton gone, connection cut) instead of
/// running on unseen. The script reaches `sh -s` through a pipe from the `printf` builtin,
/// never through a command line.
const WRAPPER: &str = r#"command -v setsid >/dev/null 2>&1 || { echo "baton: setsid (util-linux) is not installed on this host" >&2; exit 127; }
s=
while IFS= read -r l; do [ "$l" = "$2" ] && break; s="$s$l
"; done
exec 3<&0
printf '%s' "$s" | setsid sh -s &
p=$!
s=
( while read -r _; do :; done; kill -CONT -$p 2>/dev/null; kill -TERM -$p 2>/dev/null || exit 0; n=0; while [ $n -lt $1 ] && kill -0 -$p 2>/dev/null; do sleep 0.1; n=$((n+1)); done; kill -KILL -$p 2>/dev/null ) <&3 3<&- &
w=$!
exec 3<&-
wait $p
s=$?
kill $w 2>/dev/null
if kill -0 -$p 2>/dev/null; then
  kill -TERM -$p 2>/dev/null
  n=0
  while [ $n -lt $1 ] && kill -0 -$p 2>/dev/null; do sleep 0.1; n=$((n+1)); done
  kill -KILL -$p 2>/dev/null
fi
exit $s"#;

/// Stops group `$1` if its leader is still the one started at `$2` (or is gone while members
/// are left): SIGCONT (it may be frozen), SIGTERM, `$3` tenths of a second, SIGKILL.
const STOP: &str = r#"p=$1; t=$2; n=$3
if [ -n "$t" ] && [ -r /proc/$p/stat ]; then
  s=$(cat /proc/$p/stat 2>/dev/null); s=${s##*) }; set -- $s
  [ "${20}" = "$t" ] || exit 0
fi
kill -CONT -$p 2>/dev/null
kill -TERM -$p 2>/dev/null || exit 0
i=0
while [ $i -lt $n ] && kill -0 -$p 2>/dev/null; do sleep 0.1; i=$((i+1)); done
kill -KILL -$p 2>/dev/null
exit 0"#;

/// Prints the marker line from inside the new group.
const MARK: &str = r#"baton_s=$(cat /proc/$$/stat 2>/dev/null) && baton_s=${baton_s##*) } && set -- $baton_s && echo "@baton-pgid $$ ${20}" || echo "@baton-pgid $$"
unset baton_s
"#;

/// The command line (for the host's login shell) that starts a step: the wrapper, told the
/// grace period and the line that ends the script ([`Step::end`]).
pub fn start(grace: Duration, end: &str) -> String {
    program(WRAPPER, &[tenths(grace).to_string(), shell_quote(end)])
}

/// The command line that signals group `pgid` (`STOP`, `CONT`).
pub fn signal(pgid: u32, signal: &str) -> String {
    program(&format!("kill -{signal} -{pgid}"), &[])
}

/// The command line that stops group `pgid` (see `STOP`).
pub fn stop(pgid: u32, started: &str, grace: Duration) -> String {
    let started = if started.chars().all(|c| c.is_ascii_digit()) {
        started
    } else {
        ""
    };
    program(
        STOP,
        &[
            pgid.to_string(),
            shell_quote(started),
            tenths(grace).to_string(),
        ],
    )
}

/// What the wrapper reads on stdin, and the line that ends it.
pub struct Step {
    /// The marker, the environment, the directory, and the command run by its shell; then
    /// the end line.
    pub text: String,
    /// The line that ends the script: one no line of the script is.
    pub end: String,
}

/// The script of a step (see [`Step`]).
pub fn step(
    command: &str,
    shell: &str,
    cwd: Option<&str>,
    env: &IndexMap<String, String>,
) -> Result<Step, String> {
    let mut text = String::from(MARK);
    for (name, value) in env {
        if !is_variable_name(name) {
            return Err(format!(
                "`{name}` is not an environment variable name, so it cannot be set on the host"
            ));
        }
        text.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    if let Some(dir) = cwd {
        text.push_str(&format!("cd {} || exit 1\n", shell_quote(dir)));
    }
    text.push_str(&format!(
        "exec {} -c {} </dev/null\n",
        shell_quote(shell),
        shell_quote(command)
    ));
    let mut end = String::from("@baton-end");
    while text.lines().any(|l| l == end) {
        end.push('-');
    }
    text.push_str(&end);
    text.push('\n');
    Ok(Step { text, end })
}

/// Parses the marker line: the group id and the leader's start time.
pub fn parse_marker(line: &str) -> Option<(u32, String)> {
    let rest = line.trim_end().strip_prefix(PGID_MARKER)?;
    let mut words = rest.split(' ');
    let pgid = words.next()?.parse().ok().filter(|&p: &u32| p > 1)?;
    Some((pgid, words.next().unwrap_or("").to_string()))
}

fn program(text: &str, args: &[String]) -> String {
    let mut line = format!("exec /bin/sh -c {} baton", shell_quote(text));
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    line
}

fn tenths(d: Duration) -> u128 {
    d.as_millis().div_ceil(100)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `line` as a login shell would, with `stdin`.
    fn sh(line: &str, stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(line)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Held open until the wrapper is done, as baton holds it.
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        drop(input);
        out
    }

    #[test]
    fn a_step_runs_in_its_own_group_with_its_env_and_reports_the_group_first() {
        let env = IndexMap::from([("TOKEN".to_string(), "it's a secret".to_string())]);
        let script = step("echo \"$TOKEN\"; exit 3", "sh", Some("/"), &env).unwrap();
        let out = sh(
            &start(Duration::from_millis(300), &script.end),
            &script.text,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (pgid, started) = parse_marker(lines.next().unwrap()).unwrap();
        assert_ne!(pgid as i32, unsafe { libc::getpgrp() });
        assert!(started.parse::<u64>().is_ok(), "{text}");
        assert_eq!(lines.next(), Some("it's a secret"));
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn the_marker_needs_a_group_number() {
        assert_eq!(parse_marker("@baton-pgid 42 77\n"), Some((42, "77".into())));
        assert_eq!(parse_marker("@baton-pgid 42"), Some((42, String::new())));
        assert_eq!(parse_marker("@baton-pgid x"), None);
        assert_eq!(parse_marker("hello"), None);
        assert!(
            step(
                "true",
                "sh",
                None,
                &IndexMap::from([("A B".into(), "x".into())])
            )
            .is_err()
        );
        let env = IndexMap::from([("V".to_string(), "a\n@baton-end\nb".to_string())]);
        let script = step("true", "sh", None, &env).unwrap();
        assert_eq!(
            script.end, "@baton-end-",
            "the end line is none of the script's lines"
        );
    }
}
