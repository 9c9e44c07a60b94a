//! Named actions and the keys bound to them: the defaults, overrides from the config's
//! `[tui.keys]` table, and the text of the help overlay and hint bar.
//!
//! One key may be bound to several actions (`n` is both "next match" and "new run"); the app
//! takes the first one that applies where the operator is. Approve and reject are the
//! exception: their keys may mean nothing anywhere else, so a key typed for another view can
//! never decide a gate (a remap that breaks this is refused).

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use indexmap::IndexMap;

use super::config::KeyBinding;

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Leave the console (asks first when runs are active).
    Quit,
    /// Show or hide the help overlay.
    Help,
    /// Open the `:` command palette.
    Palette,
    /// Close the overlay or go back a view.
    Back,
    /// Open the selected item (run, workflow, JSON node).
    Open,
    /// Move focus to the next pane.
    NextPane,
    /// Filter the list or search the log.
    Filter,
    /// Toggle following the newest log line.
    Follow,
    /// Toggle wrapping long log lines.
    Wrap,
    /// Toggle log timestamps.
    Timestamps,
    /// Toggle between the selected step's log and every step's.
    LogScope,
    /// Copy the selected line or output to the clipboard (OSC 52).
    Copy,
    /// Pause or resume the selected run.
    PauseResume,
    /// Cancel the selected run (asks first).
    Cancel,
    /// Open the oldest pending approval.
    Approval,
    /// Start a new run.
    NewRun,
    /// Re-run the failed steps of the selected run.
    Retry,
    /// Draft a workflow from a request in plain language.
    Plan,
    /// Show every step of the selected workflow as it would run, running nothing.
    DryRun,
    /// Ask a model for a fix of the selected failed step, shown as a diff to approve.
    Repair,
    /// Next search hit.
    NextMatch,
    /// Previous search hit.
    PrevMatch,
    /// Next tab of the run detail.
    NextTab,
    /// Previous tab of the run detail.
    PrevTab,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Scroll a page up.
    PageUp,
    /// Scroll a page down.
    PageDown,
    /// Go to the first item.
    Top,
    /// Go to the last item.
    Bottom,
    /// Fold the selected JSON node.
    Collapse,
    /// Unfold the selected JSON node.
    Expand,
    /// In the approval modal: approve.
    Approve,
    /// In the approval modal: reject (asks for a comment).
    Reject,
    /// In the approval modal: decide later.
    Later,
    /// In a confirmation: yes, do it.
    Yes,
    /// In a confirmation: no, keep things as they are.
    No,
    /// Select the next failed step (in a run) or run (in the list).
    NextFailed,
    /// Select the next running step or run.
    NextRunning,
    /// Select the next step or run waiting for someone (a gate, a pause).
    NextWaiting,
    /// Sort the runs list by the next key (start time, state, duration).
    Sort,
    /// Keep running runs at the top of the runs list, or stop.
    Pin,
    /// Show the messages the status line has shown.
    Messages,
    /// Clear the terminal and draw everything again.
    Redraw,
    /// Hand the terminal back to the shell until `fg`.
    Suspend,
}

