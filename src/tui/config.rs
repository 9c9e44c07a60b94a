//! The console's settings: the `[tui]` table of the config file (theme, bell, approval guard,
//! key overrides).

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::spec::Dur;

use super::guard::DEFAULT_APPROVAL_GUARD;

/// The `[tui]` table:
///
/// ```toml
/// [tui]
/// theme = "light"            # a built-in name or a path to a theme file
/// bell = false               # ring the terminal bell when an approval arrives (default true)
/// approval_guard = "500ms"   # keys ignored this long after an approval prompt opens
/// keys = { cancel = "C", quit = ["q", "ctrl-q"] }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuiConfig {
    /// Theme name (`dark`, `light`, `high-contrast`, `monochrome`) or path to a TOML theme.
    pub theme: Option<String>,
    /// Ring the bell when an approval is requested (default true).
    pub bell: Option<bool>,
    /// How long an approval prompt ignores keys after it opens (default 500ms).
    pub approval_guard: Option<Dur>,
    /// Key overrides by action name (see the help overlay for the names).
    #[serde(default)]
    pub keys: IndexMap<String, KeyBinding>,
}

impl TuiConfig {
    /// Reads a `[tui]` table's text (the table's content, not the whole config file).
    pub fn from_toml(text: &str) -> anyhow::Result<TuiConfig> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("in the [tui] table: {e}"))
    }

    /// Whether the bell rings for approvals.
    pub fn bell(&self) -> bool {
        self.bell.unwrap_or(true)
    }

    /// How long an approval prompt ignores keys after it opens.
    pub fn approval_guard(&self) -> Duration {
        self.approval_guard.map_or(DEFAULT_APPROVAL_GUARD, Dur::get)
    }
}

/// One key or several for an action.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum KeyBinding {
    /// `quit = "q"`.
    One(String),
    /// `quit = ["q", "ctrl-q"]`.
    Many(Vec<String>),
}

impl KeyBinding {
    /// The key texts.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyBinding::One(k) => vec![k.as_str()],
            KeyBinding::Many(ks) => ks.iter().map(String::as_str).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tui_table_reads_theme_bell_and_keys() {
        let config = TuiConfig::from_toml(
            "theme = \"light\"\nbell = false\napproval_guard = \"1.5s\"\nkeys = { cancel = \"C\", quit = [\"q\", \"ctrl-q\"] }\n",
        );
        let config = match config {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.theme.as_deref(), Some("light"));
        assert!(!config.bell());
        assert_eq!(config.approval_guard(), Duration::from_millis(1500));
        assert_eq!(config.keys["cancel"].keys(), vec!["C"]);
        assert_eq!(config.keys["quit"].keys(), vec!["q", "ctrl-q"]);
    }

    #[test]
    fn empty_table_means_defaults_and_unknown_keys_are_reported() {
        let config = TuiConfig::from_toml("").unwrap_or_default();
        assert!(config.bell());
        assert!(config.theme.is_none());
        assert_eq!(config.approval_guard(), DEFAULT_APPROVAL_GUARD);
        let err = TuiConfig::from_toml("approval_guard = \"soon\"")
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("`soon` is not a duration")),
            "{err:?}"
        );
        let err = TuiConfig::from_toml("colour = \"red\"")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("colour")));
    }
}
