//! A planner for this machine: the providers of the config file (or the environment), the
//! checks `baton validate` runs, and where workflows and agent profiles live.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::config::{ConfigFile, Paths};
use crate::providers::{HealthFile, RouteError, RouteEvent, Router};
use crate::spec::McpServerSpec;

use super::{Catalogue, Checker, Draft, PlanRequest};

/// Everything a draft or a repair needs.
pub struct Planner {
    /// The LLM providers.
    pub router: Router,
    /// The checks.
    pub checker: Checker,
    /// Where workflows live (`./workflows` and the config dir's `workflows/`).
    pub workflow_dirs: Vec<PathBuf>,
    /// The user's agent profiles.
    pub agents_dir: PathBuf,
    /// The config file's MCP servers (`[mcp_servers.NAME]`), offered to every workflow.
    pub mcp_servers: IndexMap<String, McpServerSpec>,
    /// The config file, named where its servers are described.
    pub config_file: PathBuf,
}

impl Planner {
    /// The planner of the config at `paths`; an error when no provider can be used.
    pub fn for_machine(paths: &Paths, config: &ConfigFile) -> anyhow::Result<Planner> {
        let router = Router::from_config(&config.providers, &crate::providers::process_env)
            .map_err(|e| anyhow::anyhow!("cannot plan: {e}"))?
            .remembering(HealthFile::new(paths.provider_health()));
        let config_file = paths.config_file();
        let mcp_servers = crate::mcp::configured(&config.mcp_servers, &config_file)
            .map_err(|e| anyhow::anyhow!("cannot plan: {e}"))?;
        Ok(Planner {
            mcp_servers,
            config_file,
            router,
            checker: Checker::for_machine(Some(paths), Some(config), &[], &[]),
            workflow_dirs: vec![PathBuf::from("workflows"), paths.workflows_dir()],
            agents_dir: paths.agents_dir(),
        })
    }

    /// What the model is told is available (MCP servers are started in the current
    /// directory, as a run started here would start them).
    pub async fn catalogue(&self) -> Catalogue {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Catalogue::gather(
            &self.workflow_dirs,
            Some(&self.agents_dir),
            &cwd,
            &self.mcp_servers,
            &self.config_file,
        )
        .await
    }

    /// Drafts a workflow for `req`.
    pub async fn draft(
        &self,
        req: &PlanRequest,
        sink: &mut (dyn FnMut(RouteEvent) + Send),
    ) -> Result<Draft, RouteError> {
        let catalogue = self.catalogue().await;
        super::plan(&self.router, &self.checker, &catalogue, req, sink).await
    }
}
