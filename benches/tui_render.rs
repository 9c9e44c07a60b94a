//! One frame of the console for a run of 10,000 steps with 100,000 log lines (the ring keeps
//! the newest 10,000), drawn into ratatui's TestBackend. Target: under 5 ms per frame.
//!
//! Then the CPU time the real `baton` console uses in a pseudo-terminal over 5 s with nothing
//! happening (target: ~0), and over 5 s with a step running (its clock redraws once a second).
//! `cargo bench --bench tui_render -- idle` runs only that part.

#[path = "../tests/support/pty.rs"]
mod pty;

use std::hint::black_box;

use baton::engine::RunDetail;
use baton::spec::StepId;
use baton::store::{
    LogLine, LogStream, RunId, RunRecord, RunState, StepRecord, StepStatus, Timestamp,
};
use baton::tui::keymap::Keymap;
use baton::tui::logs::{LogEntry, LogSearch};
use baton::tui::model::{Detail, Model, Pane, Screen, Tab};
use baton::tui::theme::Theme;
use baton::tui::view;
use criterion::{Criterion, criterion_group};
use indexmap::IndexMap;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const STEPS: usize = 10_000;
const LINES: u64 = 100_000;
const NOW: Timestamp = Timestamp(1_790_000_000_000);

fn big_model() -> Model {
    let steps: Vec<StepRecord> = (0..STEPS)
        .map(|i| {
            let mut s = StepRecord::pending(StepId(format!("s{i}")), 3);
            s.status = match i % 4 {
                0 => StepStatus::Succeeded,
                1 => StepStatus::Running,
                2 => StepStatus::Failed,
                _ => StepStatus::Pending,
            };
            // Chains of 100: step i waits for step i - 100.
            s.index = i as u32;
            s.level = (i / 100) as u32;
            s.kind = "run".into();
            if i >= 100 {
                s.depends_on = vec![StepId(format!("s{}", i - 100))];
            }
            s.attempt = 1;
            s.duration_ms = Some((i as u64 * 37) % 5000);
            s
        })
        .collect();
    let run = RunRecord {
        id: RunId("r-big".into()),
        workflow: "big".into(),
        workflow_path: None,
        source: String::new(),
        params: IndexMap::new(),
        workdir: None,
        state: RunState::Running,
        created_at: Timestamp(NOW.0 - 60_000),
        started_at: Some(Timestamp(NOW.0 - 60_000)),
        finished_at: None,
        owner: None,
        reason: None,
        steps_total: STEPS as u32,
        steps_done: (STEPS / 2) as u32,
        stopped: Default::default(),
        parent: None,
    };
    let mut detail = Detail::new(RunDetail {
        run: run.clone(),
        steps,
        approvals: vec![],
    });
    for seq in 1..=LINES {
        detail.push_log(LogEntry::from_line(&LogLine {
            seq,
            ts: Timestamp(NOW.0 - 60_000 + seq),
            step: StepId(format!("s{}", seq % STEPS as u64)),
            stream: LogStream::Stdout,
            text: format!(
                "line {seq}: \x1b[32mok\x1b[0m compiling crate number {seq} progress 10%\r100%"
            ),
        }));
    }
    detail.selected_row = STEPS / 2;
    let mut model = Model::new(NOW);
    model.runs = vec![run];
    model.screen = Screen::Detail;
    model.detail = Some(detail);
    model
}

