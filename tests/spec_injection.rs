//! Hostile values rendered into `run:` commands in every quoting context, then run by `sh` (dash)
//! and `bash`: no payload ever executes, and where a value is echoed it comes back exactly.

use std::path::Path;
use std::process::Command;

use baton::spec::Templates;
use proptest::prelude::*;
use serde_json::{Value, json};

/// How the echoed output relates to the value, when the command renders.
#[derive(Clone, Copy)]
enum Expect {
    /// `<value>` exactly.
    Exact,
    /// `<value>` and a line break (heredocs).
    Line,
    /// The value with trailing line breaks dropped (command substitution).
    Trimmed,
    /// Only that no payload ran (the value is not echoed).
    Nothing,
}

/// A command per quoting context; `V` is where the value goes.
const CONTEXTS: &[(&str, &str, Expect)] = &[
    ("bare", "printf '%s' <V", Expect::Nothing),
    ("bare word", "printf '%s' V", Expect::Exact),
    ("double quotes", "printf '%s' \"V\"", Expect::Exact),
    ("single quotes", "printf '%s' 'V'", Expect::Exact),
    ("mixed word", "printf '%s' x\"V\"'V'V", Expect::Nothing),
    ("heredoc", "cat <<EOF\nV\nEOF\n", Expect::Line),
    ("quoted heredoc", "cat <<'EOF'\nV\nEOF\n", Expect::Line),
    (
        "tab heredoc",
        "cat <<-\"EOF\"\n\tV\n\tEOF\n",
        Expect::Nothing,
    ),
    (
        "heredoc $()",
        "cat <<EOF\n$(printf '%s' V)\nEOF\n",
        Expect::Nothing,
    ),
    ("$()", "printf '%s' \"$(printf '%s' V)\"", Expect::Trimmed),
    (
        "\"$()\"",
        "printf '%s' \"$(printf '%s' \"V\")\"",
        Expect::Trimmed,
    ),
    (
        "'$()'",
        "x=$(printf '%s' 'V'); printf '%s' \"$x\"",
        Expect::Trimmed,
    ),
    (
        "backquotes",
        "x=`printf '%s' V`; printf '%s' \"$x\"",
        Expect::Trimmed,
    ),
    (
        "\"`…`\"",
        "printf '%s' \"`printf '%s' \"V\"`\"",
        Expect::Trimmed,
    ),
    (
        "nested",
        "printf '%s' \"$(printf '%s' \"$(printf '%s' 'V')\")\"",
        Expect::Trimmed,
    ),
    (
        "`$()`",
        "x=`printf '%s' \"$(printf '%s' V)\"`; printf '%s' \"$x\"",
        Expect::Trimmed,
    ),
    (
        "heredoc in $()",
        "x=$(cat <<EOF\nV\nEOF\n); printf '%s' \"$x\"",
        Expect::Trimmed,
    ),
    ("comment", "true # V\nprintf ok", Expect::Nothing),
    ("arithmetic", "printf '%s' $(( V + 0 ))", Expect::Nothing),
    ("case", "case V in *) printf '%s' V;; esac", Expect::Exact),
    (
        "case in $()",
        "printf '%s' \"$(case x in x) printf '%s' V;; esac)\"",
        Expect::Trimmed,
    ),
];

/// Pieces hostile values are made of; `PAYLOAD` becomes a command that creates the canary.
const PIECES: &[&str] = &[
    "'",
    "\"",
    "`",
    "$",
    "\\",
    "\n",
    "'\\''",
    "$(PAYLOAD)",
    "`PAYLOAD`",
    "; PAYLOAD;",
    "\"; PAYLOAD; \"",
    "'; PAYLOAD; '",
    "EOF",
    "\nEOF\n",
    "\tEOF",
    "EOF\n",
    "\\\n",
    "${IFS}",
    "$((1))",
    ")",
    "(",
    "}",
    "{",
    "#",
    "*",
    "~",
    "!",
    "|",
    "&",
    "<",
    ">",
    "<<EOF",
    "\0",
    "\r",
    "\u{feff}",
    "é",
    "x",
    " ",
    "\t",
    "-n",
    "=",
    "a=b",
    "if",
    "\\'",
    "\\\"",
    "\\`",
    "$'",
    "\n$(PAYLOAD)\n",
    "1",
    "-2",
];

fn hostile() -> impl Strategy<Value = (Vec<usize>, Vec<u8>)> {
    (
        proptest::collection::vec(0..PIECES.len(), 1..8),
        // Arbitrary bytes, often not UTF-8: stdout is read lossily, so this is what a step's
        // output can hold.
        proptest::collection::vec(any::<u8>(), 0..6),
    )
}

fn value_of(pieces: &[usize], bytes: &[u8], payload: &str) -> String {
    let mut v: String = pieces
        .iter()
        .map(|&i| PIECES[i].replace("PAYLOAD", payload))
        .collect();
    v.push_str(&String::from_utf8_lossy(bytes));
    v
}

fn run(shell: &str, command: &str) -> std::process::Output {
    Command::new(shell)
        .arg("-c")
        .arg(command)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shell}: {e}"))
}

