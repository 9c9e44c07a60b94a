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
        Some(spec) => Some(render_fields(t, ctx, name, spec)?),
        None => None,
    };
    ssh.resolve(name, own.as_ref())
        .map(Arc::new)
        .map_err(|e| format!("on: {e}"))
}

fn render_fields(
    t: &Templates,
    ctx: &Value,
    name: &str,
    spec: &HostSpec,
) -> Result<HostFields, String> {
    let text = |field: &str, v: &Option<String>| -> Result<Option<String>, String> {
        v.as_ref()
            .map(|v| t.render(v, ctx))
            .transpose()
            .map_err(|e| format!("hosts.{name}.{field}: {e}"))
    };
    let port = match text("port", &spec.port)? {
        Some(p) => Some(
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| {
                    format!("hosts.{name}.port is `{p}`, which is not a port number (1 to 65535)")
                })?,
        ),
        None => None,
    };
    let mut env = IndexMap::with_capacity(spec.env.len());
    for (k, v) in &spec.env {
        let value = t
            .render(v, ctx)
            .map_err(|e| format!("hosts.{name}.env.{k}: {e}"))?;
        env.insert(k.clone(), value);
    }
    Ok(HostFields {
        address: text("address", &spec.address)?,
        port,
        user: text("user", &spec.user)?,
        identity_file: text("identity_file", &spec.identity_file)?.map(PathBuf::from),
        jump: text("jump", &spec.jump)?,
        known_hosts: text("known_hosts", &spec.known_hosts)?.map(PathBuf::from),
        env,
        workdir: text("workdir", &spec.workdir)?,
    })
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
