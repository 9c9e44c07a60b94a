//! The console's settings: the `[tui]` table of the config file (theme, bell, approval guard,
//! key overrides).

use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::time::Dur;

use super::guard::DEFAULT_APPROVAL_GUARD;

/// The `[tui]` table:
///
/// ```toml
/// [tui]
/// theme = "light"            # a built-in name or a path to a theme file
/// bell = false               # ring the terminal bell when an approval arrives (default true)
/// approval_guard = "500ms"   # keys ignored this long after an approval prompt opens
/// mouse = false              # leave the mouse to the terminal (default true)
/// max_fps = 10               # at most 10 frames a second, for slow links (default 60)
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
    /// Scroll with the wheel and select with a click (default true; off leaves the
    /// terminal's own selection alone).
    pub mouse: Option<bool>,
    /// Most frames drawn a second (default 60; lower it on a slow link).
    pub max_fps: Option<u32>,
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

    /// Whether the console takes the mouse.
    pub fn mouse(&self) -> bool {
        self.mouse.unwrap_or(true)
    }

    /// The shortest time between two frames (`max_fps`, 1 to 120 frames a second).
    pub fn frame_interval(&self) -> Duration {
        let fps = self.max_fps.unwrap_or(60).clamp(1, 120);
        Duration::from_nanos(1_000_000_000 / u64::from(fps))
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
        assert!(config.mouse());
        assert_eq!(
            config.frame_interval(),
            Duration::from_nanos(1_000_000_000 / 60)
        );
        let slow = TuiConfig::from_toml("mouse = false\nmax_fps = 10\n").unwrap_or_default();
        assert!(!slow.mouse());
        assert_eq!(slow.frame_interval(), Duration::from_millis(100));
        let silly = TuiConfig::from_toml("max_fps = 0\n").unwrap_or_default();
        assert_eq!(silly.frame_interval(), Duration::from_secs(1));
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