/// Renders `V` of every context from `params.v` and from a step's stdout, runs each rendering
/// that succeeds in sh and bash, and checks the canary and the echo.
fn check(value: &str, canary: &Path) -> Result<(), TestCaseError> {
    let templates = Templates::new();
    let ctx: Value = json!({
        "params": {"v": value},
        "env": {},
        "run": {"id": "r"},
        "steps": {"src": {"stdout": value, "output": value}},
    });
    for (name, shape, expect) in CONTEXTS {
        for source in ["{{ params.v }}", "{{ steps.src.stdout }}"] {
            let tpl = shape.replace('V', source);
            let Ok(command) = templates.render_command(&tpl, &ctx) else {
                continue; // refused: nothing runs
            };
            for shell in ["sh", "bash"] {
                let out = run(shell, &command);
                prop_assert!(
                    !canary.exists(),
                    "a payload ran in {} ({}): value {:?}\ncommand: {}",
                    name,
                    shell,
                    value,
                    command
                );
                let stdout = String::from_utf8_lossy(&out.stdout);
                let want = match expect {
                    Expect::Exact => value.to_string(),
                    Expect::Line => format!("{value}\n"),
                    Expect::Trimmed => value.trim_end_matches('\n').to_string(),
                    Expect::Nothing => continue,
                };
                prop_assert_eq!(
                    stdout.as_ref(),
                    want.as_str(),
                    "{} in {} did not echo the value\ncommand: {}\nstderr: {}",
                    name,
                    shell,
                    command,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn no_hostile_value_executes_in_any_quoting_context((pieces, bytes) in hostile()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let canary = dir.path().join("canary");
        let value = value_of(&pieces, &bytes, &format!("touch {}", canary.display()));
        check(&value, &canary)?;
    }
}

#[test]
fn the_payloads_of_the_report_do_not_execute() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    let touch = format!("touch {}", canary.display());
    for value in [
        format!("$({touch})"),
        format!("`{touch}`"),
        format!("x\"; {touch}; \""),
        format!("x'; {touch}; '"),
        format!("'\\''; {touch}; '\\''"),
        format!("1.0$({touch})"),
        format!("a\nEOF\n{touch}\n"),
        format!("a\n\tEOF\n{touch}\n"),
        format!("E\\\nOF\n{touch}\n"),
        format!("x\n{touch}"),
    ] {
        check(&value, &canary).unwrap();
    }
}

#[test]
fn refused_places_and_values_say_why() {
    let t = Templates::new();
    let ctx = json!({"params": {"v": "x", "n": "5", "bad": "a\0b", "nl": "a\nb"}});
    let err = |tpl: &str| t.render_command(tpl, &ctx).unwrap_err().message;
    assert!(err("echo \\{{ params.v }}").contains("right after a `\\`"));
    assert!(err("echo ${{ params.v }}").contains("right after a `$`"));
    assert!(err("echo \"${x:-{{ params.v }}}\"").contains("inside `${…}`"));
    assert!(err("echo $'{{ params.v }}'").contains("$'…'"));
    assert!(err("cat <<{{ params.v }}\nx\n").contains("delimiter"));
    assert!(err("echo {{ params.bad }}").contains("NUL"));
    assert!(err("true # {{ params.nl }}").contains("end the comment"));
    assert!(err("echo $(( {{ params.v }} ))").contains("whole number"));
    let e = err("cat <<b\n{{ params.nl }}\nb\n");
    assert!(
        e.contains("line starting with `b`") && e.contains("line 2, column 1"),
        "{e}"
    );
    assert_eq!(
        t.render_command("echo $(( {{ params.n }} * 2 ))", &ctx)
            .unwrap(),
        "echo $(( 5 * 2 ))"
    );
}

#[test]
fn a_value_cannot_close_a_heredoc_inside_a_command_substitution() {
    // bash ends a heredoc inside `$(…)` at a line `EOF)` (or `EOF )`, `EOF#)`) and runs the
    // lines after it: such a value is refused, and nothing runs.
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    let t = Templates::new();
    for close in ["EOF)", "EOF )", "EOF#)", "EOFX"] {
        let value = format!("{close}\ntouch {}\n", canary.display());
        let ctx = json!({"params": {"v": value}, "env": {}, "run": {"id": "r"}, "steps": {}});
        let tpl = "x=$(cat <<EOF\n{{ params.v }}\nEOF\n); printf '%s' \"$x\"";
        let e = t.render_command(tpl, &ctx).unwrap_err().message;
        assert!(e.contains("line starting with `EOF`"), "{close}: {e}");
    }
    // A value that does not start a line with the delimiter goes through, as data.
    let ctx = json!({"params": {"v": "x EOF)"}, "env": {}, "run": {"id": "r"}, "steps": {}});
    let command = t
        .render_command(
            "x=$(cat <<EOF\n{{ params.v }}\nEOF\n); printf '%s' \"$x\"",
            &ctx,
        )
        .unwrap();
    let out = run("bash", &command);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x EOF)");
    assert!(!canary.exists());
}
