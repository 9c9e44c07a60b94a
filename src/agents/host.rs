//! What the tool loop needs from the run it belongs to: an operator's decision on a risky call,
//! and each turn and call made durable before the loop goes on. The engine implements it for
//! agent steps (`engine/pipeline/agent_host.rs`); tests implement it in memory.

use std::future::Future;
use std::pin::Pin;

use super::approve::CallQuestion;
use crate::store::{AgentEntry, Decision};

/// The future a host's method returns.
pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The run around an agent step's tool loop.
pub trait ActHost: Send + Sync {
    /// The conversation recorded by earlier attempts of this step (empty the first time), or
    /// why it cannot be read.
    fn recorded(&self) -> Result<Vec<AgentEntry>, String>;

    /// Makes `entry` durable; the loop waits for it before its next action.
    fn record(&self, entry: AgentEntry) -> HostFuture<'_, Result<(), String>>;

    /// Asks the operator about a call and waits for the decision; `None` when nobody will
    /// decide (the run is stopping).
    fn ask(&self, question: CallQuestion) -> HostFuture<'_, Option<Decision>>;
}
