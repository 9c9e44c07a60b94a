//! `[mcp_servers.NAME]` in the config file: MCP servers every workflow's agent steps may use
//! (a workflow's own `mcp_servers:` entry of the same name wins), in the same shape as a
//! workflow's entry: `command`/`args`/`env`, or `url` with `headers`, and secrets named by
//! the variables that hold them (`headers_env`, `bearer_token_env`).

use indexmap::IndexMap;
use serde::Deserialize;

use crate::spec::{McpServerSpec, mcp_shape_problem};

/// One `[mcp_servers.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The program of a stdio server.
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment added to baton's own.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// The endpoint of a streamable HTTP server.
    #[serde(default)]
    pub url: Option<String>,
    /// Headers sent as written (no secrets).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Header → the environment variable holding its value.
    #[serde(default)]
    pub headers_env: IndexMap<String, String>,
    /// The environment variable holding a bearer token.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
}

/// The config file's servers, each checked as a workflow's entry is; the first problem is an
/// error naming the server and the file.
pub fn configured(
    servers: &IndexMap<String, McpServerConfig>,
    file: &std::path::Path,
) -> Result<IndexMap<String, McpServerSpec>, String> {
    let mut out = IndexMap::new();
    for (name, c) in servers {
        let spec = McpServerSpec {
            command: c.command.clone().unwrap_or_default(),
            args: c.args.clone(),
            env: c.env.clone(),
            url: c.url.clone(),
            headers: c.headers.clone(),
            headers_env: c.headers_env.clone(),
            bearer_token_env: c.bearer_token_env.clone(),
            pos: Default::default(),
        };
        let bad_name = !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let problem = if bad_name || name.is_empty() {
            Some(format!(
                "`{name}` cannot name an MCP server: use letters, digits, `-` and `_`"
            ))
        } else {
            mcp_shape_problem(name, &spec)
        };
        if let Some(problem) = problem {
            return Err(format!(
                "{}: [mcp_servers.{name}]: {problem}",
                file.display()
            ));
        }
        out.insert(name.clone(), spec);
    }
    Ok(out)
}

/// The servers a run's steps may use: the config file's, with the workflow's over them.
pub fn merged(
    configured: &IndexMap<String, McpServerSpec>,
    workflow: &IndexMap<String, McpServerSpec>,
) -> IndexMap<String, McpServerSpec> {
    let mut all = configured.clone();
    for (name, spec) in workflow {
        all.insert(name.clone(), spec.clone());
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn config_servers_are_checked_like_a_workflows_and_the_workflows_win() {
        let text = "[mcp_servers.docs]\nurl = \"https://mcp.example.com/mcp\"\nbearer_token_env = \"DOCS_TOKEN\"\n\n[mcp_servers.cal]\ncommand = \"python3\"\nargs = [\"cal.py\"]\n";
        let file = crate::config::ConfigFile::parse(text, Path::new("config.toml")).unwrap();
        let servers = configured(&file.mcp_servers, Path::new("config.toml")).unwrap();
        assert_eq!(servers["cal"].args, ["cal.py"]);
        assert_eq!(
            servers["docs"].bearer_token_env.as_deref(),
            Some("DOCS_TOKEN")
        );
        let mut wf = IndexMap::new();
        wf.insert(
            "cal".to_string(),
            McpServerSpec {
                command: "node".into(),
                ..McpServerSpec::default()
            },
        );
        let all = merged(&servers, &wf);
        assert_eq!((all.len(), all["cal"].command.as_str()), (2, "node"));

        let both = "[mcp_servers.x]\ncommand = \"a\"\nurl = \"http://b\"\n";
        let file = crate::config::ConfigFile::parse(both, Path::new("config.toml")).unwrap();
        let e = configured(&file.mcp_servers, Path::new("config.toml")).unwrap_err();
        assert!(
            e.starts_with("config.toml: [mcp_servers.x]: MCP server `x` has both"),
            "{e}"
        );
        let typo = "[mcp_servers.x]\ncomand = \"a\"\n";
        let e = crate::config::ConfigFile::parse(typo, Path::new("config.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.toml:2:1") && e.contains("comand"), "{e}");
    }
}
