//! The console's state, apart from drawing: the runs list, the open run's detail (steps, tree,
//! log rings, context, events), pending approvals, modals, filters. A cache of the store kept
//! current by Events; [`Model::apply`] folds one Event in without touching the engine.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::engine::RunDetail;
use crate::spec::StepId;
use crate::store::{
    ApprovalRecord, Event, EventKind, RunId, RunRecord, RunState, StepRecord, StepStatus, Timestamp,
};

use super::effect::Ticket;
use super::json_tree::Folds;
use super::logs::{LogEntry, LogRing, LogView, RING_CAPACITY};
use super::overlay::Modal;
use super::workflows::WorkflowEntry;

/// The top-level views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Every run.
    Runs,
    /// Workflow files to start.
    Workflows,
    /// One run: step tree and tabs.
    Detail,
}

/// The panes of the run detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    /// The step tree.
    Tree,
    /// The tab content.
    Tab,
}

/// The tabs of the run detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Streaming output.
    Logs,
    /// Params and step outputs as JSON.
    Context,
    /// Durations, retries, waits, tokens.
    Metrics,
    /// The run's history.
    Events,
    /// An agent step's turns, tool calls, approvals and cost (see `conversation.rs`).
    Conversation,
}

impl Tab {
    /// The tabs of every run, in order (an agent step adds [`Tab::Conversation`]: see
    /// `Detail::tabs`).
    pub const ALL: [Tab; 4] = [Tab::Logs, Tab::Context, Tab::Metrics, Tab::Events];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Logs => "Logs",
            Tab::Context => "Context",
            Tab::Metrics => "Metrics",
            Tab::Events => "Events",
            Tab::Conversation => "Conversation",
        }
    }

    /// The tab of `tabs` `delta` places away (wrapping).
    pub fn shifted(self, delta: isize, tabs: &[Tab]) -> Tab {
        let i = tabs.iter().position(|t| *t == self).unwrap_or(0) as isize;
        tabs.get((i + delta).rem_euclid(tabs.len().max(1) as isize) as usize)
            .copied()
            .unwrap_or(Tab::Logs)
    }
}

/// A one-line text being typed (filter, search, palette, comment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineInput {
    /// The text so far.
    pub text: String,
}

impl LineInput {
    /// Applies a typed character or backspace; returns whether the text changed.
    pub fn edit(&mut self, code: crossterm::event::KeyCode) -> bool {
        match code {
            crossterm::event::KeyCode::Char(c) => {
                self.text.push(c);
                true
            }
            crossterm::event::KeyCode::Backspace => self.text.pop().is_some(),
            _ => false,
        }
    }
}

/// What a line being typed is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputTarget {
    /// The runs filter.
    RunsFilter,
    /// The log search.
    LogSearch,
}

/// A message in the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// What to say.
    pub text: String,
    /// Whether it reports a failure.
    pub error: bool,
}

/// The open run.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The run record.
    pub run: RunRecord,
    /// Its steps, in workflow order.
    pub steps: Vec<StepRecord>,
    /// Its gates.
    pub approvals: Vec<ApprovalRecord>,
    /// Step id → index in `steps`.
    pub index: HashMap<StepId, usize>,
    /// When each running step's current stint began (from the Event that made it running), so
    /// its clock runs on after a resume; steps loaded running fall back to their start.
    pub running_since: HashMap<StepId, Timestamp>,
    /// The tree's rows: steps by DAG level, then workflow order, each unfolded fan-out's
    /// items under it.
    pub rows: Vec<crate::tui::fan_rows::TreeRow>,
    /// Fan-outs the operator folded (`true`) or unfolded, by step.
    pub item_folds: HashMap<StepId, bool>,
    /// Selected row of the tree.
    pub selected_row: usize,
    /// Focused pane.
    pub pane: Pane,
    /// Shown tab.
    pub tab: Tab,
    /// Every step's lines.
    pub logs_all: LogRing,
    /// Per-step lines, for the steps whose log was viewed.
    pub logs_step: HashMap<StepId, LogRing>,
    /// How the log pane shows lines.
    pub log_view: LogView,
    /// Params and step outputs (`{params, steps: {id: output}}`), loaded with the Context tab.
    pub context: Option<Value>,
    /// Folded nodes of the context tree.
    pub context_folds: Folds,
    /// Selected row of the context tree.
    pub context_selected: usize,
    /// The run's history, loaded with the Events tab.
    pub events: Option<Vec<Event>>,
    /// Selected row of the events list.
    pub events_selected: usize,
    /// First row shown of the metrics list.
    pub metrics_offset: usize,
    /// The newest live lines of every step: a tail read from the store is merged with the
    /// ones that came while it was in flight, so none is lost between the two.
    pub live: VecDeque<Arc<LogEntry>>,
    /// Counts and sums over `steps`, kept as they change.
    pub totals: crate::tui::step_totals::StepTotals,
    /// The steps of each child run, by the `workflow:` step that started it.
    pub children: HashMap<StepId, Vec<StepRecord>>,
    /// What agent steps are writing now, and the Conversation tab's selection.
    pub talk: crate::tui::conversation::Talk,
}

