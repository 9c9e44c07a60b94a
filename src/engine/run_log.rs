//! A run's log as it is captured: lines numbered, cut when too long, capped per step (the head
//! and the tail kept, a line saying what was dropped between them), and stored in chunks.
//!
//! Lines wait in memory until their step has a chunk's worth, its run commits a batch of
//! transitions, or [`WRITE_DELAY`] has passed, so a flood costs a sled write per ~32 KiB and a
//! trickle is readable (by `baton logs --follow` through the owner) a moment after it is
//! printed. Past its head a step's lines wait in a bounded ring until the step ends: only then
//! is it known which of them are the tail.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::spec::StepId;
use crate::store::flush::SyncFile;
use crate::store::{
    LOG_CHUNK_BYTES, LogChunk, LogFile, LogLine, LogStream, RunId, Store, Timestamp, cut_line,
};

/// How long a line may wait in memory before it is written.
pub const WRITE_DELAY: Duration = Duration::from_millis(200);

/// How much of a step's output is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogLimits {
    /// Bytes kept per step: the first half and the last half of what it printed.
    pub max_bytes_per_step: usize,
    /// Longer lines are cut, with a note of how much was cut.
    pub max_line_bytes: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_bytes_per_step: 16 * 1024 * 1024,
            max_line_bytes: 64 * 1024,
        }
    }
}

/// One step's lines not yet written, and what its cap has done.
#[derive(Default)]
struct StepLog {
    /// Lines to write (of the head), or to encode into the tail (past it).
    unwritten: Vec<LogLine>,
    unwritten_bytes: usize,
    head_bytes: usize,
    head_full: bool,
    /// The newest chunks past the head, encoded (a line as a struct costs 50 times a `y`).
    tail: VecDeque<LogChunk>,
    tail_bytes: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
    last_dropped: u64,
}

impl StepLog {
    /// Moves the waiting lines into the tail, dropping its oldest chunks past `budget`.
    fn push_tail(&mut self, budget: u64) {
        if self.unwritten.is_empty() {
            return;
        }
        let chunk = LogChunk::encode(&std::mem::take(&mut self.unwritten));
        self.unwritten_bytes = 0;
        self.tail_bytes += chunk.printed;
        self.tail.push_back(chunk);
        while self.tail_bytes > budget && self.tail.len() > 1 {
            let Some(old) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= old.printed;
            self.dropped_lines += old.lines;
            self.dropped_bytes += old.printed;
            self.last_dropped = old.last_seq;
        }
    }
}

struct Inner {
    seq: u64,
    steps: HashMap<StepId, StepLog>,
    waiting: bool,
    /// The run's chunk file, held open (it knows whether it was written since its last sync).
    file: LogFile,
    closed: bool,
}

/// The log of one run being captured; shared by its driver and its steps' sinks.
pub struct RunLog {
    store: Store,
    limits: LogLimits,
    inner: Mutex<Inner>,
    wake: Arc<Notify>,
    /// Set once a write has failed (or the run's store is known broken): nothing more is
    /// written, and the run's sink shows no more lines.
    broken: AtomicBool,
    /// Told why, once, at the first failed write (the run's driver stops the run interrupted).
    on_failure: Box<dyn Fn(String) + Send + Sync>,
}

