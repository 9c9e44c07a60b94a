//! The planner in the real console, in a pseudo-terminal, against a fake provider on loopback:
//! `p` and a request give a draft in the editor with the DAG beside it; an edit that breaks a
//! line shows the error beside that line, and undoing it takes the error away; a real edit is
//! run (its gate approved) and kept as a plan version the run names. A failed step's `F` shows
//! the model's fix as a diff; `A` continues the run with it, `X` changes nothing. `d` on a
//! workflow shows every rendered command and runs none of them.
//!
//! Every wait is "until the screen says so" with a generous limit (a loaded 2-core machine).

#[path = "support/pty.rs"]
mod pty;

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fake_llm::{FakeLlm, Reply};
use portable_pty::CommandBuilder;
use pty::Pty;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

const PLAN: &str =
    "name: hello\ndescription: Say hello\nsteps:\n  - id: hello\n    run: echo hello > hello.txt\n";

const FAILING: &str = "name: greet\ndescription: Fails once\nsteps:\n  - id: greet\n    run: echo boom; exit 3\n  - id: after\n    run: echo after > after.txt\n    depends_on: [greet]\n";

const SIDE_EFFECT: &str = "name: touchy\ndescription: Makes a file\nparams:\n  name: { default: side-effect.txt }\nsteps:\n  - id: touch\n    run: touch {{ params.name }}\n  - id: show\n    run: ls -l {{ params.name }}\n    depends_on: [touch]\n";

/// A working directory with `workflows/`, a data dir, and a config naming the fake provider.
struct Place {
    dir: tempfile::TempDir,
    fake: FakeLlm,
    /// Serves the fake; its tasks end with it.
    _rt: tokio::runtime::Runtime,
}

impl Place {
    fn new() -> Place {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the fake provider");
        let fake = rt.block_on(FakeLlm::start());
        let dir = tempfile::tempdir().expect("a temp dir");
        let workflows = dir.path().join("work/workflows");
        std::fs::create_dir_all(&workflows).expect("a workflows dir");
        std::fs::write(workflows.join("greet.yaml"), FAILING).expect("a workflow");
        std::fs::write(workflows.join("touchy.yaml"), SIDE_EFFECT).expect("a workflow");
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).expect("a config dir");
        std::fs::write(
            config.join("config.toml"),
            format!(
                "[[providers]]\nname = \"fake\"\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"fake-model\"\napi_key_env = \"BATON_TEST_KEY\"\n",
                fake.url()
            ),
        )
        .expect("a config file");
        Place { dir, fake, _rt: rt }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn console(&self) -> Pty {
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
        cmd.arg("--data-dir");
        cmd.arg(self.dir.path().join("data"));
        cmd.cwd(self.work());
        cmd.env("TERM", "xterm-256color");
        cmd.env("BATON_CONFIG_DIR", self.dir.path().join("config"));
        cmd.env("BATON_TEST_KEY", "sk-test");
        for var in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "OLLAMA_HOST",
        ] {
            cmd.env_remove(var);
        }
        Pty::spawn(cmd, 120, 34).expect("the console in a pty")
    }

    /// A headless `baton` on the same store (through the console's socket while it runs); its
    /// stdout as JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(args)
            .env("BATON_CONFIG_DIR", self.dir.path().join("config"))
            .current_dir(self.work())
            .output()
            .expect("baton runs");
        assert!(
            out.status.success(),
            "baton {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    fn answer(&self, yaml: &str) {
        self.fake.push(Reply::Text(
            json!({ "yaml": yaml, "summary": "writes hello into a file" }).to_string(),
        ));
    }
}

/// Keeps a text capture of the screen when `BATON_CONSOLE_CAPTURE` names a directory.
fn capture(pty: &Pty, name: &str) {
    if let Some(dir) = std::env::var_os("BATON_CONSOLE_CAPTURE") {
        let path = std::path::Path::new(&dir).join(format!("{name}.txt"));
        let _ = std::fs::write(path, pty.rows().join("\n") + "\n");
    }
}

