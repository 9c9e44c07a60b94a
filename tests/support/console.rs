//! Builds a console over the fixture store and drives it with keys, drawing into ratatui's
//! TestBackend. Time is a clock of the test's own: keys are handled at `now`, which moves only
//! when the test says (`after`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::store::Event;
use baton::tui::effect::Effect;
use baton::tui::keymap::Keymap;
use baton::tui::theme::Theme;
use baton::tui::{App, Msg};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::fixture;
use super::memory_backend::MemoryBackend;

pub struct Console {
    pub app: App,
    pub backend: Arc<MemoryBackend>,
    /// The instant keys are handled at.
    pub now: Instant,
    /// Every effect the update returned, in order.
    pub effects: Vec<Effect>,
    /// Whether effects are performed (against `backend`, results fed back) as they come.
    pub perform: bool,
    _dir: tempfile::TempDir,
}

/// Workflow files as on a fresh checkout.
fn workflow_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).expect("a workflows dir");
    std::fs::write(workflows.join("release.yaml"), fixture::RELEASE_SOURCE.replace(
        "description: Test, review and deploy with a human gate\n",
        "description: Test, review and deploy with a human gate\nparams:\n  env: { default: staging, enum: [staging, prod], description: where to deploy }\n  notes: { description: release notes }\n",
    ))
    .expect("a workflow file");
    std::fs::write(
        workflows.join("hello.yml"),
        "name: hello\ndescription: Say hello\nsteps:\n  - id: hi\n    run: echo hi\n",
    )
    .expect("a workflow file");
    std::fs::write(workflows.join("broken.yaml"), "name: [oops\n").expect("a workflow file");
    (dir, workflows)
}

impl Console {
    pub fn new() -> Console {
        Console::with_keymap(Keymap::default())
    }

    pub fn with_keymap(keymap: Keymap) -> Console {
        let backend = fixture::backend();
        let (dir, workflows) = workflow_dir();
        let theme = Theme::built_in("dark").expect("the dark theme");
        let (mut app, effects) = App::new(keymap, theme, true, vec![workflows], None, fixture::NOW);
        // Start times as in UTC, whatever the machine's zone.
        app.model.utc_offset_s = 0;
        let mut console = Console {
            app,
            backend,
            now: Instant::now(),
            effects: Vec::new(),
            perform: true,
            _dir: dir,
        };
        console.performed(effects);
        console
    }

    /// Folds `msg` in; returns the effects it asked for (performed when `perform` is on).
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let effects = self.app.update(msg);
        self.performed(effects.clone());
        effects
    }

    /// Folds an engine Event in; returns the effects it asked for.
    pub fn event(&mut self, event: &Event) -> Vec<Effect> {
        self.update(Msg::Event(Box::new(event.clone())))
    }

    /// Records `effects` and, when performing, runs them and feeds their results back until
    /// nothing more is asked.
    fn performed(&mut self, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            self.effects.push(effect.clone());
            if !self.perform {
                continue;
            }
            let mut results = Vec::new();
            baton::tui::worker::perform(self.backend.as_ref(), effect, &mut |d| results.push(d));
            for done in results {
                queue.extend(self.app.update(Msg::Done(Box::new(done))));
            }
        }
    }

    /// The escape sequences asked for: bells and OSC 52 copies.
    pub fn terminal_output(&self) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Bell => Some("\x07".to_string()),
                Effect::Copy(text) => Some(baton::tui::clipboard::osc52(text)),
                _ => None,
            })
            .collect()
    }

    /// Moves the console's clock on by `elapsed`.
    pub fn after(&mut self, elapsed: Duration) -> &mut Console {
        self.now += elapsed;
        self
    }

    /// Opens the oldest pending approval with `a` and lets its key guard pass.
    pub fn open_approval(&mut self) -> &mut Console {
        self.chars("a")
            .after(baton::tui::guard::DEFAULT_APPROVAL_GUARD)
    }

    pub fn key(&mut self, code: KeyCode) -> &mut Console {
        self.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE), self.now));
        self
    }

    pub fn ctrl(&mut self, c: char) -> &mut Console {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        self.update(Msg::Key(key, self.now));
        self
    }

    /// `alt-enter`: a new line in a text field.
    pub fn alt_enter(&mut self) -> &mut Console {
        let key = KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT);
        self.update(Msg::Key(key, self.now));
        self
    }

    pub fn chars(&mut self, text: &str) -> &mut Console {
        for c in text.chars() {
            let mods = if c.is_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            self.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), mods), self.now));
        }
        self
    }

    pub fn screen(&mut self, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
        self.app.model.clock = self.now;
        terminal.draw(|f| self.app.draw(f)).expect("a frame");
        terminal.backend().to_string()
    }
}
