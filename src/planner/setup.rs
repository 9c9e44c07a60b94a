//! A planner for this machine: the providers of the config file (or the environment), the
//! checks `baton validate` runs, and where workflows and agent profiles live.

use std::path::PathBuf;

use crate::config::{ConfigFile, Paths};
use crate::providers::{HealthFile, RouteError, RouteEvent, Router};

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
}

impl Planner {
    /// The planner of the config at `paths`; an error when no provider can be used.
    pub fn for_machine(paths: &Paths, config: &ConfigFile) -> anyhow::Result<Planner> {
        let router = Router::from_config(&config.providers, &crate::providers::process_env)
            .map_err(|e| anyhow::anyhow!("cannot plan: {e}"))?
            .remembering(HealthFile::new(paths.provider_health()));
        Ok(Planner {
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
        Catalogue::gather(&self.workflow_dirs, Some(&self.agents_dir), &cwd).await
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
