//! Fan-out (`for_each:`): a step's items as children with their own state. The step is one
//! step in flight for the run; its items start up to `max_parallel` at a time, one failure
//! cancels the rest unless `fail_fast: false`, and when every item has ended the step ends with
//! the list of their outputs, in order.
//!
//! The list is evaluated by the driver ([`Effect::Expand`] → [`Input::Items`]); item tasks
//! report through [`Input::Item`]. Items that ended keep their results across a crash (they are
//! in the step's record, their outputs stored under `step[i]`), so a resume or a retry runs
//! only the others.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::effect::Effect;
use super::input::{ItemReport, Now, StepEnd};
use super::state::RunMachine;
use crate::store::{ItemRecord, RunState, StepOutput, StepStatus, item_key};

/// The fanned-out steps under way.
#[derive(Debug, Default)]
pub(super) struct Fans {
    running: BTreeMap<usize, Fan>,
    /// Outputs of items that ended before a restore, by step, taken when the step starts.
    restored: HashMap<usize, Vec<Option<StepOutput>>>,
    /// Items to gate before they run again (running when a previous owner died, not idempotent).
    recovery: HashMap<usize, HashSet<usize>>,
}

/// One fanned-out step under way.
#[derive(Debug)]
struct Fan {
    ctx: Arc<Value>,
    outputs: Vec<Option<StepOutput>>,
    /// Items started and not yet reported done.
    running: usize,
    /// Items before this one are not pending (items only leave `pending` in order).
    next: usize,
    /// A failure cancelled the rest (`fail_fast`).
    cancelling: bool,
}

impl RunMachine {
    /// Step `idx` (a fan-out) starts: with the items it has (a resume), or by asking the driver
    /// for its list.
    pub(super) fn start_fan(&mut self, idx: usize, ctx: Arc<Value>, now: Now) {
        self.put(idx);
        if self.records[idx].items.is_empty() {
            self.out.push(Effect::Expand { idx, ctx });
            return;
        }
        let items = &self.records[idx].items;
        let mut outputs = self.fans.restored.remove(&idx).unwrap_or_default();
        outputs.resize(items.len(), None);
        // An item failed before a crash: with `fail_fast` the rest stay cancelled.
        let fail_fast = self.wf.steps[idx]
            .for_each
            .as_ref()
            .is_none_or(|f| f.fail_fast);
        let failed = items.iter().any(|i| i.status == StepStatus::Failed);
        let fan = Fan {
            ctx,
            outputs,
            running: 0,
            next: 0,
            cancelling: false,
        };
        self.fans.running.insert(idx, fan);
        if fail_fast && failed {
            self.item_failed(idx);
            self.put(idx);
        }
        self.settle_fan(idx, now);
    }

    /// The driver evaluated step `idx`'s list.
    pub(super) fn items(&mut self, idx: usize, items: Result<Vec<Value>, String>, now: Now) {
        let Some(rec) = self.records.get_mut(idx) else {
            return;
        };
        if rec.status.is_terminal() || !rec.items.is_empty() {
            return;
        }
        let end = match items {
            Err(error) => StepEnd::Failed {
                error,
                exit_code: None,
                cancelled: false,
                output: None,
            },
            Ok(list) if list.is_empty() => StepEnd::Succeeded {
                output: StepOutput {
                    output: Value::Array(Vec::new()),
                    ..StepOutput::default()
                },
                exit_code: None,
                cached: false,
                metrics: Default::default(),
            },
            Ok(list) => {
                rec.items = list.into_iter().map(ItemRecord::pending).collect();
                // The list is kept: a resume runs the same items.
                self.put(idx);
                self.out.push(Effect::Durable);
                let ctx = self.ctx.value(self.wf.steps[idx].reads.as_deref());
                self.start_fan(idx, ctx, now);
                return;
            }
        };
        self.done(idx, end, now);
    }

    /// Starts pending items of every fan-out up to its cap, and ends those with nothing left.
    pub(super) fn schedule_items(&mut self, now: Now) {
        let fans: Vec<usize> = self.fans.running.keys().copied().collect();
        for idx in fans {
            self.settle_fan(idx, now);
        }
    }

