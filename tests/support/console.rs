//! Builds a console over the fixture store and drives it with keys, drawing into ratatui's
//! TestBackend. Time is a clock of the test's own: keys are handled at `now`, which moves only
//! when the test says (`after`).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::tui::App;
use baton::tui::keymap::Keymap;
use baton::tui::theme::Theme;
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
        let app = App::new(
            backend.clone(),
            keymap,
            theme,
            true,
            vec![workflows],
            fixture::NOW,
        );
        Console {
            app,
            backend,
            now: Instant::now(),
            _dir: dir,
        }
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
        self.app
            .handle_key(KeyEvent::new(code, KeyModifiers::NONE), self.now);
        self
    }

    pub fn ctrl(&mut self, c: char) -> &mut Console {
        self.app.handle_key(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
            self.now,
        );
        self
    }

    pub fn chars(&mut self, text: &str) -> &mut Console {
        for c in text.chars() {
            let mods = if c.is_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            self.app
                .handle_key(KeyEvent::new(KeyCode::Char(c), mods), self.now);
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
