//! Colour themes: TOML files (`themes/*.toml`, embedded so they work without the repo) or a
//! user's file, turned into ready styles. `NO_COLOR` selects the monochrome theme.

use std::path::Path;
use std::str::FromStr;

use anyhow::Context;
use indexmap::IndexMap;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::store::{RunState, StepStatus};

/// The built-in themes: name and file text.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

/// Colours of the interface.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Its name.
    pub name: String,
    /// No colours: emphasis by modifiers, log colours stripped.
    pub monochrome: bool,
    ui: IndexMap<String, Color>,
    state: IndexMap<String, Color>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    monochrome: Option<bool>,
    #[serde(default)]
    ui: IndexMap<String, String>,
    #[serde(default)]
    state: IndexMap<String, String>,
}

impl Default for Theme {
    fn default() -> Self {
        Theme::built_in("dark").unwrap_or_else(|_| Theme {
            name: "dark".into(),
            monochrome: false,
            ui: IndexMap::new(),
            state: IndexMap::new(),
        })
    }
}

impl Theme {
    /// The theme for `choice` (a built-in name or a file path; `None` = dark), or monochrome when
    /// `no_color` (the `NO_COLOR` variable) is set.
    pub fn load(choice: Option<&str>, no_color: bool) -> anyhow::Result<Theme> {
        if no_color {
            return Theme::built_in("monochrome");
        }
        let choice = choice.unwrap_or("dark");
        if BUILT_IN.iter().any(|(name, _)| *name == choice) {
            return Theme::built_in(choice);
        }
        let path = Path::new(choice);
        if !path.exists() {
            anyhow::bail!(
                "theme `{choice}`: not a built-in theme ({}) and no file at that path",
                Theme::names().join(", ")
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the theme file {}", path.display()))?;
        Theme::parse(&text, &path.display().to_string())
    }

    /// Names of the built-in themes.
    pub fn names() -> Vec<&'static str> {
        BUILT_IN.iter().map(|(name, _)| *name).collect()
    }

    /// A built-in theme by name.
    pub fn built_in(name: &str) -> anyhow::Result<Theme> {
        let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name).with_context(|| {
            format!(
                "no built-in theme `{name}` (choose one of {})",
                Theme::names().join(", ")
            )
        })?;
        Theme::parse(text, name)
    }

    /// Reads a theme file's text over the dark defaults; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Theme> {
        let file: ThemeFile =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("theme {origin}: {e}"))?;
        let mut theme = if origin == "dark" {
            Theme {
                name: "dark".into(),
                monochrome: false,
                ui: IndexMap::new(),
                state: IndexMap::new(),
            }
        } else {
            Theme::built_in("dark")?
        };
        if let Some(name) = file.name {
            theme.name = name;
        }
        theme.monochrome = file.monochrome.unwrap_or(false);
        for (table, entries, known) in [
            ("ui", &file.ui, UI_KEYS),
            ("state", &file.state, STATE_KEYS),
        ] {
            for (key, value) in entries {
                if !known.contains(&key.as_str()) {
                    anyhow::bail!(
                        "theme {origin}: unknown key `{key}` in [{table}]; known keys: {}",
                        known.join(", ")
                    );
                }
                let color = Color::from_str(value).map_err(|_| {
                    anyhow::anyhow!(
                        "theme {origin}: [{table}] {key} = \"{value}\" is not a colour \
                         (use a name like `lightblue`, a 0-255 index or `#rrggbb`)"
                    )
                })?;
                let map = if table == "ui" {
                    &mut theme.ui
                } else {
                    &mut theme.state
                };
                map.insert(key.clone(), color);
            }
        }
        Ok(theme)
    }

    fn ui(&self, key: &str) -> Color {
        self.ui.get(key).copied().unwrap_or(Color::Reset)
    }

    /// Plain text.
    pub fn text(&self) -> Style {
        Style::default().fg(self.ui("text"))
    }

    /// Secondary text (hints, ids, times).
    pub fn muted(&self) -> Style {
        let style = Style::default().fg(self.ui("muted"));
        if self.monochrome {
            style.add_modifier(Modifier::DIM)
        } else {
            style
        }
    }

    /// Titles and keys in hints.
    pub fn accent(&self) -> Style {
        Style::default()
            .fg(self.ui("accent"))
            .add_modifier(Modifier::BOLD)
    }

    /// A pane's border.
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            Style::default()
                .fg(self.ui("border_focused"))
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(self.ui("border"))
        }
    }

    /// The header line.
    pub fn header(&self) -> Style {
        let style = Style::default()
            .fg(self.ui("header_fg"))
            .bg(self.ui("header_bg"));
        if self.monochrome {
            style.add_modifier(Modifier::REVERSED)
        } else {
            style
        }
    }

    /// The selected row.
    pub fn selection(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .fg(self.ui("selection_fg"))
                .bg(self.ui("selection_bg"))
        }
    }

    /// A search hit.
    pub fn matched(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::UNDERLINED)
        } else {
            Style::default()
                .fg(self.ui("match_fg"))
                .bg(self.ui("match_bg"))
        }
    }

    /// The current search hit.
    pub fn current_match(&self) -> Style {
        if self.monochrome {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
                .fg(self.ui("current_match_fg"))
                .bg(self.ui("current_match_bg"))
                .add_modifier(Modifier::BOLD)
        }
    }

    /// Errors and failures in messages.
    pub fn error(&self) -> Style {
        Style::default()
            .fg(self.ui("error"))
            .add_modifier(Modifier::BOLD)
    }

    /// Warnings (pending approvals in the header).
    pub fn warning(&self) -> Style {
        Style::default()
            .fg(self.ui("warning"))
            .add_modifier(Modifier::BOLD)
    }

    /// Good news.
    pub fn ok(&self) -> Style {
        Style::default().fg(self.ui("ok"))
    }

    /// Modal borders.
    pub fn modal(&self) -> Style {
        Style::default()
            .fg(self.ui("modal_border"))
            .add_modifier(Modifier::BOLD)
    }

    /// Duration bars and gauges.
    pub fn bar(&self) -> Style {
        Style::default().fg(self.ui("bar"))
    }

    /// A step status's colour.
    pub fn step(&self, status: StepStatus) -> Style {
        let style = Style::default().fg(self
            .state
            .get(status.as_str())
            .copied()
            .unwrap_or(Color::Reset));
        match status {
            StepStatus::Failed | StepStatus::WaitingApproval | StepStatus::Running => {
                style.add_modifier(Modifier::BOLD)
            }
            _ => style,
        }
    }

    /// A run state's colour.
    pub fn run(&self, state: RunState) -> Style {
        let style = Style::default().fg(self
            .state
            .get(state.as_str())
            .copied()
            .unwrap_or(Color::Reset));
        match state {
            RunState::Failed | RunState::Running | RunState::Interrupted => {
                style.add_modifier(Modifier::BOLD)
            }
            _ => style,
        }
    }
}

