//! Bytes a step prints are data: a step prints every kind of hostile terminal sequence, and
//! neither headless `run`, `logs`, `show`, `ls`, `validate` nor the console passes one of them to
//! the real terminal (a pseudo-terminal, read back through a vt100 emulator that records what
//! the program asked of the terminal).

#[path = "support/bin.rs"]
mod bin;

#[path = "support/pty.rs"]
mod pty;

use std::path::{Path, PathBuf};
use std::time::Duration;

use portable_pty::CommandBuilder;
use pty::Pty;

/// Long enough for a loaded 2-core machine building other things at the same time.
const WAIT: Duration = Duration::from_secs(90);

/// Each line holds one kind of sequence between two markers; the workflow's name holds a title.
const HOSTILE: &str = r#"name: "hostile\e]2;NAME-TITLE\a"
steps:
  - id: noisy
    run: |
      printf 'A1 \033]52;c;cHduZWQ=\007 Z1\n'
      printf 'A2 \033]0;PWNED\007 \033]2;PWNED\033\\ Z2\n'
      printf 'A3 \033[?1000h\033[?1006h Z3\n'
      printf 'A4 \033[3;5r Z4\n'
      printf 'A5 \033[2J\033[H Z5\n'
      printf 'A6 \033P1$qm\033\\ Z6\n'
      printf 'A7 \302\2332J \233 \302\235 Z7\n'
      printf 'A8 \007 Z8\n'
      printf 'A9 \033[31mred\033[0m Z9\n'
      printf 'E1 \033]52;c;c3RkZXJy\007 Z10\n' >&2
"#;

/// What the program asked the terminal to do besides drawing.
#[derive(Default)]
struct Asked {
    titles: Vec<String>,
    clipboard: Vec<String>,
    bells: usize,
}

impl vt100::Callbacks for Asked {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.bells += 1;
    }
    fn set_window_icon_name(&mut self, _: &mut vt100::Screen, name: &[u8]) {
        self.titles.push(String::from_utf8_lossy(name).into_owned());
    }
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.titles
            .push(String::from_utf8_lossy(title).into_owned());
    }
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        self.clipboard
            .push(String::from_utf8_lossy(data).into_owned());
    }
}

/// Replays what the program wrote through a terminal that records its requests.
fn replay(raw: &[u8]) -> vt100::Parser<Asked> {
    let (rows, cols) = (
        std::num::NonZeroU16::MIN.saturating_add(59),
        std::num::NonZeroU16::MIN.saturating_add(159),
    );
    let mut parser = vt100::Parser::new_with_callbacks(rows, cols, 0, Asked::default());
    parser.process(raw);
    parser
}

/// Nothing the step printed acted on the terminal: no title, clipboard, bell or mouse mode, and
/// none of its sequences in the bytes the terminal received.
fn assert_inert(raw: &[u8], what: &str) {
    let parser = replay(raw);
    let asked = parser.callbacks();
    let shown = String::from_utf8_lossy(raw);
    assert!(
        !asked
            .titles
            .iter()
            .any(|t| t.contains("PWNED") || t.contains("TITLE")),
        "{what} set the title: {:?}",
        asked.titles
    );
    assert!(
        asked.clipboard.is_empty(),
        "{what} set the clipboard: {:?}",
        asked.clipboard
    );
    assert_eq!(asked.bells, 0, "{what} rang the bell");
    assert_eq!(
        parser.screen().mouse_protocol_mode(),
        vt100::MouseProtocolMode::None,
        "{what} turned mouse reporting on"
    );
    for needle in [
        "\x1b]52",
        "\x1b]0;PWNED",
        "\x1b]2;PWNED",
        "\x1b]2;NAME",
        // The step's own request, verbatim (the console's mouse switch sends 1002h between).
        "\x1b[?1000h\x1b[?1006h",
        "\x1b[3;5r",
        "\x1bP1$",
        "\u{9b}",
        "\u{9d}",
        "\x07",
    ] {
        assert!(
            !shown.contains(needle),
            "{what} passed {needle:?} to the terminal:\n{shown:?}"
        );
    }
    assert!(!raw.contains(&0x9b), "{what} passed a raw 0x9b byte");
}

/// Every escape a headless command writes is a colour (SGR) and nothing else.
fn assert_only_colours(raw: &[u8], what: &str) {
    let text = String::from_utf8_lossy(raw);
    for (i, _) in text.match_indices('\x1b') {
        let rest = &text[i + 1..];
        let sgr = rest.strip_prefix('[').is_some_and(|r| {
            let end = r.find(|c: char| !(c.is_ascii_digit() || c == ';'));
            end.is_some_and(|e| r[e..].starts_with('m'))
        });
        assert!(
            sgr,
            "{what} wrote a non-colour escape at {i}: {:?}",
            &text[i..(i + 12).min(text.len())]
        );
    }
}

struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(dir.path().join("config")).expect("a config dir");
        std::fs::create_dir_all(dir.path().join("work/workflows")).expect("a workflows dir");
        std::fs::write(dir.path().join("work/workflows/hostile.yaml"), HOSTILE).expect("a file");
        Place { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn workflow(&self) -> PathBuf {
        self.dir.path().join("work/workflows/hostile.yaml")
    }

    /// `baton --data-dir DATA ARGS…` in a 160×60 xterm with colours on.
    fn in_pty(&self, args: &[&str]) -> Pty {
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
        cmd.arg("--data-dir");
        cmd.arg(self.data());
        cmd.args(args);
        cmd.cwd(self.dir.path().join("work"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.env("BATON_CONFIG_DIR", self.dir.path().join("config"));
        Pty::spawn(cmd, 160, 60).expect("baton in a pty")
    }

    /// Runs a command in the pty to its end; the bytes it wrote and the screen.
    fn finish(&self, args: &[&str]) -> (Vec<u8>, String) {
        let mut pty = self.in_pty(args);
        pty.wait_exit(WAIT).expect("baton exits");
        (pty.raw(), pty.screen())
    }

    /// Runs a command with its output to a pipe; its stdout.
    fn piped(&self, args: &[&str]) -> Vec<u8> {
        // Colours as a user has them: whether a pipe gets any is what is checked.
        let out = bin::baton(&self.data())
            .args(args)
            .env_remove("NO_COLOR")
            .env("BATON_CONFIG_DIR", self.dir.path().join("config"))
            .output()
            .expect("baton runs");
        assert!(out.status.success(), "baton {args:?}: {out:?}");
        out.stdout
    }

    /// Runs the hostile workflow headless in the pty; its run id, bytes and screen.
    fn run(&self) -> (String, Vec<u8>, String) {
        let file = self.workflow();
        let (raw, screen) = self.finish(&["run", path(&file)]);
        let id = screen
            .split_whitespace()
            .skip_while(|w| *w != "run")
            .nth(1)
            .expect("a run id on the screen")
            .to_string();
        (id, raw, screen)
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

#[test]
fn a_headless_run_shows_hostile_output_escaped_and_the_terminal_untouched() {
    let place = Place::new();
    let (_, raw, screen) = place.run();
    assert_inert(&raw, "baton run");
    assert_only_colours(&raw, "baton run");
    // The text is there, visibly escaped; colours pass on a terminal.
    for marker in [
        "A1 ^[]52;c;cHduZWQ=^G Z1",
        "^[[?1000h",
        "M-^[2J",
        "A8 ^G Z8",
        "Z10",
    ] {
        assert!(
            screen.contains(marker),
            "`{marker}` not on the screen:\n{screen}"
        );
    }
    assert!(screen.contains("succeeded"), "{screen}");
    assert!(String::from_utf8_lossy(&raw).contains("\x1b[31mred"));
}

#[test]
fn logs_show_ls_and_validate_keep_the_terminal_untouched_and_raw_opts_out() {
    let place = Place::new();
    let (id, _, _) = place.run();
    let (raw, screen) = place.finish(&["logs", &id]);
    assert_inert(&raw, "baton logs");
    assert_only_colours(&raw, "baton logs");
    assert!(screen.contains("A4 ^[[3;5r Z4"), "{screen}");
    let file = place.workflow();
    for args in [vec!["ls"], vec!["show", &id], vec!["validate", path(&file)]] {
        let (raw, screen) = place.finish(&args);
        assert_inert(&raw, &format!("baton {args:?}"));
        assert_only_colours(&raw, &format!("baton {args:?}"));
        assert!(screen.contains("hostile^[]2;NAME-TITLE^G"), "{screen}");
    }
    // JSON stays escaped, C1 included.
    let json = String::from_utf8(place.piped(&["show", &id, "--json", "--events"])).expect("UTF-8");
    assert!(!json.contains('\x1b') && !json.contains('\u{9b}'), "{json}");
    assert!(
        json.contains("\\u001b]52") && json.contains("\\u009b"),
        "{json}"
    );
    // `--raw` is for pipes: the bytes as the step wrote them.
    let raw = place.piped(&["logs", &id, "--raw"]);
    assert!(String::from_utf8_lossy(&raw).contains("A1 \x1b]52;c;cHduZWQ=\x07 Z1"));
}

#[test]
fn the_console_shows_hostile_output_without_passing_it_to_the_terminal() {
    let place = Place::new();
    place.run();
    let mut console = place.in_pty(&[]);
    console.wait_for("hostile", WAIT).expect("the run listed");
    console.send("\r").expect("open the run");
    // Every line at once: a frame arrives in several reads, and stderr's line may be drawn
    // above stdout's (the two pipes are read apart), so "Z10" alone can show before "Z9".
    console
        .wait_until("the step's lines in the log pane", WAIT, |screen| {
            ["A1", "Z9", "Z10"].iter().all(|m| screen.contains(m))
        })
        .expect("the step's lines in the log pane");
    console.send("q").expect("quit");
    console.wait_exit(WAIT).expect("the console exits");
    assert_inert(&console.raw(), "the console");
}
