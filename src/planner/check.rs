//! The checks `baton validate` runs on a workflow, as one value both it and the planner use:
//! the language (parse + validate), agent names against the known profiles, provider names
//! against the configured ones, tool names (the spec checks those against the built-ins;
//! MCP servers' against the workflow's `mcp_servers:` and the config file's).

use std::path::Path;

use crate::config::{ConfigFile, Paths};
use crate::spec::{self, Diagnostic, Templates, Workflow};

/// What a workflow is checked against on this machine.
#[derive(Debug, Clone, Default)]
pub struct Checker {
    /// Every agent name a workflow may use without defining it.
    pub agents: Vec<String>,
    /// Every provider name an agent step may ask for.
    pub providers: Vec<String>,
    /// Where `workflow:` steps find a workflow given by name (`./workflows`, the config's).
    pub workflow_dirs: Vec<std::path::PathBuf>,
    /// The config file's MCP servers, which `SERVER.TOOL` may name besides the workflow's.
    pub mcp_servers: Vec<String>,
}

/// A checked text: the workflow when it is valid, and every problem found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The workflow, when the text is valid.
    pub workflow: Option<Workflow>,
    /// Every problem (empty when valid), each with its line and the source line.
    pub problems: Vec<Diagnostic>,
}

impl Checked {
    /// No problem found.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty() && self.workflow.is_some()
    }
}

impl Checker {
    /// The names this machine knows: built-in agent profiles and the user's profile files,
    /// the config's providers (or those discovered from the environment), plus `extra`.
    pub fn for_machine(
        paths: Option<&Paths>,
        config: Option<&ConfigFile>,
        extra_agents: &[String],
        extra_providers: &[String],
    ) -> Checker {
        let mut user = extra_agents.to_vec();
        if let Some(paths) = paths {
            let (catalog, _) = crate::agents::AgentCatalog::load(Some(&paths.agents_dir()));
            user.extend(
                catalog
                    .iter()
                    .filter(|p| p.source != crate::agents::ProfileSource::Builtin)
                    .map(|p| p.name.clone()),
            );
        }
        let mut providers = known_providers(config.map_or(&[], |c| &c.providers[..]));
        providers.extend(extra_providers.iter().cloned());
        let mut workflow_dirs = vec![std::path::PathBuf::from("workflows")];
        workflow_dirs.extend(paths.map(|p| p.workflows_dir()));
        Checker {
            agents: crate::agents::known_names(&user),
            providers,
            workflow_dirs,
            mcp_servers: config.map_or_else(Vec::new, |c| c.mcp_servers.keys().cloned().collect()),
        }
    }

    /// Checks an already parsed workflow's agents, providers and the workflows it calls.
    pub fn check_workflow(&self, wf: &Workflow) -> Vec<Diagnostic> {
        let mut problems = spec::check_agents(wf, &self.agents);
        problems.extend(spec::check_providers(wf, &self.providers));
        problems.extend(spec::check_calls(wf, &self.workflow_dirs));
        problems.extend(spec::check_mcp_servers(wf, &self.mcp_servers));
        problems
    }

    /// Parses and checks `text` as if it were the file `origin`.
    pub fn check_text(&self, text: &str, origin: &Path, templates: &Templates) -> Checked {
        match spec::parse_with(text, origin, templates) {
            Ok(wf) => {
                let mut problems = self.check_workflow(&wf);
                fill_snippets(&mut problems, text);
                Checked {
                    workflow: Some(wf),
                    problems,
                }
            }
            Err(diags) => Checked {
                workflow: None,
                problems: diags.0,
            },
        }
    }
}

/// The provider names an agent step may ask for: the config file's `[[providers]]`, or, when
/// it lists none, the names baton gives each family it discovers from the environment.
pub fn known_providers(configured: &[crate::providers::ProviderConfig]) -> Vec<String> {
    use crate::providers::ProviderKind;
    if configured.is_empty() {
        [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::Gemini,
            ProviderKind::Ollama,
        ]
        .iter()
        .map(|k| k.as_str().to_string())
        .collect()
    } else {
        configured.iter().map(|p| p.name.clone()).collect()
    }
}

/// Checks that read no file (the text is not on disk) give their diagnostics no source line;
/// it is taken from `text`.
pub(crate) fn fill_snippets(problems: &mut [Diagnostic], text: &str) {
    for d in problems
        .iter_mut()
        .filter(|d| d.snippet.is_none() && d.line > 0)
    {
        d.snippet = text
            .lines()
            .nth(d.line as usize - 1)
            .map(|l| l.trim_end_matches('\r').to_string());
    }
}
