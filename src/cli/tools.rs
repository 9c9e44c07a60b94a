//! `baton tools [-f WORKFLOW]`: every tool an agent step can name, with what it does and
//! whether its calls wait for approval; the config file's MCP servers (and a workflow's) are
//! connected to list theirs.

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

/// Prints the built-in tools, then each MCP server's (the config file's, and the workflow's
/// with `-f`); returns 0, or 1 when a server could not be listed (the others still are).
pub fn run(args: &ToolsArgs) -> anyhow::Result<i32> {
    let mut rows: Vec<Arc<dyn Tool>> = BUILTIN_TOOLS.iter().filter_map(|n| builtin(n)).collect();
    let paths = crate::config::Paths::resolve(None)?;
    let config = crate::config::ConfigFile::load(&paths.config_file())?;
    let mut servers = crate::mcp::configured(&config.mcp_servers, &paths.config_file())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut cwd = PathBuf::from(".");
    if let Some(path) = &args.file {
        let wf = crate::spec::load_file(path).map_err(|d| anyhow::anyhow!("{d}"))?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            cwd = dir.to_path_buf();
        }
        servers = crate::mcp::merged(&servers, &wf.mcp_servers);
    }
    let mut code = 0;
    if !servers.is_empty() {
        let rt = common::runtime()?;
        for server in servers.keys() {
            match rt.block_on(list(&servers, server, &cwd)) {
                Ok(found) => rows.extend(found),
                Err(e) => {
                    errln!("baton tools: {}", Shown::stderr().text(&e));
                    code = 1;
                }
            }
        }
    }
    let mut table_rows: Vec<[String; 3]> = rows
        .iter()
        .take(BUILTIN_TOOLS.len())
        .map(|t| row_of(t.as_ref()))
        .collect();
    table_rows.extend(
        crate::agents::AGENT_TOOLS_ABOUT
            .iter()
            .map(|(name, about)| [name.to_string(), "no".to_string(), about.to_string()]),
    );
    table_rows.extend(
        rows.iter()
            .skip(BUILTIN_TOOLS.len())
            .map(|t| row_of(t.as_ref())),
    );
    out!("{}", Shown::stdout(false).text(&table(&table_rows)));
    Ok(code)
}

/// Connects `server`, lists its tools and ends the session (the rows keep what they show).
async fn list(
    servers: &indexmap::IndexMap<String, crate::spec::McpServerSpec>,
    server: &str,
    cwd: &std::path::Path,
) -> Result<Vec<Arc<dyn Tool>>, String> {
    let all = format!("{server}.*");
    let tools = [ToolUse {
        name: all.clone(),
        approve: None,
    }];
    let log: LogSink = Arc::new(|_, line: &str| {
        errln!("{}", Shown::stderr().text(line));
    });
    let session = McpSession::start(servers, &tools, cwd, &log).await?;
    session.find(&all).unwrap_or_else(|| Ok(Vec::new()))
}

/// A tool's row: name, whether calls wait for approval, the description's first line.
fn row_of(t: &dyn Tool) -> [String; 3] {
    [
        t.name().to_string(),
        t.approval().to_string(),
        t.description().lines().next().unwrap_or("").to_string(),
    ]
}

/// The rows as a table under a header, with a note on how a step changes the default.
fn table(rows: &[[String; 3]]) -> String {
    let width = |i: usize, min: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .max()
            .unwrap_or(min)
            .max(min)
    };
    let (name_w, rule_w) = (width(0, 4), width(1, 8));
    let mut out = format!("{:name_w$}  {:rule_w$}  DESCRIPTION\n", "TOOL", "APPROVAL");
    for [name, rule, about] in rows {
        out.push_str(&format!("{name:name_w$}  {rule:rule_w$}  {about}\n"));
    }
    out.push_str(
        "\nAPPROVAL is the default; a step changes it with `tools: [{name: shell, approve: \
         false}]` or `approve:` on the step. `delegate` is offered to profiles with \
         `delegates_to:`.\n",
    );
    out
}