impl Detail {
    /// A detail view of `detail`; the tree follows the DAG levels the engine recorded.
    pub fn new(detail: RunDetail) -> Detail {
        let mut d = Detail {
            run: detail.run,
            steps: detail.steps,
            approvals: detail.approvals,
            index: HashMap::new(),
            running_since: HashMap::new(),
            rows: Vec::new(),
            item_folds: HashMap::new(),
            selected_row: 0,
            pane: Pane::Tree,
            tab: Tab::Logs,
            logs_all: LogRing::default(),
            logs_step: HashMap::new(),
            log_view: LogView::default(),
            context: None,
            context_folds: Folds::default(),
            context_selected: 0,
            events: None,
            events_selected: 0,
            metrics_offset: 0,
            live: VecDeque::new(),
            totals: Default::default(),
            children: HashMap::new(),
            talk: Default::default(),
        };
        d.totals = crate::tui::step_totals::StepTotals::of(&d.steps);
        d.reindex();
        d
    }

    pub(crate) fn reindex(&mut self) {
        self.index = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.step.clone(), i))
            .collect();
        let mut rows: Vec<usize> = (0..self.steps.len()).collect();
        rows.sort_by_key(|&i| (self.steps[i].level, self.steps[i].index, i));
        self.rows =
            crate::tui::fan_rows::tree_rows(&self.steps, &rows, &self.item_folds, &self.children);
        self.selected_row = self.selected_row.min(self.rows.len().saturating_sub(1));
    }

    /// The selected step's record.
    pub fn selected_step(&self) -> Option<&StepRecord> {
        self.rows
            .get(self.selected_row)
            .and_then(|r| self.steps.get(r.step))
    }

    /// The ring the log pane shows (the selected step's when scoped and loaded, else all).
    pub fn shown_ring(&self) -> &LogRing {
        if self.log_view.selected_step_only
            && let Some(key) = self.selected_log_key()
            && let Some(ring) = self.logs_step.get(&key)
        {
            return ring;
        }
        &self.logs_all
    }

    /// The ring the log pane shows, to change.
    pub fn shown_ring_mut(&mut self) -> &mut LogRing {
        let step = self
            .selected_log_key()
            .filter(|s| self.log_view.selected_step_only && self.logs_step.contains_key(s));
        match step {
            Some(s) => self.logs_step.entry(s).or_default(),
            None => &mut self.logs_all,
        }
    }

    /// Replaces a step's record (adding it when new).
    pub fn put_step(&mut self, record: StepRecord) {
        match self.index.get(&record.step) {
            Some(&i) => {
                let moved = (self.steps[i].level, self.steps[i].index)
                    != (record.level, record.index)
                    || self.steps[i].items.len() != record.items.len();
                let old = std::mem::replace(&mut self.steps[i], record);
                self.totals.replace(Some(&old), &self.steps[i], &self.steps);
                if moved {
                    self.reindex();
                }
            }
            None => {
                self.steps.push(record);
                if let Some(new) = self.steps.last() {
                    self.totals.replace(None, new, &self.steps);
                }
                self.reindex();
            }
        }
        self.run.steps_done = self.totals.ended;
        self.run.steps_total = self.run.steps_total.max(self.steps.len() as u32);
    }

    /// Replaces the ring of `step` (of every step when `None`) with a tail read from the store,
    /// then puts back the live lines that came while the read was in flight.
    pub fn put_tail(&mut self, step: Option<&StepId>, entries: Vec<Arc<LogEntry>>, older: bool) {
        let ring = match step {
            Some(s) => self.logs_step.entry(s.clone()).or_default(),
            None => &mut self.logs_all,
        };
        ring.replace(entries, older);
        // With older lines in the store, a live line older than the tail belongs to them;
        // without, every live line belongs in the ring (one step's lines may be stored before
        // another's older ones).
        let first = ring.first_seq().filter(|_| older).unwrap_or(0);
        for line in &self.live {
            if line.seq >= first && step.is_none_or(|s| is_or_item_of(&line.step, s)) {
                ring.push(line.clone());
            }
        }
    }

    /// Adds a live log line to the rings (and to the search when it lands in the shown ring).
    pub fn push_log(&mut self, entry: LogEntry) {
        // Not following, a full ring stops taking lines rather than drop the ones being read;
        // following again reloads the tail.
        if !self.log_view.follow {
            let ring = self.shown_ring_mut();
            if ring.len() >= ring.capacity() {
                ring.newer_in_store = true;
            }
        }
        let entry = Arc::new(entry);
        self.live.push_back(entry.clone());
        if self.live.len() > RING_CAPACITY {
            self.live.pop_front();
        }
        let shown_step = if self.log_view.selected_step_only {
            self.selected_log_key()
                .filter(|id| self.logs_step.contains_key(id))
        } else {
            None
        };
        let mut added_to_shown = false;
        // An item's line belongs to its own ring and to its step's.
        let parent = crate::store::parse_item_key(entry.step.as_str()).map(|(s, _)| s);
        for key in std::iter::once(&entry.step).chain(parent.as_ref()) {
            if let Some(ring) = self.logs_step.get_mut(key) {
                let before = ring.last_seq();
                ring.push(entry.clone());
                if shown_step.as_ref() == Some(key) {
                    added_to_shown = ring.last_seq() != before;
                }
            }
        }
        let before = self.logs_all.last_seq();
        self.logs_all.push(entry.clone());
        if shown_step.is_none() {
            added_to_shown = self.logs_all.last_seq() != before;
        }
        if added_to_shown && let Some(search) = self.log_view.search.as_mut() {
            search.extend(std::iter::once(&entry));
        }
    }
}