/// Every action with its config name, default keys and help text, in help order.
const ACTIONS: &[(Action, &str, &str, &str)] = &[
    (Action::Open, "open", "enter", "open the selected item"),
    (Action::Back, "back", "esc", "back / close"),
    (Action::NextPane, "next_pane", "tab", "next pane"),
    (Action::Filter, "filter", "/", "filter or search"),
    (
        Action::PauseResume,
        "pause_resume",
        "space",
        "pause / resume run",
    ),
    (Action::Cancel, "cancel", "c", "cancel run"),
    (Action::Approval, "approval", "a", "open pending approval"),
    (Action::NextMatch, "next_match", "n", "next search hit"),
    (Action::PrevMatch, "prev_match", "N", "previous search hit"),
    (Action::NewRun, "new_run", "n", "new run"),
    (Action::Retry, "retry", "R", "retry failed steps"),
    (Action::Plan, "plan", "p", "draft a plan from a request"),
    (Action::DryRun, "dry_run", "d", "dry run a workflow"),
    (Action::Repair, "repair", "F", "propose a fix (failed step)"),
    (
        Action::NextFailed,
        "next_failed",
        "e",
        "next failed step / run",
    ),
    (
        Action::NextRunning,
        "next_running",
        "r",
        "next running step / run",
    ),
    (
        Action::NextWaiting,
        "next_waiting",
        "W",
        "next waiting step / run",
    ),
    (Action::Sort, "sort", "o", "sort the runs list"),
    (Action::Pin, "pin", "P", "pin running runs on top"),
    (Action::Follow, "follow", "f", "follow log"),
    (Action::Wrap, "wrap", "w", "wrap lines"),
    (Action::Timestamps, "timestamps", "t", "timestamps"),
    (
        Action::LogScope,
        "log_scope",
        "s",
        "selected step / all logs",
    ),
    (Action::Copy, "copy", "y", "copy (OSC 52)"),
    (Action::Collapse, "collapse", "left,h", "fold JSON node"),
    (Action::Expand, "expand", "right,l", "unfold JSON node"),
    (Action::NextTab, "next_tab", "],right", "next tab"),
    (Action::PrevTab, "prev_tab", "[,left", "previous tab"),
    (Action::Up, "up", "up,k", "up"),
    (Action::Down, "down", "down,j", "down"),
    (Action::PageUp, "page_up", "pageup,ctrl-b", "page up"),
    (
        Action::PageDown,
        "page_down",
        "pagedown,ctrl-f",
        "page down",
    ),
    (Action::Top, "top", "home,g", "first"),
    (Action::Bottom, "bottom", "end,G", "last"),
    (Action::Approve, "approve", "A", "approve (in approval)"),
    (Action::Reject, "reject", "X", "reject (in approval)"),
    (Action::Later, "later", "esc", "decide later (in approval)"),
    (Action::Yes, "yes", "y", "yes (in a confirmation)"),
    (Action::No, "no", "n", "no (in a confirmation)"),
    (Action::Palette, "palette", ":", "command palette"),
    (Action::Messages, "messages", "m", "message history"),
    (Action::Redraw, "redraw", "ctrl-l", "redraw the screen"),
    (
        Action::Suspend,
        "suspend",
        "ctrl-z",
        "suspend (fg to return)",
    ),
    (Action::Help, "help", "?", "help"),
    (Action::Quit, "quit", "q,ctrl-c", "quit"),
];

impl Action {
    /// The name used in the config file (`[tui.keys] cancel = "C"`).
    pub fn name(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(a, ..)| *a == self)
            .map(|(_, name, ..)| *name)
            .unwrap_or("?")
    }

    /// What it does, for the help overlay.
    pub fn description(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(a, ..)| *a == self)
            .map(|(.., text)| *text)
            .unwrap_or("")
    }

    /// The action with this config name.
    pub fn from_name(name: &str) -> Option<Action> {
        ACTIONS
            .iter()
            .find(|(_, n, ..)| *n == name)
            .map(|(a, ..)| *a)
    }

    /// Every action, in help order.
    pub fn all() -> impl Iterator<Item = Action> {
        ACTIONS.iter().map(|(a, ..)| *a)
    }
}

/// A key with its modifiers, normalised so `R` and `shift-r` are the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Control and Alt (Shift is folded into the character).
    pub mods: KeyModifiers,
}

impl Key {
    /// The key a terminal event stands for.
    pub fn from_event(event: &KeyEvent) -> Key {
        let mut mods = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match event.code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::ALT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    /// Parses `q`, `R`, `space`, `enter`, `ctrl-c`, `alt-x`, `shift-tab`, `f5`, `pageup`, ...
    pub fn parse(text: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.chars().count() > 1
                && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+"))
            {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if rest.chars().count() > 1
                && (lower.starts_with("alt-") || lower.starts_with("alt+"))
            {
                mods |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else if rest.chars().count() > 1
                && (lower.starts_with("shift-") || lower.starts_with("shift+"))
            {
                mods |= KeyModifiers::SHIFT;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "space" => KeyCode::Char(' '),
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                f if f.starts_with('f') && f.len() > 1 => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=24) => KeyCode::F(n),
                    _ => return Err(format!("unknown key `{text}`")),
                },
                _ => return Err(format!("unknown key `{text}`")),
            },
        };
        let code = match code {
            KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            KeyCode::Char(c) if mods.contains(KeyModifiers::SHIFT) => {
                KeyCode::Char(c.to_ascii_uppercase())
            }
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => other,
        };
        mods.remove(KeyModifiers::SHIFT);
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(n) => write!(f, "f{n}"),
            _ => f.write_str("?"),
        }
    }
}

/// A problem in the `[tui.keys]` table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeymapError {
    /// The action name is not one of ours.
    #[error("[tui.keys]: unknown action `{name}`; known actions: {known}")]
    UnknownAction {
        /// The name given.
        name: String,
        /// Every valid name.
        known: String,
    },
    /// The key text could not be read.
    #[error(
        "[tui.keys] {action} = \"{key}\": {reason} (write keys like `q`, `R`, `space`, `ctrl-c`, `pagedown`)"
    )]
    BadKey {
        /// The action.
        action: String,
        /// The key text.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// An approve or reject key that means something else somewhere.
    #[error(
        "[tui.keys]: `{key}` is bound to {action} and also to {other}; approve and reject need keys no other view uses, so a key typed for something else can never decide a gate. Bind {action} to a key of its own (the default is `{default}`){hint}"
    )]
    DecisionKeyShared {
        /// `approve` or `reject`.
        action: String,
        /// The shared key, as shown.
        key: String,
        /// What else the key does.
        other: String,
        /// The action's default key.
        default: String,
        /// How to free the key, when another action took it.
        hint: String,
    },
}

