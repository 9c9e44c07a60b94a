//! MCP servers as tool plugins: the servers declared in the config file (`[mcp_servers.NAME]`)
//! or a workflow's `mcp_servers:` are connected for the agent steps that name their tools
//! (`SERVER.TOOL`, `SERVER.*`), through the official Rust SDK (`rmcp`): a program spoken to
//! over stdio, or a server reached over streamable HTTP. A step's servers are stopped (or
//! their sessions ended) when its attempt ends.

mod client;
mod config;
mod secret;
mod tool;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::spec::{McpServerSpec, ToolUse};
use crate::steps::LogSink;
use crate::tools::Tool;

pub use client::{McpClient, McpToolInfo};
pub use config::{McpServerConfig, configured, merged};
pub use secret::{ServerSecrets, secret_values};
pub use tool::McpTool;

/// The MCP servers one agent attempt started, with their tools; dropping it stops them.
#[derive(Default)]
pub struct McpSession {
    tools: HashMap<String, Vec<Arc<dyn Tool>>>,
}

impl McpSession {
    /// Connects the servers of `servers` that `tools` name (a program is started in `cwd`,
    /// with baton's environment and the server's `env`, its stderr going to `log`) and lists
    /// their tools.
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
                format!(
                    "`{}` names the MCP server `{server}`, which neither the workflow's \
                     `mcp_servers:` nor the config file's `[mcp_servers]` declares",
                    entry.name
                )
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