const UI_KEYS: &[&str] = &[
    "text",
    "muted",
    "accent",
    "border",
    "border_focused",
    "header_fg",
    "header_bg",
    "selection_fg",
    "selection_bg",
    "match_fg",
    "match_bg",
    "current_match_fg",
    "current_match_bg",
    "error",
    "warning",
    "ok",
    "modal_border",
    "bar",
];

const STATE_KEYS: &[&str] = &[
    "pending",
    "running",
    "retrying",
    "waiting_approval",
    "paused",
    "succeeded",
    "cached",
    "skipped",
    "failed",
    "cancelled",
    "interrupted",
];

/// A step status's icon (one column wide).
pub fn step_icon(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Pending => "○",
        StepStatus::Running => "●",
        StepStatus::Retrying => "↻",
        StepStatus::WaitingApproval => "⚑",
        StepStatus::Paused => "‖",
        StepStatus::Succeeded => "✓",
        StepStatus::Cached => "≡",
        StepStatus::Skipped => "⊘",
        StepStatus::Failed => "✗",
        StepStatus::Cancelled => "■",
    }
}

/// A run state's icon (one column wide).
pub fn run_icon(state: RunState) -> &'static str {
    match state {
        RunState::Pending => "○",
        RunState::Running => "●",
        RunState::Paused => "‖",
        RunState::Succeeded => "✓",
        RunState::Failed => "✗",
        RunState::Cancelled => "■",
        RunState::Interrupted => "↯",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_loads_with_every_key() {
        for name in Theme::names() {
            let theme = match Theme::built_in(name) {
                Ok(t) => t,
                Err(e) => panic!("{name}: {e}"),
            };
            assert_eq!(theme.name, name);
            assert_eq!(theme.ui.len(), UI_KEYS.len(), "{name}");
            assert_eq!(theme.state.len(), STATE_KEYS.len(), "{name}");
        }
    }

    /// WCAG's contrast ratio of an RGB colour with white.
    fn contrast_with_white(color: Color) -> f64 {
        let Color::Rgb(r, g, b) = color else {
            panic!("{color:?} is not RGB: named colours differ from terminal to terminal");
        };
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let l = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
        1.05 / (l + 0.05)
    }

    #[test]
    fn the_light_theme_reads_on_a_white_background() {
        let theme = Theme::built_in("light").unwrap_or_default();
        assert_eq!(theme.name, "light");
        let on_white = |key: &str, color: Color, least: f64| {
            let ratio = contrast_with_white(color);
            assert!(ratio >= least, "{key}: contrast {ratio:.2} < {least}");
        };
        for (key, color) in &theme.ui {
            match key.as_str() {
                "text" => assert_eq!(*color, Color::Reset),
                "border" | "bar" | "border_focused" | "modal_border" => on_white(key, *color, 3.0),
                k if k.ends_with("_bg") || k.ends_with("_fg") => {}
                _ => on_white(key, *color, 4.5),
            }
        }
        for (key, color) in &theme.state {
            on_white(key, *color, 4.5);
        }
    }

    #[test]
    fn no_color_means_monochrome() {
        let theme = Theme::load(Some("light"), true).unwrap_or_default();
        assert!(theme.monochrome);
        assert_eq!(
            theme.selection(),
            Style::default().add_modifier(Modifier::REVERSED)
        );
    }

    #[test]
    fn a_user_file_overrides_some_colours_over_the_dark_defaults() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        let path = dir.path().join("mine.toml");
        let written = std::fs::write(&path, "name = \"mine\"\n[state]\nfailed = \"#ff0000\"\n");
        assert!(written.is_ok());
        let theme = Theme::load(path.to_str(), false);
        let theme = match theme {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(theme.name, "mine");
        assert_eq!(
            theme.step(StepStatus::Failed).fg,
            Some(Color::Rgb(255, 0, 0))
        );
        assert_eq!(theme.step(StepStatus::Running).fg, Some(Color::LightCyan));
    }

    #[test]
    fn bad_themes_say_what_and_how_to_fix() {
        let err = Theme::load(Some("solarized"), false)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a built-in theme (dark, light")));
        let err = Theme::parse("[ui]\naccent = \"blurple\"\n", "x.toml")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("accent = \"blurple\" is not a colour")));
        let err = Theme::parse("[ui]\nsparkle = \"red\"\n", "x.toml")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("unknown key `sparkle`")));
    }
}
