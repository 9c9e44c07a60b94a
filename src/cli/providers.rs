//! `baton providers` (list providers with their health; never a key) and
//! `baton providers test` (send each a tiny request; report latency or the exact error).

use super::common::Shown;
use clap::{Args, Subcommand};

use std::path::Path;

use crate::providers::{self, Env, HealthFile, ProviderConfig, Router, report};

/// Arguments of `baton providers`.
#[derive(Debug, Clone, Args)]
pub struct ProvidersArgs {
    /// `test`, or nothing to list.
    #[command(subcommand)]
    pub command: Option<ProvidersCommand>,
}

/// Subcommands of `baton providers`.
#[derive(Debug, Clone, Subcommand)]
pub enum ProvidersCommand {
    /// Send each provider a tiny request and report its latency or the exact error.
    Test {
        /// Test only these providers (by name).
        names: Vec<String>,
    },
}

/// Runs `baton providers [test]` over `configured` (the config file's `[[providers]]`; the
/// providers discovered from `env` when it has none), with the health remembered in
/// `health_file` if given. Prints to stdout; returns the exit code: 0 when everything listed
/// or tested is fine, 1 when a test failed, 2 on a usage or configuration error. Safe to call
/// from inside or outside a tokio runtime.
pub fn run_providers(
    args: &ProvidersArgs,
    configured: &[ProviderConfig],
    env: Env<'_>,
    health_file: Option<&Path>,
) -> i32 {
    let list = providers::effective(configured, env);
    let router = match Router::new(&list, env) {
        Ok(r) => match health_file {
            Some(path) => r.remembering(HealthFile::new(path)),
            None => r,
        },
        Err(e) => {
            errln!("baton providers: {e}");
            return 2;
        }
    };
    match &args.command {
        None => {
            out!(
                "{}",
                Shown::stdout(false).text(&report::providers_table(&router.statuses()))
            );
            0
        }
        Some(ProvidersCommand::Test { names }) => {
            if list.is_empty() {
                out!("{}", report::providers_table(&[]));
                return 1;
            }
            let unknown: Vec<&String> = names
                .iter()
                .filter(|n| router.client(n).is_none())
                .collect();
            if !unknown.is_empty() {
                let known: Vec<&str> = router.clients().map(|c| c.name()).collect();
                errln!(
                    "baton providers test: no provider named {}; configured: {}",
                    unknown
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    known.join(", ")
                );
                return 2;
            }
            let outcomes = match run_on_own_runtime(|| report::test_providers(&router, names)) {
                Ok(o) => o,
                Err(e) => {
                    errln!("baton providers test: {e}");
                    return 2;
                }
            };
            out!(
                "{}",
                Shown::stdout(false).text(&report::probe_table(&outcomes))
            );
            if outcomes.iter().all(|o| o.result.is_ok()) {
                0
            } else {
                1
            }
        }
    }
}

/// Runs a future to completion on a fresh current-thread runtime in a scoped thread, so the
/// caller may or may not already be inside a runtime.
fn run_on_own_runtime<'a, F, Fut>(make: F) -> Result<Fut::Output, String>
where
    F: FnOnce() -> Fut + Send + 'a,
    Fut: std::future::Future,
    Fut::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the async runtime: {e}"))?;
                Ok(rt.block_on(make()))
            })
            .join()
            .map_err(|_| "the provider test thread panicked".to_string())?
    })
}
