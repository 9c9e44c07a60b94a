//! The real `baton` console in a pseudo-terminal, with an agent step whose model (the fake
//! provider on 127.0.0.1) asks for a `shell` call and then writes its answer slowly: the
//! operator approves the call in the console, and the answer's first tokens are on the screen
//! while the model still holds the rest back — in the Logs tab, under the step's last line, and
//! in the step's Conversation tab, which also shows the turn, the call with its arguments and
//! who approved it. Once the model goes on, the finished answer replaces the unfinished line.
//! The same holds for a console attached to a headless `baton run` (Events over the socket).
//!
//! Every wait is "until the screen says so", with a generous limit.

#[path = "support/agent_run.rs"]
mod agent_run;
#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;
#[path = "support/pty.rs"]
mod pty;

use std::process::{Child, Stdio};
use std::time::Duration;

use agent_run::{Place, calls};
use fake_llm::{FakeLlm, Gate, Reply};
use portable_pty::CommandBuilder;
use pty::Pty;
use serde_json::json;

/// Long enough for a loaded 2-core machine building other things at the same time.
const WAIT: Duration = Duration::from_secs(90);

const TRIAGE: &str = "name: triage
description: An agent looks at the disk
steps:
  - id: look
    agent: devops
    prompt: Why is the disk full?
    tools: [shell]
";

/// What the model writes before it holds back (no line break: a line-by-line log shows none
/// of it until the line is finished).
const BEGUN: &str = "The disk is full because the old logs";
/// What it writes once let go.
const REST: &str = " were never rotated.\nRotate them weekly.";

/// A fake whose first answer asks for a `shell` call and whose second is held after `BEGUN`.
fn fake(rt: &tokio::runtime::Runtime, gate: &Gate) -> FakeLlm {
    let fake = rt.block_on(FakeLlm::start());
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo checked > checked.txt"}),
    )]));
    fake.push(Reply::Held {
        before: BEGUN.into(),
        gate: gate.clone(),
        after: REST.into(),
    });
    fake
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the fake provider")
}

/// The place, with the workflow where the console's Workflows view finds it.
fn place(fake: &FakeLlm) -> Place {
    let place = Place::new(fake, TRIAGE);
    std::fs::create_dir_all(place.path("workflows")).expect("a workflows dir");
    std::fs::write(place.path("workflows/triage.yaml"), TRIAGE).expect("the workflow file");
    place
}

/// `baton` (the console) in a 120×40 terminal, with only the fake configured.
fn console(place: &Place) -> Pty {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
    cmd.arg("--data-dir");
    cmd.arg(place.path("data"));
    cmd.cwd(&place.cwd);
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("NO_COLOR");
    cmd.env("BATON_CONFIG_DIR", place.path("config"));
    cmd.env("ANTHROPIC_API_KEY", "sk-ant-test");
    for var in [
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "OLLAMA_HOST",
    ] {
        cmd.env_remove(var);
    }
    Pty::spawn(cmd, 120, 40).expect("the console in a pty")
}

/// Opens the announced gate with `a`, checks it shows the exact command, waits until it
/// takes keys and approves with `A`.
fn approve_the_shell_call(pty: &mut Pty) {
    pty.wait_for("waits for approval", WAIT)
        .expect("the banner, when the agent asks to run a command");
    pty.send("a").expect("typing");
    pty.wait_until("the prompt showing the command", WAIT, |s| {
        s.contains("Approval needed") && s.contains("echo checked > checked.txt")
    })
    .expect("the prompt, opened with `a`");
    pty.wait_until("the prompt taking keys", WAIT, |s| {
        s.contains("Approval needed") && s.contains("esc  later")
    })
    .expect("the guard lets go");
    pty.send("A").expect("typing");
}