/// Whether a line of `line_step` belongs to the ring of `step` (its own, or one of its items').
fn is_or_item_of(line_step: &StepId, step: &StepId) -> bool {
    line_step == step
        || crate::store::parse_item_key(line_step.as_str()).is_some_and(|(s, _)| s == *step)
}

/// Everything the console shows.
pub struct Model {
    /// The current view.
    pub screen: Screen,
    /// Every run, newest first.
    pub runs: Vec<RunRecord>,
    /// Selected row of the (filtered) runs list.
    pub runs_selected: usize,
    /// The runs filter (`/`).
    pub runs_filter: String,
    /// Workflow files.
    pub workflows: Vec<WorkflowEntry>,
    /// Selected workflow.
    pub workflows_selected: usize,
    /// The open run.
    pub detail: Option<Detail>,
    /// Undecided gates of every run, oldest first.
    pub approvals: Vec<ApprovalRecord>,
    /// Open overlays, the top one last.
    pub modals: Vec<Modal>,
    /// A line being typed and what for.
    pub input: Option<(InputTarget, LineInput)>,
    /// The last message.
    pub status: Option<Status>,
    /// The time used for clocks (set by the event loop before each frame).
    pub now: Timestamp,
    /// The monotonic time of the key being handled or the frame being drawn (the approval
    /// prompt's guard is measured on it).
    pub clock: Instant,
    /// The theme's name (shown in help).
    pub theme_name: String,
    /// Calls in flight and what they do (`working… pausing run r-0004`).
    pub working: Vec<(Ticket, String)>,
    /// Gates whose decision is on its way to the engine.
    pub deciding: HashSet<(RunId, StepId)>,
    /// Runs whose record is being read again, and whether an Event changed it meanwhile.
    pub refreshing: HashMap<RunId, bool>,
    /// The run being opened, with the live lines that arrive while it loads.
    pub opening: Option<Opening>,
    /// The newest live lines of runs not open (at most [`RECENT_LINES`]): a run started here
    /// prints before its id comes back to be opened, and its newest lines may not be stored
    /// yet when its tail is read, so opening it starts from these.
    pub recent_lines: VecDeque<(RunId, Arc<LogEntry>)>,
    /// The other process whose engine this is, when attached to one (the header says so).
    pub attached: Option<String>,
    /// How the runs list is ordered.
    pub runs_sort: RunSort,
    /// Active runs first in the runs list, whatever the order.
    pub pin_active: bool,
    /// What the status line said, oldest first (at most [`MESSAGES_KEPT`]).
    pub messages: VecDeque<(Timestamp, Status)>,
    /// The local time zone's offset east of UTC, in seconds, for start times.
    pub utc_offset_s: i64,
}