    fn settle_fan(&mut self, idx: usize, now: Now) {
        let can_start = self.phase == super::state::Phase::Running && self.stop.is_none();
        let cap = self.wf.steps[idx]
            .for_each
            .as_ref()
            .and_then(|f| f.max_parallel)
            .unwrap_or(self.concurrency)
            .max(1);
        let Fans {
            running, recovery, ..
        } = &mut self.fans;
        let Some(fan) = running.get_mut(&idx) else {
            return;
        };
        let items = &mut self.records[idx].items;
        let mut started = false;
        while can_start && !fan.cancelling && fan.running < cap {
            while fan.next < items.len() && items[fan.next].status != StepStatus::Pending {
                fan.next += 1;
            }
            let Some(item) = items.get_mut(fan.next) else {
                break;
            };
            item.status = StepStatus::Running;
            item.started_at.get_or_insert(now.wall);
            fan.running += 1;
            let recovery_gate = recovery.get_mut(&idx).is_some_and(|r| r.remove(&fan.next));
            self.out.push(Effect::StartItem {
                idx,
                item: fan.next,
                value: item.value.clone(),
                ctx: fan.ctx.clone(),
                recovery_gate,
            });
            fan.next += 1;
            started = true;
        }
        let open = items.iter().any(|i| !i.status.is_terminal());
        let over = fan.running == 0 && (!open || self.stop.is_some() || fan.cancelling);
        if started {
            self.put(idx);
        }
        if over {
            self.end_fan(idx, now);
        }
    }

    /// An item task reported.
    pub(super) fn item_report(&mut self, idx: usize, item: usize, report: ItemReport, now: Now) {
        let paused = self.phase == super::state::Phase::Paused;
        let Some(rec) = self
            .records
            .get_mut(idx)
            .and_then(|r| r.items.get_mut(item))
        else {
            return;
        };
        match report {
            ItemReport::Attempt(n) => {
                rec.attempt = n;
                rec.retry_at = None;
                rec.status = if paused {
                    StepStatus::Paused
                } else {
                    StepStatus::Running
                };
            }
            ItemReport::Retrying {
                at,
                error,
                exit_code,
            } => {
                rec.status = StepStatus::Retrying;
                rec.retry_at = Some(at);
                rec.error = Some(error);
                rec.exit_code = exit_code;
            }
            ItemReport::Spawned(pid) => {
                rec.process = Some((pid, now.wall));
                self.put(idx);
                // Durable, so that after a crash the next owner can stop this group.
                self.out.push(Effect::Durable);
                return;
            }
            ItemReport::RemoteSpawned(process) => {
                rec.remote = Some(*process);
                self.put(idx);
                // Durable, so that after a crash the next owner can stop this group on its host.
                self.out.push(Effect::Durable);
                return;
            }
            ItemReport::Done(end) => return self.item_done(idx, item, *end, now),
        }
        self.put(idx);
    }

    fn item_done(&mut self, idx: usize, item: usize, end: StepEnd, now: Now) {
        let Some(fan) = self.fans.running.get_mut(&idx) else {
            return;
        };
        fan.running = fan.running.saturating_sub(1);
        self.out.push(Effect::ItemOver { idx, item });
        let interrupted = self.stop == Some(RunState::Interrupted);
        let key = item_key(&self.records[idx].step, item);
        let rec = &mut self.records[idx].items[item];
        rec.process = None;
        rec.remote = None;
        rec.retry_at = None;
        let mut failed = false;
        match end {
            StepEnd::Succeeded {
                output,
                exit_code,
                cached,
                ..
            } => {
                rec.status = if cached {
                    StepStatus::Cached
                } else {
                    StepStatus::Succeeded
                };
                rec.exit_code = exit_code;
                rec.error = None;
                rec.finished_at = Some(now.wall);
                fan.outputs[item] = Some(output.clone());
                self.out.push(Effect::Output(key, output));
            }
            StepEnd::Failed { cancelled, .. } if cancelled && interrupted => {
                // Runs again when the run is resumed.
                rec.status = StepStatus::Pending;
            }
            StepEnd::Failed {
                error,
                exit_code,
                cancelled,
                ..
            } => {
                rec.status = if cancelled {
                    StepStatus::Cancelled
                } else {
                    StepStatus::Failed
                };
                rec.exit_code = exit_code.or(rec.exit_code);
                rec.finished_at = Some(now.wall);
                if !cancelled {
                    let label = rec.label();
                    self.out.push(Effect::Log {
                        idx,
                        text: format!("item {item} ({label}) failed: {error}"),
                    });
                    failed = true;
                }
                rec.error = Some(error);
            }
        }
        if failed {
            self.item_failed(idx);
        }
        self.put(idx);
        self.out.push(Effect::Durable);
        self.settle_fan(idx, now);
    }