/// Opens the prompt of the waiting gate with `a` and approves it with `A` once it takes keys.
fn approve(pty: &mut Pty) {
    pty.send("a").expect("typing");
    pty.wait_until("the approval prompt taking keys", WAIT, |s| {
        s.contains("Approval needed") && s.contains("esc  later")
    })
    .expect("the prompt, opened with `a`");
    pty.send("A").expect("typing");
}

/// The editor row that shows text line `n` (its line number, then the text).
fn editor_row(screen: &str, needle: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_request_typed_in_the_console_becomes_an_edited_checked_plan_that_runs() {
    let place = Place::new();
    place.answer(PLAN);
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("p").expect("typing");
    pty.wait_for("What should the workflow do?", WAIT)
        .expect("the request box");
    pty.send("say hello into a file\r").expect("typing");
    let screen = pty
        .wait_until("the draft in the editor, checked", WAIT, |s| {
            s.contains("drafted by fake/fake-model") && s.contains("✓ valid")
        })
        .expect("the draft");
    assert!(
        screen.contains("L0 hello (run)"),
        "the DAG beside: {screen}"
    );
    assert!(screen.contains("approve: true"), "gated: {screen}");
    let asked = place.fake.requests();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].body.to_string().contains("say hello into a file"));

    // One line broken: its error appears beside it; mended, the error goes.
    pty.send("x").expect("typing");
    let screen = pty
        .wait_until("the error beside the broken line", WAIT, |s| {
            editor_row(s, "xname: hello").contains("◀") && s.contains("✗ ")
        })
        .expect("the error");
    capture(&pty, "plan-error");
    assert!(
        editor_row(&screen, "xname: hello").contains("xname"),
        "{screen}"
    );
    pty.send("\x7f").expect("typing");
    pty.wait_until("the error gone", WAIT, |s| {
        !s.contains("◀") && s.contains("✓ valid") && !s.contains("xname")
    })
    .expect("the line mended");

    // A real edit, then run.
    pty.send("\x1b[F-edited").expect("typing");
    pty.wait_until("the edit checked", WAIT, |s| {
        s.contains("name: hello-edited") && s.contains("✓ valid")
    })
    .expect("the edit");
    pty.send("\x12").expect("typing");
    pty.wait_for("waits for approval", WAIT)
        .expect("the planned run, stopped at its gate");
    approve(&mut pty);
    pty.wait_for("✓ succeeded", WAIT)
        .expect("the run finishes once approved");
    assert_eq!(
        std::fs::read_to_string(place.work().join("hello.txt")).expect("the step's file"),
        "hello\n"
    );

    // The draft and the edit are plan versions; the run ran the edit.
    let versions = place.json(&["plans", "--json"]);
    let versions = versions.as_array().expect("a list");
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0]["kind"], "draft");
    assert_eq!(versions[0]["provider"], "fake");
    assert_eq!(versions[1]["kind"], "edit");
    assert_eq!(versions[1]["parent"], versions[0]["id"]);
    assert!(
        versions[1]["yaml"]
            .as_str()
            .is_some_and(|y| y.contains("name: hello-edited")),
        "{versions:?}"
    );
    let id = versions[1]["id"].as_str().expect("an id");
    let shown = place.json(&["plans", "show", id, "--json"]);
    let runs = place.json(&["ls", "--json"]);
    assert_eq!(runs[0]["workflow"], "hello-edited");
    assert_eq!(shown["runs"][0], runs[0]["id"], "{shown}");
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}

