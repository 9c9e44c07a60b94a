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
    /// How many steps run on it at once over its connection (default: `[ssh] max_sessions`).
    pub max_sessions: Option<MaxSessions>,
}

/// `[ssh]` in the config file: defaults for every host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSection {
    /// An OpenSSH client config file used instead of `~/.ssh/config` (`ssh -F`).
    pub config_file: Option<PathBuf>,
    /// The known_hosts file of hosts that do not name their own.
    pub known_hosts: Option<PathBuf>,
    /// How many steps run at once on one host over its connection (default 8).
    pub max_sessions: Option<MaxSessions>,
}

/// How many steps run at once on one host over its shared connection: each takes one of the
/// connection's sessions, and sshd allows 10 a connection unless its `MaxSessions` says more.
/// Two more are kept for pause, resume and cancel, so that they reach steps however many run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxSessions(pub usize);

impl MaxSessions {
    /// Within sshd's default `MaxSessions` (10), with the two kept for signals.
    pub const DEFAULT: MaxSessions = MaxSessions(8);
    /// The most accepted: more is a typo far more often than a host configured for it.
    pub const MOST: usize = 1000;
    /// Sessions kept besides the steps' for signals and stops.
    pub const CONTROL: usize = 2;
}

impl<'de> Deserialize<'de> for MaxSessions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(deserializer)?;
        match usize::try_from(n) {
            Ok(n @ 1..=MaxSessions::MOST) => Ok(MaxSessions(n)),
            _ => Err(serde::de::Error::custom(format!(
                "`max_sessions` is {n}; it must be from 1 to {most}: how many steps run at once \
                 over one host's connection. sshd allows 10 sessions a connection by default \
                 and baton keeps {control} of them for pause and cancel, so above {default} \
                 raise `MaxSessions` in the host's sshd_config as well",
                most = MaxSessions::MOST,
                control = MaxSessions::CONTROL,
                default = MaxSessions::DEFAULT.0
            ))),
        }
    }
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
    /// How many steps run on it at once.
    pub max_sessions: MaxSessions,
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
            max_sessions: None,
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
            max_sessions: fields
                .max_sessions
                .or(defaults.max_sessions)
                .unwrap_or(MaxSessions::DEFAULT),
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

    #[test]
    fn max_sessions_is_read_from_ssh_and_a_host_and_a_bad_one_is_said_with_its_place() {
        let path = std::path::Path::new("config.toml");
        let text = "[ssh]\nmax_sessions = 4\n\n[hosts.web1]\nmax_sessions = 2\n\n[hosts.db]\n";
        let config = crate::config::ConfigFile::parse(text, path).unwrap();
        let host = |name: &str| Host::new(name, &config.hosts[name], &config.ssh).unwrap();
        assert_eq!(host("web1").max_sessions, MaxSessions(2));
        assert_eq!(host("db").max_sessions, MaxSessions(4));
        let plain = Host::new("x", &HostFields::default(), &SshSection::default()).unwrap();
        assert_eq!(plain.max_sessions, MaxSessions::DEFAULT);
        let err = crate::config::ConfigFile::parse("[hosts.web1]\nmax_sessions = 0\n", path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config.toml:2:16: `max_sessions` is 0; it must be from 1 to 1000"),
            "{err}"
        );
        assert!(
            err.contains("raise `MaxSessions` in the host's sshd_config"),
            "{err}"
        );
    }
}