    /// An item failed: with `fail_fast`, the pending items are cancelled and the running ones
    /// told to stop.
    fn item_failed(&mut self, idx: usize) {
        let fail_fast = self.wf.steps[idx]
            .for_each
            .as_ref()
            .is_none_or(|f| f.fail_fast);
        let Some(fan) = self.fans.running.get_mut(&idx) else {
            return;
        };
        if !fail_fast || fan.cancelling {
            return;
        }
        fan.cancelling = true;
        for item in &mut self.records[idx].items {
            if item.status == StepStatus::Pending {
                item.status = StepStatus::Cancelled;
                item.error = Some("cancelled: another item failed (`fail_fast`)".into());
            }
        }
        if fan.running > 0 {
            self.out.push(Effect::CancelItems(idx));
        }
    }

    /// Every item has ended (or the run stops): the step ends with their outputs in order.
    fn end_fan(&mut self, idx: usize, now: Now) {
        let Some(fan) = self.fans.running.remove(&idx) else {
            return;
        };
        let items = &mut self.records[idx].items;
        if self.stop.is_some() {
            if self.stop == Some(RunState::Cancelled) {
                for item in items.iter_mut().filter(|i| !i.status.is_terminal()) {
                    item.status = StepStatus::Cancelled;
                    item.finished_at = Some(now.wall);
                }
            }
            let end = StepEnd::Failed {
                error: "cancelled".into(),
                exit_code: None,
                cancelled: true,
                output: None,
            };
            return self.done(idx, end, now);
        }
        let failed: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].status == StepStatus::Failed)
            .collect();
        let output = combined(&fan.outputs);
        let cancelled = items.iter().any(|i| i.status == StepStatus::Cancelled);
        let end = match failed.first() {
            // Told to stop by the driver alone: the step is cancelled with them.
            None if cancelled => StepEnd::Failed {
                error: "its items were cancelled".into(),
                exit_code: None,
                cancelled: true,
                output: None,
            },
            None => StepEnd::Succeeded {
                output,
                exit_code: None,
                cached: items.iter().all(|i| i.status == StepStatus::Cached),
                metrics: Default::default(),
            },
            Some(&first) => StepEnd::Failed {
                error: format!(
                    "{} of {} items failed; item {first} ({}): {}",
                    failed.len(),
                    items.len(),
                    items[first].label(),
                    items[first].error.as_deref().unwrap_or("unknown error")
                ),
                exit_code: items[first].exit_code,
                cancelled: false,
                output: Some(output),
            },
        };
        self.done(idx, end, now);
    }

    /// Step `i`'s items as a restore finds them: ended ones keep their outputs, the others run
    /// again (gated first if they were running and the step is not idempotent).
    pub(super) fn restore_items(
        &mut self,
        i: usize,
        rec: &mut crate::store::StepRecord,
        outputs: &HashMap<crate::spec::StepId, StepOutput>,
    ) {
        let mut kept = Vec::with_capacity(rec.items.len());
        for (n, item) in rec.items.iter_mut().enumerate() {
            kept.push(outputs.get(&item_key(&rec.step, n)).cloned());
            match item.status {
                StepStatus::Running
                | StepStatus::Retrying
                | StepStatus::Paused
                | StepStatus::WaitingApproval => {
                    if let Some((pid, spawned_at)) = item.process.take() {
                        self.out.push(Effect::StopLeftover {
                            idx: i,
                            pid,
                            spawned_at,
                        });
                    }
                    if let Some(process) = item.remote.take() {
                        self.out.push(Effect::StopRemoteLeftover {
                            idx: i,
                            process: Box::new(process),
                        });
                    }
                    if !self.wf.steps[i].idempotent {
                        self.fans.recovery.entry(i).or_default().insert(n);
                    }
                    item.status = StepStatus::Pending;
                    item.retry_at = None;
                }
                _ => {}
            }
        }
        self.fans.restored.insert(i, kept);
    }
}

/// The step's output: each item's output in order (`null` for one that did not succeed), and
/// their printed text one after the other.
fn combined(outputs: &[Option<StepOutput>]) -> StepOutput {
    let mut out = StepOutput {
        output: Value::Array(
            outputs
                .iter()
                .map(|o| o.as_ref().map_or(Value::Null, |o| o.output.clone()))
                .collect(),
        ),
        ..StepOutput::default()
    };
    for o in outputs.iter().flatten() {
        out.stdout.push_str(&o.stdout);
        out.stderr.push_str(&o.stderr);
    }
    out
}