#[test]
fn a_plan_is_saved_into_the_workflows_folder_and_redrafted_with_a_follow_up() {
    let place = Place::new();
    place.answer(PLAN);
    place.answer(
        &PLAN
            .replace("name: hello", "name: bonjour")
            .replace("echo hello", "echo bonjour"),
    );
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("p").expect("typing");
    pty.wait_for("What should the workflow do?", WAIT)
        .expect("the request box");
    pty.send("say hello into a file\r").expect("typing");
    pty.wait_for("✓ valid", WAIT).expect("the draft");
    pty.send("\x13").expect("typing");
    pty.wait_for("saved to workflows/hello.yaml", WAIT)
        .expect("saved");
    let saved =
        std::fs::read_to_string(place.work().join("workflows/hello.yaml")).expect("the saved file");
    assert!(
        saved.contains("approve: true") && saved.contains("echo hello > hello.txt"),
        "{saved}"
    );

    pty.send("\x14").expect("typing");
    pty.wait_for("another draft:", WAIT)
        .expect("the follow-up box");
    pty.send("say it in French\r").expect("typing");
    let screen = pty
        .wait_until("the second draft", WAIT, |s| {
            s.contains("echo bonjour > hello.txt") && s.contains("✓ valid")
        })
        .expect("the redraft");
    assert!(screen.contains("name: bonjour"), "{screen}");
    let asked = place.fake.requests();
    assert_eq!(asked.len(), 2);
    let second = asked[1].body.to_string();
    assert!(
        second.contains("say it in French") && second.contains("echo hello > hello.txt"),
        "the follow-up carries the draft: {second}"
    );
    let versions = place.json(&["plans", "--json"]);
    let versions = versions.as_array().expect("a list");
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[1]["parent"], versions[0]["id"]);
    assert_eq!(versions[1]["request"], "say it in French");
    pty.send("\x1b").expect("typing");
    pty.wait_until("the editor closed", WAIT, |s| !s.contains("another draft"))
        .expect("esc closes");
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}

/// Starts `greet` from the Workflows view and waits for its failure; the failed step is
/// selected with `e`.
fn fail_greet(pty: &mut Pty) {
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("n").expect("typing");
    pty.wait_for("Fails once", WAIT)
        .expect("the workflows view");
    // The list is sorted by name: greet first.
    pty.send("\r").expect("typing");
    pty.wait_for("Start greet", WAIT).expect("the start form");
    pty.send("\r").expect("typing");
    pty.wait_for("✗ failed", WAIT).expect("the run fails");
    pty.send("e").expect("typing");
    pty.wait_until("the failed step selected, offering a fix", WAIT, |s| {
        s.contains("F fix")
    })
    .expect("the fix key in the hints");
}

#[test]
fn a_fix_of_a_failed_step_approved_in_the_console_continues_the_run() {
    let place = Place::new();
    let mut pty = place.console();
    fail_greet(&mut pty);
    place.answer(&FAILING.replace("echo boom; exit 3", "echo fixed > fixed.txt"));
    pty.send("F").expect("typing");
    let screen = pty
        .wait_until("the proposal as a diff", WAIT, |s| {
            s.contains("+    run: echo fixed > fixed.txt") && s.contains("apply, continue the run")
        })
        .expect("the diff");
    capture(&pty, "repair-diff");
    assert!(screen.contains("-    run: echo boom; exit 3"), "{screen}");
    let asked = place.fake.requests()[0].body.to_string();
    assert!(
        asked.contains("Exit code: 3") && asked.contains("boom"),
        "{asked}"
    );
    pty.send("A").expect("typing");
    pty.wait_for("✓ succeeded", WAIT)
        .expect("the run continues to its end");
    assert!(place.work().join("fixed.txt").exists());
    assert!(place.work().join("after.txt").exists());
    let runs = place.json(&["ls", "--json"]);
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(1),
        "the same run went on"
    );
    let versions = place.json(&["plans", "--json"]);
    assert_eq!(versions[0]["kind"], "repair", "{versions}");
    assert_eq!(versions[0]["run"], runs[0]["id"]);
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}

