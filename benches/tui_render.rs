//! One frame of the console for a run of 10,000 steps with 100,000 log lines (the ring keeps
//! the newest 10,000), drawn into ratatui's TestBackend. Target: under 5 ms per frame.

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
use criterion::{Criterion, criterion_group, criterion_main};
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
criterion_main!(benches);
