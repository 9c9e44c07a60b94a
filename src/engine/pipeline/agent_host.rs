//! The run around an agent step's tool loop: a risky call opens the step's gate as an
//! `approve:` step's does (the operator sees the exact call), and each turn and call is sent
//! to the run's driver, which journals it and answers once it is durable.

use indexmap::IndexMap;
use tokio::sync::oneshot;

use super::{GateRequest, StepJob, StepMsg, gate};
use crate::agents::approve::ARGUMENTS_INPUT;
use crate::agents::{ActHost, CallQuestion, HostFuture};
use crate::spec::{OnTimeout, StepId};
use crate::store::{AgentEntry, Decision, RunId, Store};

/// An agent step's run, as its tool loop sees it.
pub(super) struct StepHost<'j> {
    job: &'j StepJob,
}

impl<'j> StepHost<'j> {
    pub(super) fn new(job: &'j StepJob) -> StepHost<'j> {
        StepHost { job }
    }

    fn ids(&self) -> (&RunId, &StepId, &Store) {
        (&self.job.run, &self.job.step().id, &self.job.engine.store)
    }
}

impl ActHost for StepHost<'_> {
    fn recorded(&self) -> Result<Vec<AgentEntry>, String> {
        let (run, step, store) = self.ids();
        store.conversation(run, step).map_err(|e| {
            format!("run {run}, step `{step}`: its recorded conversation cannot be read: {e:#}")
        })
    }

    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let (ack, durable) = oneshot::channel();
            let msg = StepMsg::Agent {
                idx: self.job.idx,
                entry: Box::new(entry),
                ack,
            };
            let stopped = || {
                "the run stopped recording before this turn was stored (see the run's reason)"
                    .to_string()
            };
            self.job.tx.send(msg).map_err(|_| stopped())?;
            durable.await.map_err(|_| stopped())
        })
    }

    fn ask(&self, question: CallQuestion) -> HostFuture<'_, Option<Decision>> {
        Box::pin(async move {
            // The gate shows the arguments masked; approved unchanged, they are the call's
            // own (with its secrets), not the masked text.
            let shown = self.job.redactor.redact(&question.arguments).into_owned();
            let (reply, rx) = oneshot::channel();
            let request = GateRequest {
                idx: self.job.idx,
                prompt: question.prompt,
                action: Some(question.action),
                inputs: IndexMap::from([(ARGUMENTS_INPUT.to_string(), question.arguments)]),
                timeout: None,
                on_timeout: OnTimeout::Reject,
                tool: Some(question.tool),
                reply,
            };
            let mut decision = gate::open(self.job, request, rx).await.ok()?;
            if decision.inputs.get(ARGUMENTS_INPUT) == Some(&shown) {
                decision.inputs.shift_remove(ARGUMENTS_INPUT);
            }
            Some(decision)
        })
    }
}