/// How many status messages the history keeps.
pub const MESSAGES_KEPT: usize = 200;

/// The orders of the runs list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunSort {
    /// Newest first (by creation).
    #[default]
    Started,
    /// The ones that need someone first: failed, running, paused, pending, then the rest.
    State,
    /// Longest first.
    Duration,
}

impl RunSort {
    /// The next order (`o`).
    pub fn next(self) -> RunSort {
        match self {
            RunSort::Started => RunSort::State,
            RunSort::State => RunSort::Duration,
            RunSort::Duration => RunSort::Started,
        }
    }

    /// Its name, as the list's title shows it.
    pub fn name(self) -> &'static str {
        match self {
            RunSort::Started => "start time",
            RunSort::State => "state",
            RunSort::Duration => "duration",
        }
    }
}

/// Where a state sorts in [`RunSort::State`]: what needs someone first.
fn state_rank(state: RunState) -> u8 {
    match state {
        RunState::Failed => 0,
        RunState::Running => 1,
        RunState::Paused => 2,
        RunState::Pending => 3,
        RunState::Interrupted => 4,
        RunState::Cancelled => 5,
        RunState::Succeeded => 6,
    }
}

/// How many live lines of runs not open are kept for when one is opened.
pub const RECENT_LINES: usize = 2_000;

/// A run being opened: its live lines are kept until its stored tail arrives.
#[derive(Debug, Clone)]
pub struct Opening {
    /// The run.
    pub run: RunId,
    /// Its live lines so far (the newest `RING_CAPACITY`).
    pub lines: VecDeque<Arc<LogEntry>>,
}

impl Opening {
    /// Opening `run`, no line seen yet.
    pub fn new(run: RunId) -> Opening {
        Opening {
            run,
            lines: VecDeque::new(),
        }
    }

    /// Keeps a live line.
    pub fn buffer(&mut self, line: &crate::store::LogLine) {
        self.lines.push_back(Arc::new(LogEntry::from_line(line)));
        if self.lines.len() > RING_CAPACITY {
            self.lines.pop_front();
        }
    }
}

/// What folding an Event in changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Something on screen may have changed.
    pub changed: bool,
    /// A new gate is waiting (ring the bell; the banner announces it).
    pub approval_arrived: bool,
    /// The run's record should be reloaded (its counters changed in the store).
    pub refresh: Option<RunId>,
}

impl Model {
    /// An empty model.
    pub fn new(now: Timestamp) -> Model {
        Model {
            screen: Screen::Runs,
            runs: Vec::new(),
            runs_selected: 0,
            runs_filter: String::new(),
            workflows: Vec::new(),
            workflows_selected: 0,
            detail: None,
            approvals: Vec::new(),
            modals: Vec::new(),
            input: None,
            status: None,
            now,
            clock: Instant::now(),
            theme_name: String::new(),
            working: Vec::new(),
            deciding: HashSet::new(),
            refreshing: HashMap::new(),
            opening: None,
            recent_lines: VecDeque::new(),
            attached: None,
            runs_sort: RunSort::default(),
            pin_active: false,
            messages: VecDeque::new(),
            utc_offset_s: 0,
        }
    }

    /// The open approval prompt's guard end, while it still ignores keys at `now` (the screen
    /// redraws then).
    pub fn guard_ends(&self, now: Instant) -> Option<Instant> {
        self.modals.iter().find_map(|m| match m {
            Modal::Approval(a) if a.guard.holds(now) => Some(a.guard.ends_at()),
            _ => None,
        })
    }

