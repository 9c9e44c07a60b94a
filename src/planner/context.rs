//! What a planning model is told is available on this machine: the built-in tools, the agent
//! profiles, the MCP servers the workflows here declare (started once to list their tools),
//! and the workflows themselves as examples.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::spec::{BUILTIN_TOOLS, McpServerSpec, Templates, Workflow};

/// Longest example workflow shown whole; longer ones are cut.
const EXAMPLE_LIMIT: usize = 6 * 1024;
/// Most example text shown in all.
const EXAMPLES_LIMIT: usize = 20 * 1024;

/// One tool a planned agent step may name.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolEntry {
    /// As a workflow names it (`shell`, `calendar.list_events`).
    pub name: String,
    /// What it does.
    pub description: String,
    /// Whether it only reads (calls to the others wait for a person).
    pub read_only: bool,
}

/// An MCP server some workflow here declares.
#[derive(Debug, Clone)]
pub struct McpEntry {
    /// Its name under `mcp_servers:`.
    pub name: String,
    /// How it is declared.
    pub spec: McpServerSpec,
    /// The workflow file that declares it, or the config file.
    pub declared_in: PathBuf,
    /// Declared in the config file: every workflow may use it without declaring it.
    pub configured: bool,
    /// Its tools, or why they could not be listed.
    pub tools: Result<Vec<ToolEntry>, String>,
}

/// Everything the model is told is available.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// Built-in tools.
    pub tools: Vec<ToolEntry>,
    /// Agent profiles: name and what it is for.
    pub agents: Vec<(String, String)>,
    /// MCP servers of the config file and of the workflows here.
    pub mcp: Vec<McpEntry>,
    /// Valid workflows here: file and text.
    pub examples: Vec<(PathBuf, String)>,
}

impl Catalogue {
    /// Gathers it: the workflows of `dirs`, the profiles (built-in and `agents_dir`'s), and
    /// the tools of each MCP server the config file (`configured`, from `config_file`) or a
    /// workflow declares (servers started in `cwd`, then stopped).
    pub async fn gather(
        dirs: &[PathBuf],
        agents_dir: Option<&Path>,
        cwd: &Path,
        configured: &IndexMap<String, McpServerSpec>,
        config_file: &Path,
    ) -> Catalogue {
        let tools = BUILTIN_TOOLS
            .iter()
            .filter_map(|name| crate::tools::builtin(name))
            .map(|t| ToolEntry {
                name: t.name().to_string(),
                description: t.description().to_string(),
                read_only: !t.risky(&serde_json::json!({})),
            })
            .collect();
        let (catalog, _) = crate::agents::AgentCatalog::load(agents_dir);
        let agents = catalog
            .iter()
            .map(|p| (p.name.clone(), p.description.clone().unwrap_or_default()))
            .collect();
        let workflows = read_workflows(dirs);
        // Config file first: a workflow's server of the same name is the same server.
        let mut servers: Vec<(PathBuf, &String, &McpServerSpec, bool)> = configured
            .iter()
            .map(|(name, spec)| (config_file.to_path_buf(), name, spec, true))
            .collect();
        for (path, wf, _) in &workflows {
            for (name, spec) in &wf.mcp_servers {
                servers.push((path.clone(), name, spec, false));
            }
        }
        let mut mcp = Vec::new();
        for (path, name, spec, configured) in servers {
            if mcp.iter().any(|m: &McpEntry| &m.name == name) {
                continue;
            }
            let tools = list_mcp_tools(name, spec, cwd).await;
            mcp.push(McpEntry {
                name: name.clone(),
                spec: spec.clone(),
                declared_in: path,
                configured,
                tools,
            });
        }
        let examples = workflows
            .into_iter()
            .map(|(path, _, text)| (path, text))
            .collect();
        Catalogue {
            tools,
            agents,
            mcp,
            examples,
        }
    }

