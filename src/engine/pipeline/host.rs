//! The render stage's part for `on:`: the host a step names, resolved with the workflow's
//! `hosts:` entry rendered over the step's context, and the command as it will run there.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::remote::{Host, HostFields};
use crate::spec::HostSpec;
use crate::spec::template::Templates;
use crate::steps::shell::ShellCommand;

/// The host `name` (rendered `on:`) means for this step.
pub(super) fn resolve(
    t: &Templates,
    ctx: &Value,
    hosts: &IndexMap<String, HostSpec>,
    ssh: &crate::remote::Ssh,
    name: &str,
) -> Result<Arc<Host>, String> {
    let own = match hosts.get(name) {
        Some(spec) => Some(HostFields::render(spec, t, ctx, name)?),
        None => None,
    };
    ssh.resolve(name, own.as_ref())
        .map(Arc::new)
        .map_err(|e| format!("on: {e}"))
}

/// `cmd` as it runs on `host`: the host's environment under the step's, and a relative `cwd`
/// under the host's `workdir` (the local run directory means nothing there).
pub(super) fn onto(mut cmd: ShellCommand, cwd: Option<String>, host: Arc<Host>) -> ShellCommand {
    let mut env = host.env.clone();
    env.extend(cmd.env);
    cmd.env = env;
    cmd.cwd = match (cwd, &host.workdir) {
        (Some(dir), Some(base)) if !dir.starts_with('/') => Some(PathBuf::from(format!(
            "{}/{dir}",
            base.trim_end_matches('/')
        ))),
        (Some(dir), _) => Some(PathBuf::from(dir)),
        (None, base) => base.as_ref().map(PathBuf::from),
    };
    cmd.on = Some(host);
    cmd
}