impl RunLog {
    /// A run's log whose stored lines end at `last_seq` (see [`RunLog::spawn_writer`]).
    pub fn new(
        store: Store,
        run: RunId,
        limits: LogLimits,
        last_seq: u64,
        on_failure: Box<dyn Fn(String) + Send + Sync>,
    ) -> Arc<RunLog> {
        Arc::new(RunLog {
            broken: AtomicBool::new(false),
            on_failure,
            store,
            limits: LogLimits {
                max_bytes_per_step: limits.max_bytes_per_step.max(2),
                max_line_bytes: limits.max_line_bytes.max(1),
            },
            inner: Mutex::new(Inner {
                seq: last_seq,
                steps: HashMap::new(),
                waiting: false,
                file: LogFile::new(&run),
                closed: false,
            }),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Starts the task that writes lines which have waited [`WRITE_DELAY`] (on the current
    /// tokio runtime); it ends when the log is closed or dropped.
    pub fn spawn_writer(self: &Arc<Self>) {
        tokio::spawn(write_behind(Arc::downgrade(self), self.wake.clone()));
    }

    /// The log of `run`, following its stored lines; `on_failure` hears why writing stopped.
    /// Its file is open before any step starts when a step may take descriptors (a process, a
    /// connection): such a step cannot then leave the run with none left to store its lines.
    /// A run of only transforms, gates and sleeps opens it at its first line, if any — most
    /// have none, and creating a file is most of what starting a small run costs.
    pub fn for_run(
        engine: &super::shared::EngineShared,
        run: &RunId,
        wf: &crate::spec::Workflow,
        on_failure: impl Fn(String) + Send + Sync + 'static,
    ) -> anyhow::Result<Arc<RunLog>> {
        use crate::spec::StepKind;
        let log = RunLog::new(
            engine.store.clone(),
            run.clone(),
            engine.config.logs,
            engine.store.last_log_seq(run)?,
            Box::new(on_failure),
        );
        let takes_descriptors = wf.steps.iter().any(|s| {
            !matches!(
                s.kind,
                StepKind::Transform(_) | StepKind::Approval(_) | StepKind::Sleep(_)
            )
        });
        if takes_descriptors {
            log.open_file()?;
        }
        Ok(log)
    }

    /// Opens the run's chunk file (see [`Store::open_log_file`]).
    pub fn open_file(&self) -> anyhow::Result<()> {
        self.store.open_log_file(&mut self.lock().file)
    }

    /// Whether writing has stopped (a write failed, or the run's store did).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Stops writing: the store failed elsewhere and the run is stopping.
    pub fn stop_writing(&self) {
        self.broken.store(true, Ordering::Relaxed);
    }

    /// A write failed: stop writing, and say why once.
    fn fail(&self, e: &anyhow::Error) {
        if !self.broken.swap(true, Ordering::Relaxed) {
            (self.on_failure)(crate::store::space::write_failure(self.store.dir(), e));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a line of `step` (already redacted): numbers it, cuts it if too long, keeps or
    /// drops it under the step's cap. Returns it as numbered, for live viewers.
    pub fn record(&self, step: &StepId, stream: LogStream, text: &str) -> LogLine {
        let text = cut_line(text, self.limits.max_line_bytes).into_owned();
        let head_budget = self.limits.max_bytes_per_step / 2;
        let tail_budget = self.limits.max_bytes_per_step - head_budget;
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.seq += 1;
        let line = LogLine {
            seq: inner.seq,
            ts: Timestamp::now(),
            step: step.clone(),
            stream,
            text,
        };
        let size = line.text.len() + 1;
        let st = inner.steps.entry(step.clone()).or_default();
        if st.head_full || st.head_bytes + size > head_budget {
            if !st.head_full {
                // The head is complete: what waits of it is written, the rest is tail.
                st.head_full = true;
                let lines = std::mem::take(&mut st.unwritten);
                st.unwritten_bytes = 0;
                self.write(&mut inner.file, &[(step, &lines)]);
            }
            st.unwritten_bytes += size;
            st.unwritten.push(line.clone());
            if st.unwritten_bytes >= LOG_CHUNK_BYTES {
                st.push_tail(tail_budget as u64);
            }
            return line;
        }
        st.head_bytes += size;
        st.unwritten_bytes += size;
        st.unwritten.push(line.clone());
        if st.unwritten_bytes >= LOG_CHUNK_BYTES {
            let lines = std::mem::take(&mut st.unwritten);
            st.unwritten_bytes = 0;
            self.write(&mut inner.file, &[(step, &lines)]);
        } else if !inner.waiting {
            inner.waiting = true;
            self.wake.notify_one();
        }
        line
    }

    /// Writes every line of a head that waits (before a batch of transitions is committed, so
    /// a step's lines land no later than its result).
    pub fn write_pending(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.waiting = false;
        let taken: Vec<(StepId, Vec<LogLine>)> = inner
            .steps
            .iter_mut()
            .filter(|(_, st)| !st.unwritten.is_empty() && !st.head_full)
            .map(|(step, st)| {
                st.unwritten_bytes = 0;
                (step.clone(), std::mem::take(&mut st.unwritten))
            })
            .collect();
        if !taken.is_empty() {
            let refs: Vec<(&StepId, &[LogLine])> =
                taken.iter().map(|(s, l)| (s, l.as_slice())).collect();
            self.write(&mut inner.file, &refs);
        }
    }

    /// The run's log file when lines were appended to it since it was last handed out: the
    /// flush of the next durable batch syncs it first (see [`crate::store::Flusher`]), so every
    /// line written so far is durable no later than that batch, and the driver never waits
    /// for the disk itself.
    pub fn unsynced_file(&self) -> Option<SyncFile> {
        if self.is_broken() {
            return None;
        }
        self.store.log_file_to_sync(&mut self.lock().file)
    }

    /// The step ended: its kept tail is written after a line saying what was dropped, and a
    /// later run of it (a retry) starts with a fresh cap.
    pub fn close_step(&self, step: &StepId) {
        let mut inner = self.lock();
        let Some(mut st) = inner.steps.remove(step) else {
            return;
        };
        if !st.head_full {
            self.write(&mut inner.file, &[(step, &st.unwritten)]);
            return;
        }
        st.push_tail(u64::MAX);
        let mut chunks = Vec::with_capacity(st.tail.len() + 1);
        if st.dropped_lines > 0 {
            // It takes the seq of the last line dropped: between the head and the tail.
            chunks.push(LogChunk::encode(&[LogLine {
                seq: st.last_dropped,
                ts: Timestamp::now(),
                step: step.clone(),
                stream: LogStream::System,
                text: self.dropped_note(&st),
            }]));
        }
        chunks.extend(std::mem::take(&mut st.tail));
        let refs: Vec<(&StepId, &LogChunk)> = chunks.iter().map(|c| (step, c)).collect();
        if self.is_broken() {
            return;
        }
        if let Err(e) = self.store.append_log_chunks(&mut inner.file, &refs) {
            self.fail(&e);
        }
    }

    /// The run stopped: every step's lines are written and the writing task ends (the flush
    /// of the run's final state makes them durable: see [`RunLog::unsynced_file`]).
    pub fn close(&self) {
        let steps: Vec<StepId> = self.lock().steps.keys().cloned().collect();
        for step in steps {
            self.close_step(&step);
        }
        self.write_pending();
        self.lock().closed = true;
        self.wake.notify_one();
    }

    fn dropped_note(&self, st: &StepLog) -> String {
        format!(
            "… {} line(s), {} byte(s) dropped here: the step printed more than the {} bytes \
             kept per step (the first and the last half are kept; `[logs] max_bytes_per_step` \
             in the config file sets it) …",
            st.dropped_lines, st.dropped_bytes, self.limits.max_bytes_per_step
        )
    }

    fn write(&self, file: &mut LogFile, lines: &[(&StepId, &[LogLine])]) {
        if self.is_broken() || lines.iter().all(|(_, l)| l.is_empty()) {
            return;
        }
        if let Err(e) = self.store.append_logs(file, lines) {
            self.fail(&e);
        }
    }
}

/// Writes lines that have waited [`WRITE_DELAY`], until the run's log is closed or dropped.
async fn write_behind(log: Weak<RunLog>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        tokio::time::sleep(WRITE_DELAY).await;
        let Some(log) = log.upgrade() else { return };
        if log.lock().closed {
            return;
        }
        log.write_pending();
    }
}
