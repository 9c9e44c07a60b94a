//! The driver's side of fan-out (`for_each:`): evaluating a step's list, spawning one task per
//! item (each with its own log stream, `step[i]`, and a control that can stop the step's items
//! alone), and turning item tasks' messages into [`Input::Item`]s. What runs when is the
//! machine's (`machine/items.rs`).

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::{RunDriver, step_end};
use crate::engine::machine::{Input, ItemReport};
use crate::engine::pipeline::{StepJob, StepMsg, run_step};
use crate::steps::Directive;
use crate::store::item_key;

impl RunDriver {
    /// Evaluates step `idx`'s list off the driver and reports it back as [`StepMsg::Items`].
    pub(super) fn expand(&mut self, idx: usize, ctx: Arc<Value>) {
        let Some(for_each) = self.wf.steps[idx].for_each.clone() else {
            return;
        };
        let engine = self.engine.clone();
        let tx = self.step_tx.clone();
        tokio::task::spawn_blocking(move || {
            let items = for_each.items(&engine.templates, &ctx);
            let _ = tx.send(StepMsg::Items { idx, items });
        });
    }

    /// Spawns item `item` of step `idx`: a step task whose reports come back wrapped.
    pub(super) fn spawn_item(
        &mut self,
        (idx, item): (usize, usize),
        value: Value,
        ctx: Arc<Value>,
        recovery_gate: bool,
    ) {
        let run_control = *self.control.borrow();
        let control = self
            .fan_controls
            .entry(idx)
            .or_insert_with(|| watch::channel(run_control).0)
            .subscribe();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let job = StepJob {
            run: self.run.id.clone(),
            idx,
            workflow: self.wf.clone(),
            ctx,
            workdir: self.workdir.clone(),
            recovery_gate,
            tx,
            control,
            interrupting: self.interrupting.clone(),
            log: self.log_sink(&item_key(&self.wf.steps[idx].id, item)),
            redactor: self.redactor.clone(),
            templates_may_loop: self.templates_may_loop,
            engine: self.engine.clone(),
            item: Some((item, value)),
        };
        let driver = self.step_tx.clone();
        tokio::spawn(async move {
            let forward = async move {
                while let Some(msg) = rx.recv().await {
                    let msg = Box::new(msg);
                    let _ = driver.send(StepMsg::Item { idx, item, msg });
                }
            };
            // The job's sender goes with the task, which ends the forwarding.
            tokio::join!(run_step(job), forward);
        });
        self.started = true;
    }

    /// Tells step `idx`'s running items to stop (one failed, `fail_fast`).
    pub(super) fn cancel_items(&mut self, idx: usize) {
        if let Some(control) = self.fan_controls.get(&idx) {
            control.send_replace(Directive::Cancelled);
        }
    }

    /// Passes a run-wide pause, resume or stop on to the items (a step whose items were
    /// cancelled stays so).
    pub(super) fn signal_items(&mut self, control: Directive) {
        for tx in self.fan_controls.values() {
            if *tx.borrow() != Directive::Cancelled {
                tx.send_replace(control);
            }
        }
    }

    /// An item task's message, as the machine takes it.
    pub(super) fn on_item(&mut self, idx: usize, item: usize, msg: StepMsg) {
        let report = match msg {
            StepMsg::Attempt { n, .. } => ItemReport::Attempt(n),
            StepMsg::Retrying {
                at,
                error,
                exit_code,
                ..
            } => ItemReport::Retrying {
                at,
                error,
                exit_code,
            },
            StepMsg::Spawned { pid, .. } => ItemReport::Spawned(pid),
            StepMsg::RemoteSpawned { process, .. } => ItemReport::RemoteSpawned(process),
            // An item's child run is found by its id (`PARENT.STEP.ITEM`), not recorded.
            StepMsg::ChildRun { .. } => return,
            StepMsg::Done { outcome, .. } => ItemReport::Done(Box::new(step_end(*outcome))),
            StepMsg::Cache(put) => return put.record(&self.engine.store),
            // Journaled under the item's key (`step[i]`): a resumed item starts its
            // conversation afresh.
            StepMsg::Agent { entry, ack, .. } => {
                let key = crate::store::item_key(&self.wf.steps[idx].id, item);
                return self.journal_agent(key, *entry, ack);
            }
            // Refused at validation (a fanned-out step has no gate); dropping the request
            // ends its wait as cancelled.
            StepMsg::Gate(_) | StepMsg::Items { .. } | StepMsg::Item { .. } => return,
        };
        self.feed(Input::Item { idx, item, report });
    }
}