    /// Runs that pass the filter, as indices into `runs`, in the list's order (`runs` is
    /// newest first; a stable sort keeps that order among equals).
    pub fn filtered_runs(&self) -> Vec<usize> {
        let filter = self.runs_filter.as_str();
        let mut shown: Vec<usize> = self
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                filter.is_empty()
                    || super::text::contains(&r.workflow, filter)
                    || super::text::contains(r.id.as_str(), filter)
                    || super::text::contains(r.state.as_str(), filter)
            })
            .map(|(i, _)| i)
            .collect();
        let runs = &self.runs;
        match self.runs_sort {
            RunSort::Started => {}
            RunSort::State => shown.sort_by_key(|&i| state_rank(runs[i].state)),
            RunSort::Duration => {
                shown.sort_by_key(|&i| std::cmp::Reverse(runs[i].elapsed_ms(self.now).unwrap_or(0)))
            }
        }
        if self.pin_active {
            shown.sort_by_key(|&i| !runs[i].state.is_active());
        }
        shown
    }

    /// How much longer `run` may take: the median time of the last (up to 10) runs of its
    /// workflow that succeeded, less the time it has run. `None` when it is not running or
    /// no finished run tells.
    pub fn eta_ms(&self, run: &RunRecord) -> Option<u64> {
        if run.state != RunState::Running {
            return None;
        }
        let mut past: Vec<u64> = self
            .runs
            .iter()
            .filter(|r| r.workflow == run.workflow && r.state == RunState::Succeeded)
            .filter_map(|r| r.elapsed_ms(self.now))
            .take(10)
            .collect();
        if past.is_empty() {
            return None;
        }
        past.sort_unstable();
        let typical = past[past.len() / 2];
        Some(typical.saturating_sub(run.elapsed_ms(self.now).unwrap_or(0)))
    }

    /// The run selected in the list, or the open run in the detail view.
    pub fn selected_run(&self) -> Option<&RunRecord> {
        if self.screen == Screen::Detail
            && let Some(d) = &self.detail
        {
            return Some(&d.run);
        }
        let rows = self.filtered_runs();
        rows.get(self.runs_selected).and_then(|&i| self.runs.get(i))
    }

    /// Runs an owner is working on (pending, running, paused).
    pub fn active_runs(&self) -> Vec<RunId> {
        self.runs
            .iter()
            .filter(|r| r.state.is_active())
            .map(|r| r.id.clone())
            .collect()
    }

    /// Whether any clock on screen is running (the screen then redraws once a second).
    pub fn clock_running(&self) -> bool {
        match self.screen {
            Screen::Runs => self.runs.iter().any(|r| r.state == RunState::Running),
            Screen::Detail => self
                .detail
                .as_ref()
                .is_some_and(|d| d.run.state == RunState::Running),
            Screen::Workflows => false,
        }
    }

    /// Puts a run record in the list (replacing the one with its id).
    pub fn put_run(&mut self, record: RunRecord) {
        if let Some(d) = self.detail.as_mut()
            && d.run.id == record.id
        {
            let (done, total) = (d.run.steps_done, d.run.steps_total);
            d.run = record.clone();
            if !d.steps.is_empty() {
                d.run.steps_done = done.max(d.run.steps_done);
                d.run.steps_total = total.max(d.run.steps_total);
            }
        }
        // The list does not need the workflow's source (the detail keeps it).
        let mut record = record;
        record.source = String::new();
        match self.runs.iter_mut().find(|r| r.id == record.id) {
            Some(slot) => *slot = record,
            None => {
                let key = newest_first(&record);
                let at = self.runs.partition_point(|r| newest_first(r) < key);
                self.runs.insert(at, record);
            }
        }
    }

    /// Replaces the list (as the store gives it) and orders it newest first.
    pub fn set_runs(&mut self, mut runs: Vec<RunRecord>) {
        runs.sort_by_key(newest_first);
        self.runs = runs;
    }

    /// Queues a gate if undecided and not queued yet; returns whether it was added.
    pub fn queue_approval(&mut self, approval: ApprovalRecord) -> bool {
        if approval.decision.is_some()
            || self
                .approvals
                .iter()
                .any(|a| a.run == approval.run && a.step == approval.step)
        {
            return false;
        }
        self.approvals.push(approval);
        true
    }

    /// Folds one Event in.
    pub fn apply(&mut self, event: &Event) -> Applied {
        let mut applied = Applied {
            changed: true,
            ..Applied::default()
        };
        let in_detail = self.detail.as_ref().is_some_and(|d| d.run.id == event.run);
        match &event.kind {
            EventKind::RunCreated { record } => self.put_run((**record).clone()),
            EventKind::RunState { state, reason } => {
                for run in self.runs.iter_mut().filter(|r| r.id == event.run) {
                    set_run_state(run, *state, reason, event.ts);
                }
                if let Some(d) = self.detail.as_mut().filter(|_| in_detail) {
                    set_run_state(&mut d.run, *state, reason, event.ts);
                }
                if !state.is_active() {
                    // Its gates can no longer be decided here (a resume asks them again).
                    self.approvals.retain(|a| a.run != event.run);
                    self.modals
                        .retain(|m| !matches!(m, Modal::Approval(a) if a.run == event.run));
                }
                applied.refresh = Some(event.run.clone());
            }
            EventKind::Step { record } => {
                if let Some(d) = self.detail.as_mut().filter(|_| in_detail) {
                    if record.status == StepStatus::Running {
                        let was_running = d
                            .index
                            .get(&record.step)
                            .and_then(|&i| d.steps.get(i))
                            .is_some_and(|s| s.status == StepStatus::Running);
                        if !was_running {
                            d.running_since.insert(record.step.clone(), event.ts);
                        }
                    } else {
                        d.running_since.remove(&record.step);
                    }
                    d.put_step((**record).clone());
                    let (done, total) = (d.run.steps_done, d.run.steps_total);
                    for run in self.runs.iter_mut().filter(|r| r.id == event.run) {
                        run.steps_done = done;
                        run.steps_total = total;
                    }
                } else if record.status.is_terminal() {
                    applied.refresh = Some(event.run.clone());
                }
            }
            EventKind::ApprovalRequested { approval } => {
                if let Some(d) = self.detail.as_mut().filter(|_| in_detail) {
                    d.approvals.retain(|a| a.step != approval.step);
                    d.approvals.push((**approval).clone());
                }
                applied.approval_arrived = self.queue_approval((**approval).clone());
            }
            EventKind::ApprovalDecided { step, decision } => {
                self.approvals
                    .retain(|a| !(a.run == event.run && a.step == *step));
                self.modals.retain(|m| !m.is_approval_for(&event.run, step));
                if let Some(d) = self.detail.as_mut().filter(|_| in_detail) {
                    for a in d.approvals.iter_mut().filter(|a| a.step == *step) {
                        a.decision = Some(decision.clone());
                    }
                }
            }
            // Shown in the Events tab of the run (below), like every other transition.
            EventKind::Agent { .. } => applied.changed = in_detail,
            // Folded into what the step is writing (below).
            EventKind::Partial { .. } => applied.changed = in_detail,
            EventKind::Log { line } => {
                applied.changed = in_detail;
                if let Some(d) = self.detail.as_mut().filter(|_| in_detail) {
                    d.push_log(LogEntry::from_line(line));
                } else if self.opening.as_ref().is_none_or(|o| o.run != event.run) {
                    self.recent_lines
                        .push_back((event.run.clone(), Arc::new(LogEntry::from_line(line))));
                    if self.recent_lines.len() > RECENT_LINES {
                        self.recent_lines.pop_front();
                    }
                }
            }
        }
        if let Some(d) = self.detail.as_mut().filter(|_| in_detail) {
            let (index, steps) = (&d.index, &d.steps);
            d.talk.apply(event, |key| {
                crate::tui::conversation::is_agent_key(index, steps, key)
            });
        }
        if let Some(d) = self.detail.as_mut().filter(|_| in_detail)
            && !matches!(
                event.kind,
                EventKind::Log { .. } | EventKind::Partial { .. }
            )
        {
            if let Some(events) = d.events.as_mut() {
                events.push(event.clone());
            }
            // The history being read may end before this one: it is added if not.
            if let Some(arriving) = d.talk.arriving.as_mut() {
                arriving.push(event.clone());
            }
        }
        applied
    }
}

/// The sort key of the runs list: newest first by creation time — run ids made in the same
/// second end in a random tag, so they alone do not tell which came first.
fn newest_first(run: &RunRecord) -> (std::cmp::Reverse<Timestamp>, std::cmp::Reverse<RunId>) {
    (
        std::cmp::Reverse(run.created_at),
        std::cmp::Reverse(run.id.clone()),
    )
}

fn set_run_state(run: &mut RunRecord, state: RunState, reason: &Option<String>, at: Timestamp) {
    run.enter_state(state, at);
    if reason.is_some() {
        run.reason = reason.clone();
    }
}