/// The keys of every action.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    bindings: IndexMap<Action, Vec<Key>>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut bindings = IndexMap::new();
        for (action, _, keys, _) in ACTIONS {
            let parsed = keys.split(',').filter_map(|k| Key::parse(k).ok()).collect();
            bindings.insert(*action, parsed);
        }
        Keymap { bindings }
    }
}

impl Keymap {
    /// The defaults with the config's overrides applied (an override replaces every default key
    /// of that action).
    pub fn with_overrides(overrides: &IndexMap<String, KeyBinding>) -> Result<Keymap, KeymapError> {
        let mut keymap = Keymap::default();
        for (name, binding) in overrides {
            let action = Action::from_name(name).ok_or_else(|| KeymapError::UnknownAction {
                name: name.clone(),
                known: Action::all()
                    .map(Action::name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            let mut keys = Vec::new();
            for text in binding.keys() {
                let key = Key::parse(text).map_err(|reason| KeymapError::BadKey {
                    action: name.clone(),
                    key: text.to_string(),
                    reason,
                })?;
                keys.push(key);
            }
            keymap.bindings.insert(action, keys);
        }
        keymap.check_decision_keys(overrides)?;
        Ok(keymap)
    }

    /// Refuses approve or reject keys that any other action, or an overlay's fixed key, uses.
    fn check_decision_keys(
        &self,
        overrides: &IndexMap<String, KeyBinding>,
    ) -> Result<(), KeymapError> {
        let defaults = Keymap::default();
        for decision in [Action::Approve, Action::Reject] {
            for key in self.bindings.get(&decision).into_iter().flatten() {
                let other_action = self
                    .bindings
                    .iter()
                    .find(|(a, keys)| **a != decision && keys.contains(key))
                    .map(|(a, _)| *a);
                // Keys the overlays handle themselves (text fields, the start form, the
                // prompt's own navigation), read from their tables.
                let fixed = super::overlay::catalogue()
                    .into_iter()
                    .flat_map(|(title, bindings)| bindings.into_iter().map(move |b| (title, b)))
                    .find_map(|(title, b)| match b.key {
                        super::overlay::BindKey::Fixed(text)
                            if Key::parse(text).is_ok_and(|k| k == *key) =>
                        {
                            Some(format!("{text} ({} in {title})", b.label))
                        }
                        _ => None,
                    });
                let other = match (other_action, fixed) {
                    (Some(a), _) => format!("{} ({})", a.name(), a.description()),
                    (None, Some(what)) => what,
                    (None, None) => continue,
                };
                let hint = match other_action {
                    Some(a) if overrides.contains_key(a.name()) => {
                        format!(", or bind {} to another key", a.name())
                    }
                    _ => String::new(),
                };
                return Err(KeymapError::DecisionKeyShared {
                    action: decision.name().to_string(),
                    key: key.to_string(),
                    other,
                    default: defaults.label(decision),
                    hint,
                });
            }
        }
        Ok(())
    }

    /// Actions bound to `key`, in help order.
    pub fn actions(&self, key: Key) -> impl Iterator<Item = Action> + '_ {
        self.bindings
            .iter()
            .filter(move |(_, keys)| keys.contains(&key))
            .map(|(action, _)| *action)
    }

    /// The keys bound to `action`.
    pub fn keys(&self, action: Action) -> &[Key] {
        self.bindings.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `key` is bound to `action`.
    pub fn is(&self, key: Key, action: Action) -> bool {
        self.bindings
            .get(&action)
            .is_some_and(|keys| keys.contains(&key))
    }

    /// The keys of `action`, as shown (`q/ctrl-c`), or `-` when unbound.
    pub fn label(&self, action: Action) -> String {
        match self.bindings.get(&action) {
            Some(keys) if !keys.is_empty() => keys
                .iter()
                .map(Key::to_string)
                .collect::<Vec<_>>()
                .join("/"),
            _ => "-".to_string(),
        }
    }

    /// Every action as a Markdown table (keys, what it does, its `[tui.keys]` name), in help
    /// order: the key list of the README is this table.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from("| keys | action | `[tui.keys]` name |\n|---|---|---|\n");
        for action in Action::all() {
            let keys = match self.bindings.get(&action) {
                Some(keys) if !keys.is_empty() => keys
                    .iter()
                    .map(|k| format!("`{}`", k.to_string().replace('|', "\\|")))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => "(unbound)".to_string(),
            };
            out.push_str(&format!(
                "| {keys} | {} | `{}` |\n",
                action.description(),
                action.name()
            ));
        }
        out
    }

    /// The first key of `action`, as shown in the hint bar.
    pub fn primary(&self, action: Action) -> Option<String> {
        self.bindings
            .get(&action)
            .and_then(|keys| keys.first())
            .map(Key::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Key {
        match Key::parse(text) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn key_names_parse_to_the_events_terminals_send() {
        let shift_r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&shift_r), key("R"));
        assert_eq!(key("shift-r"), key("R"));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(Key::from_event(&ctrl_c), key("ctrl-c"));
        assert_eq!(key("ctrl-C"), key("ctrl-c"));
        assert_eq!(key("space").code, KeyCode::Char(' '));
        assert_eq!(key("shift-tab").code, KeyCode::BackTab);
        assert_eq!(key("F5").code, KeyCode::F(5));
        assert_eq!(key("-").code, KeyCode::Char('-'));
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("f99").is_err());
        assert!(Key::parse("").is_err());
    }

    #[test]
    fn keys_display_as_they_are_written() {
        assert_eq!(key("ctrl-c").to_string(), "ctrl-c");
        assert_eq!(key("space").to_string(), "space");
        assert_eq!(key("R").to_string(), "R");
    }

    #[test]
    fn defaults_bind_n_to_next_match_before_new_run() {
        let keymap = Keymap::default();
        let actions: Vec<_> = keymap.actions(key("n")).collect();
        assert_eq!(actions[0], Action::NextMatch);
        assert!(actions.contains(&Action::NewRun));
        assert!(keymap.is(key("q"), Action::Quit));
        assert!(keymap.is(key("ctrl-c"), Action::Quit));
        assert_eq!(keymap.label(Action::Quit), "q/ctrl-c");
    }

    #[test]
    fn overrides_replace_the_default_keys_of_an_action() {
        let mut overrides = IndexMap::new();
        overrides.insert("cancel".to_string(), KeyBinding::One("C".into()));
        overrides.insert(
            "quit".to_string(),
            KeyBinding::Many(vec!["x".into(), "ctrl-q".into()]),
        );
        let keymap = match Keymap::with_overrides(&overrides) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        };
        assert!(keymap.is(key("C"), Action::Cancel));
        assert!(!keymap.is(key("c"), Action::Cancel));
        assert!(keymap.is(key("ctrl-q"), Action::Quit));
        assert!(!keymap.is(key("q"), Action::Quit));
    }

    #[test]
    fn approve_and_reject_keys_mean_nothing_anywhere_else() {
        let keymap = Keymap::default();
        for decision in [Action::Approve, Action::Reject] {
            for k in keymap.bindings[&decision].iter() {
                let others: Vec<_> = keymap.actions(*k).filter(|a| *a != decision).collect();
                assert!(others.is_empty(), "{k} also means {others:?}");
            }
        }
        assert!(!keymap.is(key("y"), Action::Approve));
        assert!(keymap.is(key("y"), Action::Copy));
    }

    #[test]
    fn a_remap_that_shares_an_approve_or_reject_key_is_refused_with_the_fix() {
        let err = |pairs: &[(&str, &str)]| {
            let overrides: IndexMap<String, KeyBinding> = pairs
                .iter()
                .map(|(a, k)| (a.to_string(), KeyBinding::One(k.to_string())))
                .collect();
            Keymap::with_overrides(&overrides)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = err(&[("approve", "y")]);
        assert!(
            e.contains("`y` is bound to approve and also to copy")
                && e.contains("the default is `A`"),
            "{e}"
        );
        let e = err(&[("copy", "A")]);
        assert!(
            e.contains("`A` is bound to approve and also to copy")
                && e.contains("or bind copy to another key"),
            "{e}"
        );
        let e = err(&[("reject", "A")]);
        assert!(e.contains("bound to approve and also to reject"), "{e}");
        let e = err(&[("reject", "enter")]);
        assert!(e.contains("also to open"), "{e}");
        let e = err(&[("approve", "ctrl-s")]);
        assert!(e.contains("ctrl-s (start in the start form)"), "{e}");
        assert_eq!(err(&[("approve", "ctrl-y"), ("reject", "ctrl-x")]), "");
    }

    #[test]
    fn bad_overrides_name_the_action_and_the_fix() {
        let mut overrides = IndexMap::new();
        overrides.insert("explode".to_string(), KeyBinding::One("x".into()));
        let err = Keymap::with_overrides(&overrides)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(
                |e| e.contains("unknown action `explode`") && e.contains("pause_resume")
            )
        );
        let mut overrides = IndexMap::new();
        overrides.insert("quit".to_string(), KeyBinding::One("meta-q".into()));
        let err = Keymap::with_overrides(&overrides)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("quit = \"meta-q\""))
        );
    }
}
