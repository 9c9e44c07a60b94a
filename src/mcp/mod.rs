//! MCP servers as tool plugins: the servers a workflow declares under `mcp_servers:` are
//! started for the agent steps that name their tools (`SERVER.TOOL`), spoken to over stdio
//! with JSON-RPC 2.0 as the Model Context Protocol says (`initialize`, `tools/list`,
//! `tools/call`), and stopped when the step's attempt ends.
//!
//! A small client of our own rather than the `rmcp` SDK: baton needs three requests of one
//! transport, and the SDK's dependency tree would cost more to build than these files.

mod client;
mod tool;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::spec::{McpServerSpec, ToolUse};
use crate::steps::LogSink;
use crate::tools::Tool;

pub use client::{McpClient, McpToolInfo};
pub use tool::McpTool;

/// The MCP servers one agent attempt started, with their tools; dropping it stops them.
#[derive(Default)]
pub struct McpSession {
    tools: HashMap<String, Vec<Arc<dyn Tool>>>,
}

impl McpSession {
    /// Starts the servers that `tools` name (in `cwd`, with baton's environment and the
    /// server's `env`) and lists their tools; their stderr goes to `log`.
    pub async fn start(
        servers: &IndexMap<String, McpServerSpec>,
        tools: &[ToolUse],
        cwd: &Path,
        log: &LogSink,
    ) -> Result<McpSession, String> {
        let mut session = McpSession::default();
        for entry in tools {
            let Some((server, _)) = entry.name.split_once('.') else {
                continue;
            };
            if session.tools.contains_key(server) {
                continue;
            }
            let spec = servers.get(server).ok_or_else(|| {
                format!("`{}` names the MCP server `{server}`, which the workflow does not declare under `mcp_servers:`", entry.name)
            })?;
            let (client, listed) = McpClient::start(server, spec, cwd, log.clone()).await?;
            let client = Arc::new(client);
            let found = listed
                .into_iter()
                .map(|info| Arc::new(McpTool::new(server, client.clone(), info)) as Arc<dyn Tool>)
                .collect();
            session.tools.insert(server.to_string(), found);
        }
        Ok(session)
    }

    /// The tools `name` stands for: `SERVER.TOOL` one, `SERVER.*` all of the server's; `None`
    /// when `name` is not an MCP tool's.
    pub fn find(&self, name: &str) -> Option<Result<Vec<Arc<dyn Tool>>, String>> {
        let (server, tool) = name.split_once('.')?;
        let listed = self.tools.get(server)?;
        if tool == "*" {
            return Some(Ok(listed.clone()));
        }
        Some(
            listed
                .iter()
                .find(|t| t.name() == name)
                .map(|t| vec![t.clone()])
                .ok_or_else(|| {
                    let names: Vec<&str> = listed.iter().map(|t| t.name()).collect();
                    format!(
                        "the MCP server `{server}` has no tool `{tool}`; it has {}",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )
                }),
        )
    }
}
