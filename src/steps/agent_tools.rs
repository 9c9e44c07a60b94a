//! The tools of an agent step's loop: the names of its `tools:` resolved to the built-ins,
//! the memory tools, `delegate` and the MCP servers' tools (the config file's servers and the
//! workflow's), each granted as the step's `approve:` says; a delegate's tools are resolved
//! the same way from its own profile.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use super::agent::{LlmRuntime, Place};
use super::{Attempt, Failure};
use crate::agents::approve::{Granted, grant};
use crate::agents::delegate::{self, Team, Toolbox};
use crate::agents::memory::{self, Notebook};
use crate::agents::{AgentCatalog, AgentError, AgentProfile, HostFuture, Kit};
use crate::mcp::McpSession;
use crate::providers::Router;
use crate::spec::{AgentLimits, AgentSpec, CallApproval, McpServerSpec, ToolUse};
use crate::steps::LogSink;
use crate::tools::{DEFAULT_RESULT_LIMIT, Tool, ToolContext, builtin};

/// Where one agent step's tools come from.
pub(super) struct StepToolbox<'c> {
    /// The config file's MCP servers with the workflow's over them.
    servers: IndexMap<String, McpServerSpec>,
    /// Where tools and MCP programs run.
    cwd: PathBuf,
    /// MCP programs' stderr goes here.
    log: LogSink,
    notes: Option<Arc<Notebook>>,
    catalog: &'c AgentCatalog,
}

impl<'c> StepToolbox<'c> {
    /// The toolbox of a step in `place` (its working directory: the run's, else baton's).
    pub(super) fn new(
        llm: &LlmRuntime,
        catalog: &'c AgentCatalog,
        place: &Place<'_>,
        attempt: &Attempt,
    ) -> Result<StepToolbox<'c>, Failure> {
        let cwd = match &place.workdir {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().map_err(|e| {
                Failure::fatal(format!(
                    "the tools need a working directory, and baton's own cannot be read: {e}"
                ))
            })?,
        };
        Ok(StepToolbox {
            servers: crate::mcp::merged(&llm.mcp_servers, place.mcp_servers),
            cwd,
            log: attempt.log.clone(),
            notes: place.notes.clone(),
            catalog,
        })
    }

    /// The tool loop's kit, when the step has tools (or its profile may delegate): the
    /// granted tools, where they run, the host, and whom it may hand subtasks to.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn kit<'k>(
        &'k self,
        router: &'k Router,
        profile: &'k AgentProfile,
        tools: &[ToolUse],
        spec: &AgentSpec,
        limits: AgentLimits,
        place: Place<'k>,
        attempt: &Attempt,
    ) -> Result<Option<Kit<'k>>, Failure> {
        if tools.is_empty() && profile.delegates_to.is_empty() {
            return Ok(None);
        }
        let bad = |e: String| Failure::fatal(AgentError::BadTools(e).to_string());
        let granted = self
            .grant(tools, profile, &spec.approve_calls)
            .await
            .map_err(bad)?;
        Ok(Some(Kit {
            tools: granted,
            limits,
            ctx: ToolContext {
                cwd: self.cwd.clone(),
                env: place.env,
                attempt: attempt.clone(),
                limit: limits
                    .max_tool_output
                    .map_or(DEFAULT_RESULT_LIMIT, |n| n as usize),
            },
            host: place.host,
            team: Some(Team {
                router,
                catalog: self.catalog,
                toolbox: self,
                allowed: &profile.delegates_to,
                depth: 0,
            }),
        }))
    }

    /// `uses` resolved and granted as `approval` says, with `delegate` added when `profile`
    /// may delegate and does not list it.
    async fn grant(
        &self,
        uses: &[ToolUse],
        profile: &AgentProfile,
        approval: &CallApproval,
    ) -> Result<Vec<Granted>, String> {
        let mcp = McpSession::start(&self.servers, uses, &self.cwd, &self.log).await?;
        let find = |name: &str| -> Result<Vec<Arc<dyn Tool>>, String> {
            if let Some(found) = mcp.find(name) {
                return found;
            }
            self.agent_tool(name, profile)
                .or_else(|| builtin(name))
                .map(|t| vec![t])
                .ok_or_else(|| self.why_not(name))
        };
        let mut granted = grant(uses, approval, &find)?;
        let listed = granted.iter().any(|g| g.tool.name() == delegate::NAME);
        if let (false, Some(tool)) = (listed, delegate::tool_for(profile, self.catalog)) {
            let entry = ToolUse {
                name: delegate::NAME.to_string(),
                approve: None,
            };
            granted.push(Granted::new(tool, &entry, approval));
        }
        Ok(granted)
    }

    /// `delegate`, `remember` or `recall`, when this step can have it.
    fn agent_tool(&self, name: &str, profile: &AgentProfile) -> Option<Arc<dyn Tool>> {
        match name {
            delegate::NAME => delegate::tool_for(profile, self.catalog),
            _ => self
                .notes
                .as_ref()
                .and_then(|book| memory::tool(name, book)),
        }
    }

    fn why_not(&self, name: &str) -> String {
        match name {
            delegate::NAME => "`delegate` needs `delegates_to:` on the agent's profile, listing \
                               whom it may ask"
                .to_string(),
            memory::REMEMBER | memory::RECALL => {
                format!("`{name}` needs the run's store, which this engine does not have")
            }
            _ => format!("`{name}` is not a tool baton has"),
        }
    }
}

impl Toolbox for StepToolbox<'_> {
    fn open<'a>(
        &'a self,
        profile: &'a AgentProfile,
    ) -> HostFuture<'a, Result<Vec<Granted>, String>> {
        // A delegate's risky calls ask, whatever the step's `approve:` says of the step's own.
        Box::pin(self.grant(&profile.tools, profile, &CallApproval::Default))
    }
}