fn frame(c: &mut Criterion) {
    let theme = Theme::default();
    let keymap = Keymap::default();
    let mut terminal = match Terminal::new(TestBackend::new(160, 48)) {
        Ok(t) => t,
        Err(e) => panic!("a test terminal: {e}"),
    };
    let mut model = big_model();
    let mut draw = |model: &Model| {
        let _ = terminal.draw(|f| view::draw(f, black_box(model), &theme, &keymap));
    };
    c.bench_function("frame: 10k steps, 100k log lines, follow", |b| {
        b.iter(|| draw(&model))
    });
    if let Some(d) = model.detail.as_mut() {
        d.log_view.wrap = true;
        d.log_view.timestamps = true;
        d.log_view.search = Some(LogSearch::run("ok", d.shown_ring().iter()));
    }
    c.bench_function("frame: 10k steps, 100k log lines, wrap + search", |b| {
        b.iter(|| draw(&model))
    });
    if let Some(d) = model.detail.as_mut() {
        d.tab = Tab::Metrics;
        d.pane = Pane::Tab;
        d.metrics_offset = STEPS / 2;
    }
    c.bench_function("frame: 10k steps, metrics tab", |b| b.iter(|| draw(&model)));
    let entry_text = "line: \x1b[32mok\x1b[0m compiling crate progress 10%\r100%".to_string();
    c.bench_function("ingest: 1,000 log lines into the open run", |b| {
        let mut seq = LINES;
        b.iter(|| {
            if let Some(d) = model.detail.as_mut() {
                for _ in 0..1000 {
                    seq += 1;
                    d.push_log(LogEntry::from_line(&LogLine {
                        seq,
                        ts: NOW,
                        step: StepId("s1".into()),
                        stream: LogStream::Stdout,
                        text: entry_text.clone(),
                    }));
                }
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = frame
}

/// How long each idle measurement lasts.
const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Milliseconds of CPU the console uses over [`IDLE`], once `keys` are typed and the screen
/// shows `ready`.
fn console_cpu(dir: &std::path::Path, keys: &[&str], ready: &str) -> anyhow::Result<f64> {
    use anyhow::Context;
    let wait = std::time::Duration::from_secs(60);
    let mut cmd = portable_pty::CommandBuilder::new(env!("CARGO_BIN_EXE_baton"));
    cmd.arg("--data-dir");
    cmd.arg(dir.join("data"));
    cmd.cwd(dir);
    cmd.env("TERM", "xterm-256color");
    cmd.env("BATON_CONFIG_DIR", dir.join("config"));
    let mut console = pty::Pty::spawn(cmd, 100, 30)?;
    console.wait_for("Runs (", wait)?;
    for key in keys {
        console.send(key)?;
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    console.wait_for(ready, wait)?;
    // Let start-up and the keys' work settle.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let pid = console.pid().context("the console's pid")?;
    let before = pty::cpu_nanos(pid)?;
    std::thread::sleep(IDLE);
    let after = pty::cpu_nanos(pid)?;
    Ok(after.saturating_sub(before) as f64 / 1e6)
}

/// Prints the idle figures (milliseconds of CPU over 5 s of wall time).
fn idle_cpu() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filter.is_empty() && !filter.iter().any(|f| "idle cpu".contains(f.as_str())) {
        return;
    }
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("idle cpu: cannot make a temp dir");
        return;
    };
    let workflows = dir.path().join("workflows");
    let written = std::fs::create_dir_all(&workflows).and_then(|_| {
        std::fs::write(
            workflows.join("nap.yaml"),
            "name: nap\nsteps:\n  - id: nap\n    run: sleep 60\n",
        )
    });
    if let Err(e) = written {
        eprintln!("idle cpu: cannot write a workflow: {e}");
        return;
    }
    let cases: [(&str, &[&str], &str); 2] = [
        ("idle cpu: console, nothing running", &[], "No runs yet"),
        (
            "idle cpu: console, a step running (1 redraw/s)",
            &["n", "\r", "\r"],
            "● nap",
        ),
    ];
    for (name, keys, ready) in cases {
        match console_cpu(dir.path(), keys, ready) {
            Ok(ms) => println!(
                "{name:<48} {ms:>8.2} ms CPU in {}s ({:.3}% of one core)",
                IDLE.as_secs(),
                ms / IDLE.as_millis() as f64 * 100.0
            ),
            Err(e) => eprintln!("{name}: {e:#}"),
        }
    }
}

fn main() {
    benches();
    idle_cpu();
    Criterion::default().configure_from_args().final_summary();
}
