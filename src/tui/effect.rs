//! What the console's update asks for and what comes back: [`Effect`]s leave `App::update`
//! (which does no I/O), the runner performs them on a worker (`worker.rs`), and their results
//! return as [`Done`] messages folded into the model like Events.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::engine::{Command, RunDetail};
use crate::spec::StepId;
use crate::store::{ApprovalRecord, Event, LogLine, RunId, RunRecord, StepOutput};

use super::TuiExit;
use super::workflows::WorkflowEntry;

/// Names one request in flight, so its result finds what asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// Something the update wants done outside the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a command to the engine.
    Send {
        /// Its ticket.
        ticket: Ticket,
        /// The command.
        command: Command,
    },
    /// Read a workflow file again, check the params the way the engine will, and start it.
    Start {
        /// Its ticket.
        ticket: Ticket,
        /// The file.
        path: PathBuf,
        /// The values typed (empty fields left out, so defaults apply).
        params: Vec<(String, String)>,
    },
    /// Read something from the engine or the disk.
    Load(Load),
    /// Search a run's whole stored log (of one step if given), oldest first, hits streaming
    /// back as [`Done::Found`]; a newer search stops an older one.
    Search(SearchJob),
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    /// Ring the terminal's bell.
    Bell,
    /// Clear the terminal and draw the whole screen again.
    Redraw,
    /// Give the terminal back to the shell until the operator brings the console back (`fg`).
    Suspend,
    /// Close the console with this choice.
    Exit(TuiExit),
    /// Draft, check, keep, save or start a plan (`plan.rs`).
    Plan(super::plan::PlanJob),
}

/// A read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Load {
    /// Every run and the undecided gates of the active ones (at start, after missed Events).
    Runs,
    /// One run's record (its counters changed in the store).
    Run(RunId),
    /// A run with its steps and gates, and the newest lines of its log.
    Detail(RunId),
    /// The newest lines of a run's log (of one step if given).
    LogTail(RunId, Option<StepId>),
    /// The lines just before `before` (scroll-back).
    LogBefore(RunId, Option<StepId>, u64),
    /// The lines around `seq` (a search hit, or the first line when it is 1).
    LogWindow(RunId, Option<StepId>, u64),
    /// Every step's stored output (the Context tab).
    Context(RunId),
    /// The run's history (the Events tab).
    Events(RunId),
    /// A step's output, to copy.
    StepOutput(RunId, StepId),
    /// The workflow files.
    Workflows(Vec<PathBuf>),
    /// The steps of every child run of a run's `workflow:` steps.
    Children(RunId),
}

/// A whole-log search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchJob {
    /// Which search this is (a newer one stops it).
    pub generation: u64,
    /// The run.
    pub run: RunId,
    /// Only this step's lines, if given.
    pub step: Option<StepId>,
    /// The text searched for.
    pub query: String,
}

/// Lines loaded from a log, and whether older ones are left in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
    /// Older lines exist before the first one.
    pub older: bool,
}

/// What a page of a whole-log search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The search it belongs to.
    pub generation: u64,
    /// Hits, in line order.
    pub hits: Vec<super::logs::SearchHit>,
    /// Lines read so far.
    pub scanned: u64,
    /// The whole stored log was read (or the read failed: then why).
    pub finished: Option<Result<(), String>>,
}

/// A result, returned to the update as a message. Failures carry the error's text.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// A command was sent (or not).
    Sent(Ticket, Command, Result<(), String>),
    /// A run was started (or the file, its params or the engine refused).
    Started(Ticket, Result<RunId, String>),
    /// [`Load::Runs`].
    Runs(Result<(Vec<RunRecord>, Vec<ApprovalRecord>), String>),
    /// [`Load::Run`].
    Run(RunId, Result<RunRecord, String>),
    /// [`Load::Detail`].
    Detail(RunId, Result<Box<(RunDetail, LogPage)>, String>),
    /// [`Load::LogTail`].
    LogTail(RunId, Option<StepId>, Result<LogPage, String>),
    /// [`Load::LogBefore`].
    LogBefore(RunId, Option<StepId>, u64, Result<LogPage, String>),
    /// [`Load::LogWindow`]: the lines, and whether newer ones are left in the store.
    LogWindow(RunId, Option<StepId>, u64, Result<(LogPage, bool), String>),
    /// A page of a whole-log search.
    Found(Found),
    /// [`Load::Context`].
    Context(RunId, Result<HashMap<StepId, StepOutput>, String>),
    /// [`Load::Events`].
    Events(RunId, Result<Vec<Event>, String>),
    /// [`Load::StepOutput`].
    StepOutput(RunId, StepId, Result<Option<StepOutput>, String>),
    /// [`Load::Workflows`].
    Workflows(Vec<WorkflowEntry>),
    /// [`Effect::Plan`].
    Plan(super::plan::PlanDone),
    /// [`Load::Children`]: each `workflow:` step with its child run's steps.
    Children(
        RunId,
        Result<Vec<(StepId, Vec<crate::store::StepRecord>)>, String>,
    ),
}
