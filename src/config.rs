//! Configuration: the config file, the data/config/log directories, and the environment.
//!
//! Precedence: command-line flags, then environment (`BATON_HOME`, `BATON_CONFIG`), then the
//! config file, then built-in defaults. Nothing here ever holds a secret's value; provider
//! entries name the environment variable that holds the key.

use anyhow::Context;
use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::engine::EngineConfig;
use crate::time::Dur;

/// The config file (`config.toml` in the config dir).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Engine limits.
    #[serde(default)]
    pub engine: EngineSection,
    /// How much of each step's log is kept.
    #[serde(default)]
    pub logs: LogsSection,
    /// Console settings (theme, bell, keys).
    #[serde(default)]
    pub tui: crate::tui::config::TuiConfig,
    /// LLM providers (none: discovered from the environment).
    #[serde(default)]
    pub providers: Vec<crate::providers::ProviderConfig>,
    /// `baton serve`'s HTTP API.
    #[serde(default)]
    pub serve: crate::serve::ServeSection,
    /// Webhooks of `baton serve --listen`, by name.
    #[serde(default)]
    pub hooks: indexmap::IndexMap<String, crate::serve::HookConfig>,
    /// Hosts that steps name with `on:` (`[hosts.NAME]`).
    #[serde(default)]
    pub hosts: indexmap::IndexMap<String, crate::remote::HostFields>,
    /// Defaults for every host (`[ssh]`).
    #[serde(default)]
    pub ssh: crate::remote::SshSection,
    /// The Temporal cluster runs may go to (`[temporal]`, see docs/temporal.md).
    #[serde(default)]
    pub temporal: crate::temporal::TemporalSection,
    /// MCP servers every workflow's agent steps may use (`[mcp_servers.NAME]`).
    #[serde(default)]
    pub mcp_servers: indexmap::IndexMap<String, crate::mcp::McpServerConfig>,
    /// Where traces of runs and steps go (`[otel]`, OTLP over HTTP).
    #[serde(default)]
    pub otel: crate::otel::OtelSection,
}

/// `[engine]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// Steps running at once across all runs.
    pub concurrency: Option<usize>,
    /// Steps of one run at once when the workflow does not say.
    pub run_concurrency: Option<usize>,
    /// Time between SIGTERM and SIGKILL when cancelling.
    pub grace: Option<Dur>,
    /// How long finished runs are kept (default 30 days); `"forever"` keeps them all.
    pub retention: Option<Retention>,
    /// Where `baton run` runs a workflow: `local` (default) or `temporal`.
    pub backend: Option<crate::temporal::BackendKind>,
}

/// `[logs]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSection {
    /// Bytes of log kept per step (default 16 MiB): the first and the last half.
    pub max_bytes_per_step: Option<ByteSize>,
    /// Longer log lines are cut (default 64 KiB).
    pub max_line_bytes: Option<ByteSize>,
}

/// A size in bytes: a number, or a string like `"16 MiB"` (`B`, `KiB`, `MiB`, `GiB`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteSize(pub usize);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let unit_size: usize = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            other => return Err(format!("unknown unit `{other}` in `{text}`")),
        };
        digits
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_mul(unit_size))
            .filter(|&n| n > 0)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is not a size"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        text.parse().map_err(|e: String| {
            serde::de::Error::custom(format!(
                "{e}; give a number of bytes or a size like \"16 MiB\" or \"64 KiB\""
            ))
        })
    }
}

/// How long finished runs are kept: they are deleted, with their logs and history, when an
/// engine starts (`baton run`, the console, `resume`, ...) and they ended longer ago than this.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retention {
    /// Never delete a run automatically (`baton gc` still does).
    Forever,
    /// Delete runs that finished longer ago than this.
    For(Dur),
}

impl Retention {
    /// The default: 30 days.
    pub const DEFAULT: Retention = Retention::For(Dur(std::time::Duration::from_secs(30 * 86_400)));

    /// The age past which a finished run is deleted, if any.
    pub fn max_age(self) -> Option<std::time::Duration> {
        match self {
            Retention::Forever => None,
            Retention::For(d) if d.get().is_zero() => None,
            Retention::For(d) => Some(d.get()),
        }
    }
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if matches!(text.as_str(), "forever" | "never" | "off") {
            return Ok(Retention::Forever);
        }
        text.parse::<Dur>().map(Retention::For).map_err(|e| {
            serde::de::Error::custom(format!(
                "{e}; `retention` takes an age like \"30d\" or \"12h\", or \"forever\""
            ))
        })
    }
}

/// Where things live.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    /// The store and logs.
    pub data: PathBuf,
    /// `config.toml`, `workflows/`, `agents/`, `themes/`.
    pub config: PathBuf,
}

impl Paths {
    /// Resolves the directories: `--data-dir`, else `BATON_HOME`, else the platform's data dir
    /// (e.g. `~/.local/share/baton`); config from `BATON_CONFIG_DIR`, else the platform's.
    pub fn resolve(data_dir: Option<&Path>) -> anyhow::Result<Paths> {
        let dirs = directories::ProjectDirs::from("dev", "baton", "baton");
        let home = std::env::var_os("BATON_HOME").map(PathBuf::from);
        let data = match (data_dir, &home, &dirs) {
            (Some(d), _, _) => d.to_path_buf(),
            (None, Some(h), _) => h.clone(),
            (None, None, Some(p)) => p.data_dir().to_path_buf(),
            (None, None, None) => anyhow::bail!(
                "cannot find a home directory for baton's data; set BATON_HOME or pass --data-dir"
            ),
        };
        let config = match (std::env::var_os("BATON_CONFIG_DIR"), &home, &dirs) {
            (Some(c), _, _) => PathBuf::from(c),
            (None, Some(h), _) => h.join("config"),
            (None, None, Some(p)) => p.config_dir().to_path_buf(),
            (None, None, None) => data.join("config"),
        };
        Ok(Paths { data, config })
    }

