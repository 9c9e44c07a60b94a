//! An MCP server's tool as an agent step's tool: named `SERVER.TOOL`, risky unless the server
//! marks it read-only (`readOnlyHint`), its result bounded like every tool's.

use std::sync::Arc;

use serde_json::Value;

use super::client::{McpClient, McpToolInfo};
use crate::tools::{Tool, ToolContext, ToolFuture, ToolOutput, bound_head};

/// One tool of a running server.
pub struct McpTool {
    /// `SERVER.TOOL`.
    name: String,
    description: String,
    info: McpToolInfo,
    client: Arc<McpClient>,
}

impl McpTool {
    /// Tool `info` of `server`, called through `client`.
    pub fn new(server: &str, client: Arc<McpClient>, info: McpToolInfo) -> McpTool {
        McpTool {
            name: format!("{server}.{}", info.name),
            description: info.description.clone().unwrap_or_else(|| {
                format!("The `{}` tool of the MCP server `{server}`.", info.name)
            }),
            info,
            client,
        }
    }
}

impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn schema(&self) -> Value {
        match &self.info.input_schema {
            Value::Object(o) if !o.is_empty() => self.info.input_schema.clone(),
            _ => serde_json::json!({"type": "object"}),
        }
    }

    fn risky(&self, _args: &Value) -> bool {
        !self.info.read_only
    }

    fn approval(&self) -> &'static str {
        if self.info.read_only {
            "no (read-only)"
        } else {
            "asks"
        }
    }

    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            match self.client.call(&self.info.name, args).await {
                Ok((text, false)) => ToolOutput::ok(bound_head(&text, ctx.limit)),
                Ok((text, true)) => ToolOutput::error(bound_head(&text, ctx.limit)),
                Err(e) => ToolOutput::error(e),
            }
        })
    }
}