#[test]
fn a_fix_rejected_in_the_console_changes_nothing() {
    let place = Place::new();
    let mut pty = place.console();
    fail_greet(&mut pty);
    let id = place.json(&["ls", "--json"])[0]["id"]
        .as_str()
        .expect("a run id")
        .to_string();
    let before = place.json(&["show", &id, "--json"]);
    place.answer(&FAILING.replace("echo boom; exit 3", "echo fixed > fixed.txt"));
    pty.send("F").expect("typing");
    pty.wait_for("+    run: echo fixed > fixed.txt", WAIT)
        .expect("the diff");
    pty.send("X").expect("typing");
    pty.wait_for("not applied; nothing changed", WAIT)
        .expect("the rejection said");
    assert_eq!(
        place.json(&["show", &id, "--json"]),
        before,
        "the run changed"
    );
    assert!(!place.work().join("fixed.txt").exists());
    assert!(!place.work().join("after.txt").exists());
    let versions = place.json(&["plans", "--json"]);
    assert_eq!(versions.as_array().map(Vec::len), Some(0), "{versions}");
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}

#[test]
fn a_dry_run_in_the_console_shows_every_command_and_runs_none() {
    let place = Place::new();
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("n").expect("typing");
    pty.wait_for("Makes a file", WAIT)
        .expect("the workflows view");
    // greet, then touchy.
    pty.send("\x1b[B").expect("typing");
    pty.send("d").expect("typing");
    let screen = pty
        .wait_until("both rendered commands", WAIT, |s| {
            s.contains("$ touch side-effect.txt") && s.contains("$ ls -l side-effect.txt")
        })
        .expect("the dry run");
    capture(&pty, "dry-run");
    assert!(screen.contains("Dry run of touchy"), "{screen}");
    assert!(screen.contains("1. touch (run)") && screen.contains("2. show (run)"));
    assert!(!place.work().join("side-effect.txt").exists());
    assert_eq!(place.json(&["ls", "--json"]), json!([]), "nothing stored");
    pty.send("\x1b").expect("typing");
    pty.wait_until("the overlay closed", WAIT, |s| !s.contains("Dry run of"))
        .expect("esc closes it");
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}

#[test]
fn a_child_runs_steps_show_under_its_workflow_step_in_the_tree() {
    let place = Place::new();
    let workflows = place.work().join("workflows");
    std::fs::write(
        workflows.join("family.yaml"),
        "name: family\ndescription: Calls kid\nsteps:\n  - id: call\n    workflow: { path: ./kid.yaml }\n  - id: done\n    run: echo done\n    depends_on: [call]\n",
    )
    .expect("a workflow");
    std::fs::write(
        workflows.join("kid.yaml"),
        "name: kid\ndescription: Two steps\nsteps:\n  - id: first-kid-step\n    run: echo one\n  - id: second-kid-step\n    run: echo two\n    depends_on: [first-kid-step]\n",
    )
    .expect("a workflow");
    let mut pty = place.console();
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("n").expect("typing");
    pty.wait_for("Calls kid", WAIT).expect("the workflows view");
    pty.send("\r").expect("typing");
    pty.wait_for("Start family", WAIT).expect("the start form");
    pty.send("\r").expect("typing");
    // The tree is the left pane: the first 40 columns.
    let tree =
        |s: &str| -> Vec<String> { s.lines().map(|l| l.chars().take(40).collect()).collect() };
    // Every row of the tree drawn, `done` included: a frame can be seen half written.
    let screen = pty
        .wait_until("the child's steps under the workflow step", WAIT, |s| {
            s.contains("✓ succeeded")
                && s.contains("↳ ✓ first-kid-step")
                && s.contains("↳ ✓ second-kid-step")
                && tree(s).iter().any(|l| l.contains(" done "))
        })
        .expect("the tree");
    capture(&pty, "child-run");
    let rows = tree(&screen);
    let at = |needle: &str| rows.iter().position(|l| l.contains(needle));
    let (call, first, second, done) = (
        at(" call "),
        at("first-kid-step"),
        at("second-kid-step"),
        at(" done "),
    );
    assert!(
        call < first && first < second && second < done,
        "the child's steps sit under `call`: {screen}"
    );
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"));
}