    /// The catalogue as text for the model.
    pub fn describe(&self) -> String {
        let mut out = String::from("# Available on this machine\n\n## Built-in tools\n");
        for t in &self.tools {
            out.push_str(&tool_line(t));
        }
        out.push_str("\n## Agent profiles (`agent: NAME`)\n");
        for (name, description) in &self.agents {
            out.push_str(&format!("- {name}: {}\n", one_line(description)));
        }
        if !self.mcp.is_empty() {
            out.push_str(
                "\n## MCP servers (declare the server under `mcp_servers:` exactly as shown to \
                 use its tools)\n",
            );
        }
        for m in &self.mcp {
            let line = if m.configured {
                format!(
                    "- {}: declared in the config file ({}), so every workflow may use its tools \
                     without declaring it: do not add it under `mcp_servers:`\n",
                    m.name,
                    m.declared_in.display()
                )
            } else {
                format!(
                    "- {}: {} (declared in {})\n",
                    m.name,
                    declaration(&m.spec),
                    m.declared_in.display()
                )
            };
            out.push_str(&line);
            match &m.tools {
                Ok(tools) => tools
                    .iter()
                    .for_each(|t| out.push_str(&format!("  {}", tool_line(t)))),
                Err(e) => out.push_str(&format!("  (its tools could not be listed: {e})\n")),
            }
        }
        let mut budget = EXAMPLES_LIMIT;
        if !self.examples.is_empty() {
            out.push_str("\n## Example workflows from this machine\n");
        }
        for (path, text) in &self.examples {
            if budget == 0 {
                break;
            }
            let shown = crate::tools::bound_head(text, EXAMPLE_LIMIT.min(budget));
            budget = budget.saturating_sub(shown.len());
            out.push_str(&format!(
                "\n### {}\n```yaml\n{}\n```\n",
                path.display(),
                shown.trim_end()
            ));
        }
        out
    }
}

/// How a workflow declares the server: `{command, args}` or `{url}` with the names of the
/// variables holding its secrets (never their values, which are not in the spec).
fn declaration(spec: &McpServerSpec) -> serde_json::Value {
    match &spec.url {
        Some(url) => {
            let mut d = serde_json::json!({ "url": url });
            if !spec.headers.is_empty() {
                d["headers"] = serde_json::json!(spec.headers);
            }
            if !spec.headers_env.is_empty() {
                d["headers_env"] = serde_json::json!(spec.headers_env);
            }
            if let Some(var) = &spec.bearer_token_env {
                d["bearer_token_env"] = serde_json::json!(var);
            }
            d
        }
        None => serde_json::json!({ "command": spec.command, "args": spec.args }),
    }
}

fn tool_line(t: &ToolEntry) -> String {
    let gate = if t.read_only {
        "read-only"
    } else {
        "changes things: each call asks a person"
    };
    format!("- {} ({gate}): {}\n", t.name, one_line(&t.description))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The valid workflow files of `dirs` (`*.yaml`, `*.yml`, `*.json`, sorted within each),
/// parsed, with their text; invalid ones are no example.
fn read_workflows(dirs: &[PathBuf]) -> Vec<(PathBuf, Workflow, String)> {
    let templates = Templates::new();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            })
            .collect();
        paths.sort();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if let Ok(wf) = crate::spec::parse_with(&text, &path, &templates) {
                out.push((path, wf, text));
            }
        }
    }
    out
}

/// Starts one MCP server, lists its tools and stops it.
async fn list_mcp_tools(
    name: &str,
    spec: &McpServerSpec,
    cwd: &Path,
) -> Result<Vec<ToolEntry>, String> {
    let quiet: crate::steps::LogSink = Arc::new(|_, _| {});
    let (client, listed) = crate::mcp::McpClient::start(name, spec, cwd, quiet).await?;
    drop(client);
    Ok(listed
        .into_iter()
        .map(|info| ToolEntry {
            name: format!("{name}.{}", info.name),
            read_only: info.read_only,
            description: info.description.unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_config_files_servers_are_offered_to_every_workflow_http_ones_by_url() {
        let dir = tempfile::tempdir().unwrap();
        let docs = McpServerSpec {
            url: Some("http://127.0.0.1:9/mcp".into()),
            bearer_token_env: Some("DOCS_TOKEN".into()),
            ..Default::default()
        };
        let configured: IndexMap<String, McpServerSpec> =
            [("docs".to_string(), docs.clone())].into_iter().collect();
        let config_file = Path::new("/etc/baton/config.toml");
        let dirs = [dir.path().to_path_buf()];
        let cat = Catalogue::gather(&dirs, None, dir.path(), &configured, config_file).await;
        let text = cat.describe();
        assert!(
            text.contains("- docs: declared in the config file (/etc/baton/config.toml)")
                && text.contains("do not add it under `mcp_servers:`"),
            "{text}"
        );
        assert!(text.contains("its tools could not be listed"), "{text}");
        let shown = declaration(&docs).to_string();
        assert_eq!(
            shown,
            r#"{"bearer_token_env":"DOCS_TOKEN","url":"http://127.0.0.1:9/mcp"}"#
        );
    }
}