/// From the approval on: the unfinished answer on screen while the model holds it, in the
/// Logs tab and the Conversation tab; then the finished answer once it goes on.
fn watch_the_answer_arrive(pty: &mut Pty, place: &Place, fake: &FakeLlm, gate: &Gate) {
    approve_the_shell_call(pty);
    let screen = pty
        .wait_for(BEGUN, WAIT)
        .expect("the answer's first tokens, before its line is finished");
    assert!(
        screen.contains(&format!("[look] {BEGUN}▍")),
        "the unfinished line sits under the step's log, with a cursor: {screen}"
    );
    assert!(!screen.contains("never rotated"), "{screen}");
    assert_eq!(fake.hits(), 2, "the model was asked after the call ran");
    assert_eq!(
        std::fs::read_to_string(place.path("checked.txt")).expect("the approved call ran"),
        "checked\n"
    );

    // The Conversation tab of the agent step (after Events, before Logs again).
    pty.send("[").expect("typing");
    let screen = pty
        .wait_until("the conversation with the approved call", WAIT, |s| {
            s.contains("Conversation — look")
                && s.contains("⚙ shell")
                && s.contains("echo checked > checked.txt")
                && s.contains("⚑ approved by")
                && s.contains("turn 2 · writing…")
        })
        .expect("the Conversation tab");
    assert!(screen.contains("── turn 1 · fake/fake-model"), "{screen}");
    assert!(screen.contains("▸ result"), "results come folded: {screen}");
    assert!(screen.contains(&format!("{BEGUN}▍")), "{screen}");
    assert!(!screen.contains("never rotated"), "{screen}");

    gate.open();
    let screen = pty
        .wait_until("the answer recorded as turn 2", WAIT, |s| {
            s.contains("── turn 2 · fake/fake-model") && s.contains("Rotate them weekly.")
        })
        .expect("the finished answer");
    assert!(!screen.contains("writing…"), "{screen}");
    assert!(!screen.contains('▍'), "{screen}");
    pty.send("]").expect("typing");
    pty.wait_until("the finished lines in the log", WAIT, |s| {
        s.contains(&format!("[look] {BEGUN} were never rotated.")) && s.contains("✓ succeeded")
    })
    .expect("the whole answer logged, line by line");
}

/// The console owns the store: it starts the run, the gate opens in it, its engine streams.
#[test]
fn the_console_approves_a_shell_call_and_shows_the_answer_while_the_model_writes_it() {
    let rt = runtime();
    let gate = Gate::new();
    let fake = fake(&rt, &gate);
    let place = place(&fake);
    let mut pty = console(&place);
    pty.wait_for("No runs yet", WAIT).expect("the runs view");
    pty.send("n").expect("typing");
    pty.wait_for("An agent looks at the disk", WAIT)
        .expect("the workflow listed");
    pty.send("\r").expect("typing");
    pty.wait_for("Start triage", WAIT).expect("the start form");
    pty.send("\x13").expect("typing");
    watch_the_answer_arrive(&mut pty, &place, &fake, &gate);
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"), "exit 0");
}

/// The headless owner, killed if the test ends before it does.
struct Owner(Child);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A console attached to a headless `baton run`: the unfinished line comes over the owner's
/// control socket, and the approval goes back the same way.
#[test]
fn a_console_attached_to_a_headless_run_shows_the_answer_while_the_model_writes_it() {
    let rt = runtime();
    let gate = Gate::new();
    let fake = fake(&rt, &gate);
    let place = place(&fake);
    let mut owner = Owner(
        place
            .baton(&["run", "--wait-for-gates", "workflows/triage.yaml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the headless owner"),
    );
    let socket = place.path("data/store/control.sock");
    harness::eventually(WAIT, "the owner to listen", || socket.exists());
    let mut pty = console(&place);
    pty.wait_until("the owner's run listed", WAIT, |s| {
        s.contains("attached to baton process") && s.contains("triage")
    })
    .expect("the console attached");
    pty.send("\r").expect("typing");
    pty.wait_for("triage · r", WAIT).expect("the run opened");
    watch_the_answer_arrive(&mut pty, &place, &fake, &gate);
    assert_eq!(owner.0.wait().expect("the owner ends").code(), Some(0));
    pty.send("q").expect("typing");
    assert!(pty.wait_exit(WAIT).expect("the console exits"), "exit 0");
}
