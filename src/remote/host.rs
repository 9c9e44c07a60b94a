//! Which host a step's `on: NAME` means: the workflow's `hosts:` entry (its fields rendered),
//! else the config file's `[hosts.NAME]`, else whatever the user's OpenSSH configuration makes
//! of NAME; and the `ssh` arguments that reach it.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::spec::HostSpec;
use crate::spec::template::Templates;

/// A host's settings, as `[hosts.NAME]` in the config file writes them and as a workflow's
/// `hosts:` entry renders to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFields {
    /// Host name or IP address to connect to (default: the host's name, which OpenSSH's own
    /// configuration may know).
    pub address: Option<String>,
    /// SSH port.
    pub port: Option<u16>,
    /// Login name.
    pub user: Option<String>,
    /// Private key to log in with.
    pub identity_file: Option<PathBuf>,
    /// A jump host (`ssh -J`), e.g. `bastion` or `ops@bastion:2222`.
    pub jump: Option<String>,
    /// The known_hosts file its host key is checked against (default: OpenSSH's own).
    pub known_hosts: Option<PathBuf>,
    /// Environment for every step on this host.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Directory steps start in (and relative `cwd:` is under); default: the login's home.
    pub workdir: Option<String>,
}

/// `[ssh]` in the config file: defaults for every host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSection {
    /// An OpenSSH client config file used instead of `~/.ssh/config` (`ssh -F`).
    pub config_file: Option<PathBuf>,
    /// The known_hosts file of hosts that do not name their own.
    pub known_hosts: Option<PathBuf>,
}

/// A host, resolved: how to reach it and what its steps get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The name the step's `on:` gave.
    pub name: String,
    /// `ssh` options and the destination (no command, no connection-sharing options).
    pub ssh: Vec<String>,
    /// Directory steps start in.
    pub workdir: Option<String>,
    /// Environment for every step on it.
    pub env: IndexMap<String, String>,
}

impl HostFields {
    /// A workflow's `hosts.NAME` entry, its templates rendered over `ctx`.
    pub fn render(
        spec: &HostSpec,
        t: &Templates,
        ctx: &Value,
        name: &str,
    ) -> Result<HostFields, String> {
        let text = |field: &str, v: &Option<String>| -> Result<Option<String>, String> {
            v.as_ref()
                .map(|v| t.render(v, ctx))
                .transpose()
                .map_err(|e| format!("hosts.{name}.{field}: {e}"))
        };
        let port =
            match text("port", &spec.port)? {
                Some(p) => Some(p.trim().parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(
                    || {
                        format!(
                            "hosts.{name}.port is `{p}`, which is not a port number (1 to 65535)"
                        )
                    },
                )?),
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
}

impl Host {
    /// The host named `name` with `fields` (its own, or none), completed by `[ssh]`.
    pub fn new(name: &str, fields: &HostFields, defaults: &SshSection) -> Result<Host, String> {
        let destination = fields.address.as_deref().unwrap_or(name);
        check_word(name, "host name")?;
        check_word(destination, &format!("the address of host `{name}`"))?;
        let mut ssh = Vec::new();
        if let Some(file) = &defaults.config_file {
            ssh.extend(["-F".to_string(), path_text(file, name)?]);
        }
        if let Some(file) = fields
            .known_hosts
            .as_ref()
            .or(defaults.known_hosts.as_ref())
        {
            ssh.push(format!("-oUserKnownHostsFile={}", path_text(file, name)?));
        }
        if let Some(port) = fields.port {
            ssh.push(format!("-oPort={port}"));
        }
        if let Some(user) = &fields.user {
            check_word(user, &format!("the user of host `{name}`"))?;
            ssh.push(format!("-oUser={user}"));
        }
        if let Some(key) = &fields.identity_file {
            ssh.push(format!("-oIdentityFile={}", path_text(key, name)?));
            ssh.push("-oIdentitiesOnly=yes".to_string());
        }
        if let Some(jump) = &fields.jump {
            check_word(jump, &format!("the jump host of host `{name}`"))?;
            ssh.push(format!("-oProxyJump={jump}"));
        }
        ssh.push(destination.to_string());
        Ok(Host {
            name: name.to_string(),
            ssh,
            workdir: fields.workdir.clone(),
            env: fields.env.clone(),
        })
    }

    /// The destination `ssh` connects to.
    pub fn destination(&self) -> &str {
        self.ssh.last().map(String::as_str).unwrap_or(&self.name)
    }
}

/// A name, address, user or jump host: one word that `ssh` cannot read as an option.
fn check_word(text: &str, what: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.starts_with('-') {
        return Err(format!(
            "{what} `{text}` starts with `-`, which ssh would read as an option; give a host name or address"
        ));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{what} `{}` holds a space or a control character; give a host name or address",
            text.escape_debug()
        ));
    }
    Ok(())
}

fn path_text(path: &std::path::Path, host: &str) -> Result<String, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("a path of host `{host}` is not UTF-8: {}", path.display()))?;
    if text.chars().any(|c| c.is_control()) || text.contains(' ') {
        return Err(format!(
            "the path `{}` of host `{host}` holds a space or a control character, which ssh's \
             options cannot carry; move the file",
            text.escape_debug()
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_becomes_options_and_a_destination_that_no_option_can_hide_in() {
        let fields = HostFields {
            address: Some("10.0.0.5".into()),
            port: Some(2222),
            user: Some("deploy".into()),
            identity_file: Some("/keys/id".into()),
            jump: Some("bastion".into()),
            known_hosts: Some("/k/known".into()),
            ..HostFields::default()
        };
        let h = Host::new("web1", &fields, &SshSection::default()).unwrap();
        assert_eq!(
            h.ssh,
            [
                "-oUserKnownHostsFile=/k/known",
                "-oPort=2222",
                "-oUser=deploy",
                "-oIdentityFile=/keys/id",
                "-oIdentitiesOnly=yes",
                "-oProxyJump=bastion",
                "10.0.0.5"
            ]
        );
        assert_eq!(h.destination(), "10.0.0.5");
        let bad = HostFields {
            address: Some("-oProxyCommand=touch /tmp/x".into()),
            ..HostFields::default()
        };
        let err = Host::new("web1", &bad, &SshSection::default()).unwrap_err();
        assert!(err.contains("starts with `-`"), "{err}");
        let plain = Host::new("db", &HostFields::default(), &SshSection::default()).unwrap();
        assert_eq!(plain.ssh, ["db"], "a name OpenSSH's config may know, as is");
    }
}
