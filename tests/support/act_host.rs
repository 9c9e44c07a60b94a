//! An in-memory run around an agent's tool loop, for tests that call `act` directly: the
//! conversation is kept in a list, and the operator's answers to risky calls are scripted.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Mutex;

use baton::agents::{ActHost, CallQuestion, HostFuture};
use baton::store::{AgentEntry, Decision, Timestamp};

/// Records entries in memory; answers asks from a script (none left: nobody decides).
#[derive(Default)]
pub struct MemoryHost {
    /// The conversation as recorded.
    pub entries: Mutex<Vec<AgentEntry>>,
    /// What was asked, in order.
    pub asked: Mutex<Vec<CallQuestion>>,
    answers: Mutex<VecDeque<Decision>>,
}

impl MemoryHost {
    /// A host whose operator answers the next asks with `answers` (true: approve), the
    /// rejections with `note`.
    pub fn answering(answers: &[bool], note: &str) -> MemoryHost {
        let host = MemoryHost::default();
        for &approved in answers {
            host.answers.lock().unwrap().push_back(Decision {
                approved,
                by: "ann".into(),
                uid: Some(1000),
                at: Timestamp::now(),
                comment: (!approved).then(|| note.to_string()),
                inputs: Default::default(),
            });
        }
        host
    }

    /// A host whose operator approves the next ask with the call's arguments edited to `args`
    /// (as the gate's `arguments` input, JSON text).
    pub fn editing(args: &str) -> MemoryHost {
        let host = MemoryHost::answering(&[true], "");
        if let Some(d) = host.answers.lock().unwrap().front_mut() {
            d.inputs.insert("arguments".into(), args.to_string());
        }
        host
    }

    /// The questions asked so far.
    pub fn asked(&self) -> Vec<CallQuestion> {
        self.asked.lock().unwrap().clone()
    }
}

impl ActHost for MemoryHost {
    fn recorded(&self) -> Result<Vec<AgentEntry>, String> {
        Ok(self.entries.lock().unwrap().clone())
    }

    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>> {
        self.entries.lock().unwrap().push(entry);
        Box::pin(async { Ok(()) })
    }

    fn ask(&self, question: CallQuestion) -> HostFuture<'_, Option<Decision>> {
        self.asked.lock().unwrap().push(question);
        let answer = self.answers.lock().unwrap().pop_front();
        Box::pin(async move { answer })
    }
}