    /// Resolves the directories as [`Paths::resolve`] does, then makes sure they are safe to
    /// use (see [`Paths::secure`]).
    pub fn secured(data_dir: Option<&Path>) -> anyhow::Result<Paths> {
        let paths = Paths::resolve(data_dir)?;
        paths.secure()?;
        Ok(paths)
    }

    /// The data dir private to this user (created 0700 when missing), the config dir and file
    /// this user's or root's and writable by no one else; the message says how to fix what is
    /// not (see `crate::fsperm`).
    pub fn secure(&self) -> anyhow::Result<()> {
        crate::fsperm::private_data_dir(&self.data)?;
        self.check_config()
    }

    /// The config dir and file, when they exist, are this user's or root's and writable by no
    /// one else.
    pub fn check_config(&self) -> anyhow::Result<()> {
        crate::fsperm::trusted_config(&self.config, "baton's config directory")?;
        crate::fsperm::trusted_config(&self.config_file(), "the config file")
    }

    /// The store directory.
    pub fn store(&self) -> PathBuf {
        self.data.join("store")
    }

    /// LLM provider health remembered between processes (see `providers/health_file.rs`).
    pub fn provider_health(&self) -> PathBuf {
        self.data.join("providers.json")
    }

    /// baton's own log files.
    pub fn logs(&self) -> PathBuf {
        self.data.join("logs")
    }

    /// The config file.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// User agent profiles.
    pub fn agents_dir(&self) -> PathBuf {
        self.config.join("agents")
    }

    /// User workflows listed by the console.
    pub fn workflows_dir(&self) -> PathBuf {
        self.config.join("workflows")
    }
}

impl ConfigFile {
    /// Reads the config file; a missing file is the defaults.
    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the config file {}", path.display()));
            }
        };
        Self::parse(&text, path)
    }

    /// Parses config text; errors name the file, line and column.
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<ConfigFile> {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(":{line}:{col}")
                })
                .unwrap_or_default();
            anyhow::anyhow!("{}{at}: {}", path.display(), e.message())
        })
    }

    /// How long finished runs are kept.
    pub fn retention(&self) -> Retention {
        self.engine.retention.unwrap_or(Retention::DEFAULT)
    }

    /// The engine configuration this file asks for.
    pub fn engine_config(&self) -> EngineConfig {
        let d = EngineConfig::default();
        EngineConfig {
            global_concurrency: self.engine.concurrency.unwrap_or(d.global_concurrency),
            run_concurrency: self.engine.run_concurrency.unwrap_or(d.run_concurrency),
            grace: self.engine.grace.map(Dur::get).unwrap_or(d.grace),
            logs: crate::engine::run_log::LogLimits {
                max_bytes_per_step: self
                    .logs
                    .max_bytes_per_step
                    .map_or(d.logs.max_bytes_per_step, |b| b.0),
                max_line_bytes: self
                    .logs
                    .max_line_bytes
                    .map_or(d.logs.max_line_bytes, |b| b.0),
            },
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_file_line_and_column() {
        let err = ConfigFile::parse("[engine]\nconcurrency = \"lots\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:2:15"), "{err}");
        let err = ConfigFile::parse("[engin]\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("engin"), "{err}");
    }

    #[test]
    fn retention_defaults_to_thirty_days_and_takes_an_age_or_forever() {
        let none = ConfigFile::parse("", Path::new("c")).unwrap();
        assert_eq!(
            none.retention().max_age(),
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        let week = ConfigFile::parse("[engine]\nretention = \"7d\"\n", Path::new("c")).unwrap();
        assert_eq!(
            week.retention().max_age(),
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        let all = ConfigFile::parse("[engine]\nretention = \"forever\"\n", Path::new("c")).unwrap();
        assert_eq!(all.retention().max_age(), None);
        let err = ConfigFile::parse("[engine]\nretention = \"soon\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:2:13"), "{err}");
        assert!(err.contains("forever"), "{err}");
    }

    #[test]
    fn engine_settings_override_defaults() {
        let c = ConfigFile::parse(
            "[engine]\ngrace = \"2s\"\nrun_concurrency = 3\n",
            Path::new("c"),
        )
        .unwrap();
        let e = c.engine_config();
        assert_eq!(e.grace, std::time::Duration::from_secs(2));
        assert_eq!(e.run_concurrency, 3);
    }

    #[test]
    fn log_limits_take_sizes_with_units_and_say_what_is_wrong() {
        let c = ConfigFile::parse(
            "[logs]\nmax_bytes_per_step = \"2 MiB\"\nmax_line_bytes = 4096\n",
            Path::new("c"),
        )
        .unwrap();
        let e = c.engine_config();
        assert_eq!(e.logs.max_bytes_per_step, 2 << 20);
        assert_eq!(e.logs.max_line_bytes, 4096);
        let d = ConfigFile::parse("", Path::new("c"))
            .unwrap()
            .engine_config();
        assert_eq!(d.logs.max_bytes_per_step, 16 << 20);
        assert_eq!(d.logs.max_line_bytes, 64 << 10);
        let err = ConfigFile::parse("[logs]\nmax_line_bytes = \"lots\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:2:18"), "{err}");
        assert!(err.contains("64 KiB"), "{err}");
    }
}
