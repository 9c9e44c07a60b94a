//! Results of effects folded into the model: commands sent, runs started, reads from the store.
//! A result that no longer fits what is shown (the operator opened another run meanwhile) is
//! dropped.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::engine::Command;
use crate::store::{LogLine, RunId};

use super::app::App;
use super::effect::{Done, Load, LogPage, Ticket};
use super::keymap::Action;
use super::logs::LogEntry;
use super::model::{Detail, Screen};
use super::overlay::Modal;

impl App {
    /// Folds a result in.
    pub(crate) fn loaded(&mut self, done: Done) {
        match done {
            Done::Sent(ticket, command, result) => self.sent(ticket, command, result),
            Done::Started(ticket, result) => self.started(ticket, result),
            Done::Plan(done) => self.plan_done(done),
            Done::Children(run, result) => match result {
                Ok(children) => {
                    if let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == run) {
                        d.children = children.into_iter().collect();
                        d.reindex();
                    }
                }
                Err(e) => self.error(e),
            },
            Done::Runs(Ok((runs, gates))) => {
                self.model.set_runs(runs);
                for gate in gates {
                    self.model.queue_approval(gate);
                }
            }
            Done::Runs(Err(e)) => self.error(e),
            Done::Run(run, result) => {
                match result {
                    Ok(record) => self.model.put_run(record),
                    Err(e) => self.error(format!("cannot read run {run}: {e}")),
                }
                self.refreshed(&run);
            }
            Done::Detail(run, result) => self.detail_loaded(run, result),
            Done::LogTail(run, step, result) => match result {
                Ok(page) => {
                    if let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == run) {
                        d.put_tail(step.as_ref(), entries(&page.lines), page.older);
                    }
                }
                Err(e) => self.error(format!("cannot read the log of run {run}: {e}")),
            },
            Done::LogBefore(run, step, before, result) => {
                self.older_loaded(run, step, before, result)
            }
            Done::LogWindow(run, step, seq, result) => self.window_loaded(run, step, seq, result),
            Done::Found(found) => self.found(found),
            Done::Context(run, result) => self.context_loaded(run, result),
            Done::Events(run, result) => match result {
                Ok(events) => {
                    if let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == run) {
                        d.history_loaded(events);
                    }
                }
                Err(e) => {
                    if let Some(d) = self.model.detail.as_mut() {
                        d.talk.arriving = None;
                    }
                    self.error(format!("cannot read the history of run {run}: {e}"))
                }
            },
            Done::StepOutput(run, step, result) => match result {
                Ok(Some(out)) => {
                    let text = match out.output {
                        Value::String(s) => s,
                        other => serde_json::to_string_pretty(&other).unwrap_or_default(),
                    };
                    self.copy_out(text);
                }
                Ok(None) => self.note(format!("{run}/{step} has no output to copy")),
                Err(e) => self.error(format!("cannot read the output of {run}/{step}: {e}")),
            },
            Done::Workflows(list) => {
                self.model.workflows = list;
                self.model.workflows_selected = self
                    .model
                    .workflows_selected
                    .min(self.model.workflows.len().saturating_sub(1));
            }
        }
    }

    /// The label of a finished call, taken off the `working…` list.
    pub(crate) fn finish(&mut self, ticket: Ticket) -> Option<String> {
        let at = self.model.working.iter().position(|(t, _)| *t == ticket)?;
        Some(self.model.working.remove(at).1)
    }

    fn sent(&mut self, ticket: Ticket, command: Command, result: Result<(), String>) {
        let doing = self.finish(ticket).unwrap_or_default();
        if let Command::Decide {
            run,
            step,
            approved,
            ..
        } = &command
        {
            self.model.deciding.remove(&(run.clone(), step.clone()));
            if let Err(e) = result {
                let key = self.keymap.primary(Action::Approval).unwrap_or_default();
                self.error(format!(
                    "cannot decide {run}/{step}: {e}; it still waits, `{key}` to open"
                ));
                return;
            }
            let verb = if *approved { "approved" } else { "rejected" };
            self.model
                .approvals
                .retain(|a| !(a.run == *run && a.step == *step));
            let waiting = self.model.approvals.len();
            let more = if waiting == 0 {
                String::new()
            } else {
                format!(
                    "; {waiting} more waiting, `{}` to open",
                    self.keymap.primary(Action::Approval).unwrap_or_default()
                )
            };
            self.note(format!("{verb} {run}/{step}{more}"));
            return;
        }
        match result {
            Ok(()) => self.note(doing),
            Err(e) => self.error(format!("cannot finish {doing}: {e}")),
        }
    }

    fn started(&mut self, ticket: Ticket, result: Result<RunId, String>) {
        self.finish(ticket);
        let form = self
            .model
            .modals
            .iter()
            .position(|m| matches!(m, Modal::StartForm(f) if f.starting == Some(ticket)));
        match result {
            Ok(run) => {
                let name = match form.map(|i| self.model.modals.remove(i)) {
                    Some(Modal::StartForm(f)) => f.workflow.name,
                    _ => String::new(),
                };
                self.note(format!("started run {run} of {name}"));
                self.load(Load::Runs);
                self.open_run(&run);
            }
            Err(e) => match form.and_then(|i| self.model.modals.get_mut(i)) {
                Some(Modal::StartForm(f)) => {
                    f.starting = None;
                    f.error = Some(e);
                }
                _ => self.error(e),
            },
        }
    }

    fn detail_loaded(
        &mut self,
        run: RunId,
        result: Result<Box<(crate::engine::RunDetail, LogPage)>, String>,
    ) {
        let opening = self.model.opening.take_if(|o| o.run == run);
        let (fresh, page) = match result {
            Ok(loaded) => *loaded,
            Err(e) => {
                let verb = if opening.is_some() { "open" } else { "read" };
                self.error(format!("cannot {verb} run {run}: {e}"));
                return;
            }
        };
        if fresh.steps.iter().any(|s| s.child_run.is_some()) {
            self.load(Load::Children(run.clone()));
        }
        if let Some(opening) = opening {
            let mut d = Detail::new(fresh);
            d.live = opening.lines;
            d.put_tail(None, entries(&page.lines), page.older);
            self.model.detail = Some(d);
            self.model.screen = Screen::Detail;
            return;
        }
        if let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == run) {
            d.run = fresh.run;
            d.approvals = fresh.approvals;
            for step in fresh.steps {
                d.put_step(step);
            }
        }
    }

    fn older_loaded(
        &mut self,
        run: RunId,
        step: Option<crate::spec::StepId>,
        before: u64,
        result: Result<LogPage, String>,
    ) {
        let page = match result {
            Ok(page) => page,
            Err(e) => return self.error(format!("cannot read the log of run {run}: {e}")),
        };
        let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == run) else {
            return;
        };
        let ring = match &step {
            Some(s) => d.logs_step.entry(s.clone()).or_default(),
            None => &mut d.logs_all,
        };
        if ring.first_seq() != Some(before) {
            return;
        }
        ring.prepend(entries(&page.lines), page.older);
        // The rows the operator scrolled past the top are taken from the lines that came.
        let up = std::mem::take(&mut d.log_view.pending_up);
        let index = ring.index_of_seq(before).saturating_sub(up);
        if let Some(line) = ring.get(index) {
            d.log_view.top_seq = line.seq;
            d.log_view.follow = false;
        }
    }

    /// Lines around a search hit, or the first lines: the view moves there, not following.
    fn window_loaded(
        &mut self,
        run: RunId,
        step: Option<crate::spec::StepId>,
        seq: u64,
        result: Result<(LogPage, bool), String>,
    ) {
        let (page, newer) = match result {
            Ok(loaded) => loaded,
            Err(e) => return self.error(format!("cannot read the log of run {run}: {e}")),
        };
        let rows = super::view::log_rows(self.viewport, &self.model);
        let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == run) else {
            return;
        };
        d.put_tail(step.as_ref(), entries(&page.lines), page.older);
        let ring = match &step {
            Some(s) => d.logs_step.entry(s.clone()).or_default(),
            None => &mut d.logs_all,
        };
        ring.newer_in_store = newer;
        let top = ring
            .index_of_seq(seq)
            .saturating_sub(if seq <= 1 { 0 } else { rows / 2 });
        if let Some(line) = ring.get(top) {
            d.log_view.top_seq = line.seq;
            d.log_view.follow = false;
        }
    }

    /// A page of the whole-log search.
    fn found(&mut self, found: super::effect::Found) {
        let Some(search) = self
            .model
            .detail
            .as_mut()
            .and_then(|d| d.log_view.search.as_mut())
            .filter(|s| s.generation == found.generation)
        else {
            return;
        };
        search.add_found(found.hits);
        search.scanned = found.scanned;
        let Some(finished) = found.finished else {
            return;
        };
        search.scanning = false;
        let moved = search.moved;
        match finished {
            Ok(()) if !moved => self.show_current_hit(),
            Ok(()) => {}
            Err(e) => self.error(format!("the search stopped: {e}")),
        }
    }

    fn context_loaded(
        &mut self,
        run: RunId,
        result: Result<
            std::collections::HashMap<crate::spec::StepId, crate::store::StepOutput>,
            String,
        >,
    ) {
        let mut stored = match result {
            Ok(outputs) => outputs,
            Err(e) => {
                self.error(format!("cannot read the outputs of {run}: {e}"));
                Default::default()
            }
        };
        let Some(d) = self.model.detail.as_mut().filter(|d| d.run.id == run) else {
            return;
        };
        let params: Map<String, Value> = d.run.params.clone().into_iter().collect();
        let mut steps = Map::new();
        for step in &d.steps {
            if let Some(output) = stored.remove(&step.step) {
                let mut entry = Map::new();
                entry.insert("output".into(), output.output);
                if !output.outputs.is_empty() {
                    entry.insert(
                        "outputs".into(),
                        Value::Object(output.outputs.into_iter().collect()),
                    );
                }
                if !output.stdout.is_empty() {
                    entry.insert("stdout".into(), Value::String(output.stdout));
                }
                if !output.stderr.is_empty() {
                    entry.insert("stderr".into(), Value::String(output.stderr));
                }
                steps.insert(step.step.0.clone(), Value::Object(entry));
            }
        }
        let mut root = Map::new();
        root.insert("params".into(), Value::Object(params));
        root.insert("steps".into(), Value::Object(steps));
        d.context = Some(Value::Object(root));
    }
}

/// Lines prepared for drawing.
pub(crate) fn entries(lines: &[LogLine]) -> Vec<Arc<LogEntry>> {
    lines
        .iter()
        .map(|l| Arc::new(LogEntry::from_line(l)))
        .collect()
}
