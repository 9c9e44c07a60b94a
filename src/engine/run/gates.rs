//! Gates: a gate the machine opened stored, announced and timed; a decision recorded and
//! answered; the notices of `notify:` (a run's end, a gate waiting too long).

use super::*;

impl RunDriver {
    /// Stores and announces a gate the machine opened, and arms its timer.
    pub(super) fn open_gate(&mut self, idx: usize, requested_at: Timestamp) {
        let Some(req) = self.asks.remove(&idx) else {
            return;
        };
        let r = &self.redactor;
        let approval = ApprovalRecord {
            run: self.run.id.clone(),
            step: self.wf.steps[idx].id.clone(),
            prompt: r.redact(&req.prompt).into_owned(),
            action: req.action.map(|a| r.redact(&a).into_owned()),
            inputs: req
                .inputs
                .into_iter()
                .map(|(k, v)| (k, r.redact(&v).into_owned()))
                .collect(),
            requested_at,
            deadline: req
                .timeout
                .map(|t| Timestamp(requested_at.0 + t.as_millis() as u64)),
            decision: None,
            approvers: self.wf.steps[idx].approvers.clone(),
            tool: req.tool,
        };
        if let Err(e) = self.journal.put_approval(&approval) {
            self.write_failed(&e);
        }
        if let Some(t) = req.timeout {
            let tx = self.inbox_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(t).await;
                let _ = tx.send(RunMsg::GateTimeout { idx, requested_at });
            });
        }
        self.arm_gate_notices(idx, requested_at, &approval.prompt);
        self.replies.insert(idx, req.reply);
        self.journal.event(EventKind::ApprovalRequested {
            approval: Box::new(approval),
        });
    }

    /// Stores a gate's decision, announces it and hands it to the waiting step task. A gate
    /// whose record cannot be read or written stops the run: the decision would be lost.
    pub(super) fn gate_decided(&mut self, idx: usize, decision: Decision) {
        let step = self.wf.steps[idx].id.clone();
        let written = match self.engine.store.approval(&self.run.id, &step) {
            Ok(Some(mut approval)) => {
                approval.decision = Some(decision.clone());
                self.journal.put_approval(&approval)
            }
            Ok(None) => Err(anyhow::anyhow!(
                "run {}: the record of the gate at step `{step}` is missing from the store",
                self.run.id
            )),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            self.write_failed(&e);
            return;
        }
        self.system_log(idx, &decision.summary());
        self.journal.event(EventKind::ApprovalDecided {
            step,
            decision: decision.clone(),
        });
        if let Some(reply) = self.replies.remove(&idx) {
            let _ = reply.send(decision);
        }
    }

    /// Tells the `notify:` targets that the run ended (an interrupted run has not).
    pub(super) fn notify_end(&mut self, state: RunState) {
        if state == RunState::Interrupted || self.notifier.targets().is_empty() {
            return;
        }
        let failed: Vec<String> = self
            .machine
            .records()
            .iter()
            .zip(&self.wf.steps)
            .filter(|(r, s)| r.status == StepStatus::Failed && s.handler.is_none())
            .map(|(r, _)| r.step.0.clone())
            .collect();
        self.notifier
            .send(Notice::run_ended(&self.run, &failed), None);
    }

    /// Arms a timer per `notify:` target with `gate_waiting:`, for the gate opened now.
    pub(super) fn arm_gate_notices(&self, idx: usize, requested_at: Timestamp, prompt: &str) {
        for (target, t) in self.notifier.targets().iter().enumerate() {
            let Some(after) = t.gate_waiting else {
                continue;
            };
            if !crate::notify::wants(&t.events, NotifyEvent::GateWaiting) {
                continue;
            }
            let tx = self.inbox_tx.clone();
            let prompt = prompt.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(after.get()).await;
                let _ = tx.send(RunMsg::GateWaiting {
                    idx,
                    requested_at,
                    target,
                    prompt,
                });
            });
        }
    }
}
