//! `baton tools [-f WORKFLOW]`: every tool an agent step can name, with what it does and
//! whether its calls wait for approval; a workflow's MCP servers are started to list theirs.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::common::{self, Shown};
use crate::mcp::McpSession;
use crate::spec::{BUILTIN_TOOLS, ToolUse};
use crate::steps::LogSink;
use crate::tools::{Tool, builtin};

/// Arguments of `baton tools`.
#[derive(Debug, Clone, Args)]
pub struct ToolsArgs {
    /// Also list the tools of this workflow's `mcp_servers:` (each server is started, asked
    /// for its tools, and stopped).
    #[arg(long, short = 'f', value_name = "WORKFLOW")]
    pub file: Option<PathBuf>,
}

/// Prints the built-in tools, then each MCP server's; returns 0, or 1 when a server could not
/// be listed (the others still are).
pub fn run(args: &ToolsArgs) -> anyhow::Result<i32> {
    let mut rows: Vec<Arc<dyn Tool>> = BUILTIN_TOOLS.iter().filter_map(|n| builtin(n)).collect();
    let mut code = 0;
    if let Some(path) = &args.file {
        let wf = crate::spec::load_file(path).map_err(|d| anyhow::anyhow!("{d}"))?;
        let cwd = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let rt = common::runtime()?;
        for server in wf.mcp_servers.keys() {
            let all = format!("{server}.*");
            let tools = [ToolUse {
                name: all.clone(),
                approve: None,
            }];
            let log: LogSink = Arc::new(|_, line: &str| {
                errln!("{}", Shown::stderr().text(line));
            });
            let listed = rt.block_on(async {
                let session = McpSession::start(&wf.mcp_servers, &tools, &cwd, &log).await?;
                session.find(&all).unwrap_or_else(|| Ok(Vec::new()))
            });
            match listed {
                Ok(found) => rows.extend(found),
                Err(e) => {
                    errln!("baton tools: {}", Shown::stderr().text(&e));
                    code = 1;
                }
            }
        }
    }
    out!("{}", Shown::stdout(false).text(&table(&rows)));
    Ok(code)
}

/// The tools as a table: name, whether calls wait for approval, and the description's first
/// line.
fn table(tools: &[Arc<dyn Tool>]) -> String {
    let width = tools
        .iter()
        .map(|t| t.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let rule_width = tools
        .iter()
        .map(|t| t.approval().len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = format!(
        "{:width$}  {:rule_width$}  DESCRIPTION\n",
        "TOOL", "APPROVAL"
    );
    for t in tools {
        let about = t.description().lines().next().unwrap_or("");
        out.push_str(&format!(
            "{:width$}  {:rule_width$}  {about}\n",
            t.name(),
            t.approval()
        ));
    }
    out.push_str(
        "\nAPPROVAL is the default; a step changes it with `tools: [{name: shell, approve: \
         false}]` or `approve:` on the step.\n",
    );
    out
}
