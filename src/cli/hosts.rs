//! `baton hosts` (the hosts steps can name with `on:`: the config file's, and a workflow's
//! with `-f`) and `baton hosts check` (connect to each afresh: latency, or the exact error).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use indexmap::IndexMap;

use super::common::Shown;
use crate::remote::{ConnectError, Host, HostFields, Ssh};

/// Arguments of `baton hosts`.
#[derive(Debug, Clone, Args)]
pub struct HostsArgs {
    /// `check`, or nothing to list.
    #[command(subcommand)]
    pub command: Option<HostsCommand>,
    /// Also the hosts of this workflow's `hosts:` (rendered with its params' defaults).
    #[arg(short = 'f', long = "file", global = true, value_name = "WORKFLOW")]
    pub file: Option<PathBuf>,
}

/// Subcommands of `baton hosts`.
#[derive(Debug, Clone, Subcommand)]
pub enum HostsCommand {
    /// Connect to each host (no shared connection) and print its latency or the exact error.
    Check {
        /// Check only these hosts (by name; a name only OpenSSH's config knows works too).
        names: Vec<String>,
    },
}

/// One host to list or check: its name, where it is defined, and how it resolved.
struct Listed {
    name: String,
    source: &'static str,
    host: Result<Host, String>,
}

/// Runs `baton hosts [check]`; returns the exit code (1 when a check failed, 2 on a bad
/// workflow file).
pub fn run(args: &HostsArgs, ssh: &Ssh) -> i32 {
    let mut listed: Vec<Listed> = ssh
        .configured()
        .keys()
        .map(|name| Listed {
            name: name.clone(),
            source: "config",
            host: ssh.resolve(name, None),
        })
        .collect();
    if let Some(file) = &args.file {
        match workflow_hosts(file) {
            Ok(hosts) => {
                for (name, fields) in hosts {
                    listed.retain(|l| l.name != name);
                    listed.push(Listed {
                        host: fields.and_then(|f| ssh.resolve(&name, Some(&f))),
                        name,
                        source: "workflow",
                    });
                }
            }
            Err(e) => {
                errln!("baton hosts: {}", Shown::stderr().text(&e));
                return 2;
            }
        }
    }
    match &args.command {
        None => {
            if listed.is_empty() {
                outln!(
                    "no hosts configured: add `[hosts.NAME]` to the config file, or `hosts:` to a \
                     workflow (`-f FILE`); a step's `on:` may also name any host your OpenSSH \
                     config knows"
                );
            }
            for l in &listed {
                outln!("{}", Shown::stdout(false).text(&describe(l)));
            }
            0
        }
        Some(HostsCommand::Check { names }) => check(ssh, listed, names),
    }
}

/// `NAME  SOURCE  ssh ARGS`.
fn describe(l: &Listed) -> String {
    match &l.host {
        Ok(h) => format!("{:<16} {:<8} ssh {}", l.name, l.source, h.ssh.join(" ")),
        Err(e) => format!("{:<16} {:<8} error: {e}", l.name, l.source),
    }
}

fn check(ssh: &Ssh, mut listed: Vec<Listed>, names: &[String]) -> i32 {
    if !names.is_empty() {
        for n in names {
            if !listed.iter().any(|l| &l.name == n) {
                listed.push(Listed {
                    name: n.clone(),
                    source: "openssh",
                    host: ssh.resolve(n, None),
                });
            }
        }
        listed.retain(|l| names.contains(&l.name));
    }
    let rt = match super::common::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("baton hosts: {e:#}");
            return 2;
        }
    };
    let results: Vec<Result<Duration, String>> = rt.block_on(async {
        // All at once: a slow or unreachable host does not hold up the others.
        let tasks: Vec<_> = listed
            .iter()
            .map(|l| {
                let host = l.host.clone();
                tokio::spawn(async move {
                    let host = host?;
                    crate::remote::ssh::check(&host)
                        .await
                        .map_err(|ConnectError { message, .. }| message)
                })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for t in tasks {
            results.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        results
    });
    let mut failed = false;
    for (l, r) in listed.iter().zip(results) {
        let line = match r {
            Ok(took) => format!("{:<16} ok     {} ms", l.name, took.as_millis()),
            Err(e) => {
                failed = true;
                format!("{:<16} FAILED {e}", l.name)
            }
        };
        outln!("{}", Shown::stdout(false).text(&line));
    }
    i32::from(failed)
}

/// A workflow's host: its name, and its fields rendered (or why they could not be).
type WorkflowHost = (String, Result<HostFields, String>);

/// A workflow file's `hosts:`, each rendered with the params' defaults and the workflow's env.
fn workflow_hosts(file: &std::path::Path) -> Result<Vec<WorkflowHost>, String> {
    let wf = crate::spec::load_file(file).map_err(|d| d.to_string())?;
    let params: IndexMap<String, serde_json::Value> = wf
        .params
        .iter()
        .filter_map(|(k, p)| p.default.clone().map(|d| (k.clone(), d)))
        .collect();
    let ctx = serde_json::json!({ "params": params, "env": wf.env });
    let t = crate::spec::Templates::new();
    Ok(wf
        .hosts
        .iter()
        .map(|(name, spec)| (name.clone(), HostFields::render(spec, &t, &ctx, name)))
        .collect())
}
