//! The one read API: what any client may read about runs, whoever holds the store.
//!
//! [`RunReader`] is implemented by the [`Store`] (a process that opened it: `baton ls` with no
//! owner), by the [`Engine`] (the owner itself, reading its own store) and by
//! `control::Remote` (another process, over the owner's socket, one request per method). The
//! CLI holds one `Box<dyn RunReader>`; the console reads through `Backend`, which includes it.
//!
//! [`Notebook`] is the same for the notes agents keep with `remember`: `baton memory` reads
//! and clears them through it, whoever holds the store.

use std::collections::HashMap;

use anyhow::anyhow;

use super::Engine;
use crate::spec::StepId;
use crate::store::{
    ApprovalRecord, Event, LogLine, Note, NoteScope, RunId, RunRecord, StepOutput, StepRecord,
    Store,
};

/// Everything about one run, for a detail view.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunDetail {
    /// The run, its workflow `source` filled.
    pub run: RunRecord,
    /// Its steps in workflow order, those not started yet taken from its stored plan.
    pub steps: Vec<StepRecord>,
    /// Its gates, decided or not.
    pub approvals: Vec<ApprovalRecord>,
}

/// Reads what the store holds about runs. Calls are quick: they read the store (here or in
/// the owner).
pub trait RunReader: Send + Sync {
    /// Every run in the store, newest first (`source` left empty; [`RunReader::run`] fills it).
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>>;
    /// The run an id or a unique prefix of it names; an error saying which when none or several.
    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId>;
    /// One run's record, its workflow `source` filled; an error when the store has no such run.
    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord>;
    /// One run with its steps (planned ones included) and gates.
    fn run_detail(&self, run: &RunId) -> anyhow::Result<RunDetail>;
    /// A step's stored output.
    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>>;
    /// Every stored output of a run's steps.
    fn step_outputs(&self, run: &RunId) -> anyhow::Result<HashMap<StepId, StepOutput>>;
    /// Log lines of a run (of one step if given) with `seq > after`, at most `limit`.
    fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>>;
    /// The newest `limit` log lines of a run (of one step if given), oldest first.
    fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>>;
    /// The run's history, oldest first.
    fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>>;
}

impl RunReader for Store {
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        Store::runs(self)
    }

    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId> {
        Store::resolve_run(self, id_or_prefix)
    }

    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        Store::run(self, id)?.ok_or_else(|| anyhow!("no run {id} in {}", self.dir().display()))
    }

    fn run_detail(&self, id: &RunId) -> anyhow::Result<RunDetail> {
        let run = RunReader::run(self, id)?;
        Ok(RunDetail {
            steps: self.step_table(&run)?.steps,
            approvals: self.approvals(id)?,
            run,
        })
    }

    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        self.output(run, step)
    }

    fn step_outputs(&self, run: &RunId) -> anyhow::Result<HashMap<StepId, StepOutput>> {
        Ok(self.replay(run)?.outputs)
    }

    fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        Store::logs(self, run, step, after, limit)
    }

    fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        Store::tail_logs(self, run, step, limit)
    }

    fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>> {
        Store::events(self, run)
    }
}

/// The owner reads its own store: what it has announced is stored already.
impl RunReader for Engine {
    fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        self.store().runs()
    }

    fn resolve_run(&self, id_or_prefix: &str) -> anyhow::Result<RunId> {
        self.store().resolve_run(id_or_prefix)
    }

    fn run(&self, id: &RunId) -> anyhow::Result<RunRecord> {
        RunReader::run(self.store(), id)
    }

    fn run_detail(&self, run: &RunId) -> anyhow::Result<RunDetail> {
        self.store().run_detail(run)
    }

    fn step_output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        self.store().step_output(run, step)
    }

    fn step_outputs(&self, run: &RunId) -> anyhow::Result<HashMap<StepId, StepOutput>> {
        self.store().step_outputs(run)
    }

    fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        self.store().logs(run, step, after, limit)
    }

    fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        self.store().tail_logs(run, step, limit)
    }

    fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>> {
        self.store().events(run)
    }
}

/// The notes agents keep (`remember`), as people read and clear them: implemented by the
/// [`Store`], the [`Engine`] and `control::Remote`, like [`RunReader`].
pub trait Notebook: Send + Sync {
    /// The scopes that have notes, with how many and when the last was written.
    fn note_scopes(&self) -> anyhow::Result<Vec<NoteScope>>;
    /// A scope's notes, oldest first.
    fn notes(&self, scope: &str) -> anyhow::Result<Vec<Note>>;
    /// Deletes a scope's notes (or only the one of `key`), durably; how many went.
    fn forget(&self, scope: &str, key: Option<&str>) -> anyhow::Result<usize>;
}

impl Notebook for Store {
    fn note_scopes(&self) -> anyhow::Result<Vec<NoteScope>> {
        Store::note_scopes(self)
    }

    fn notes(&self, scope: &str) -> anyhow::Result<Vec<Note>> {
        Store::notes(self, scope)
    }

    fn forget(&self, scope: &str, key: Option<&str>) -> anyhow::Result<usize> {
        Store::forget(self, scope, key)
    }
}

impl Notebook for Engine {
    fn note_scopes(&self) -> anyhow::Result<Vec<NoteScope>> {
        self.store().note_scopes()
    }

    fn notes(&self, scope: &str) -> anyhow::Result<Vec<Note>> {
        self.store().notes(scope)
    }

    fn forget(&self, scope: &str, key: Option<&str>) -> anyhow::Result<usize> {
        self.store().forget(scope, key)
    }
}
