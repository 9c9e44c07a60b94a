//! The start-a-run form: a field a declared param, defaults filled in; `enter` moves to the
//! next field and starts after the last, `alt-enter` adds a line to a value, `ctrl-s` starts at
//! once. The file is read and the params checked again when it starts, so problems show here.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use tui_textarea::TextArea;

use super::{
    BindKey, Binding, Cmd, Modal, Tone, dispatch, editor_at_end, footer_lines, frame_block,
};
use crate::spec::ParamSpec;
use crate::tui::app::App;
use crate::tui::effect::Effect;
use crate::tui::keymap::{Key, Keymap};
use crate::tui::theme::Theme;
use crate::tui::view::centered;
use crate::tui::workflows::WorkflowEntry;

pub(super) const BINDINGS: &[Binding] = &[
    Binding::new(BindKey::Fixed("ctrl-s"), "start", Cmd::Start, Tone::Ok),
    Binding::new(
        BindKey::Fixed("enter"),
        "next / start",
        Cmd::Enter,
        Tone::Main,
    ),
    Binding::new(BindKey::Fixed("esc"), "cancel", Cmd::Close, Tone::Quiet),
    Binding::new(
        BindKey::Fixed("tab"),
        "next field",
        Cmd::NextField,
        Tone::Main,
    ),
    Binding::new(
        BindKey::Fixed("shift-tab"),
        "previous",
        Cmd::PrevField,
        Tone::Main,
    ),
    Binding::new(BindKey::Fixed("ctrl-u"), "clear", Cmd::Clear, Tone::Quiet),
    Binding::new(
        BindKey::Text,
        "type the value (alt-enter: a new line)",
        Cmd::Type,
        Tone::Main,
    ),
];

/// The start-a-run form.
#[derive(Debug)]
pub struct StartForm {
    /// The workflow.
    pub workflow: WorkflowEntry,
    /// One field per declared param.
    pub fields: Vec<FormField>,
    /// Focused field.
    pub focus: usize,
    /// Why the last start failed (one problem a line).
    pub error: Option<String>,
    /// The start in flight, if any.
    pub starting: Option<crate::tui::effect::Ticket>,
}

/// A param's field.
#[derive(Debug)]
pub struct FormField {
    /// The param's name.
    pub name: String,
    /// Its declaration.
    pub param: ParamSpec,
    /// The value being typed (multi-line allowed).
    pub editor: TextArea<'static>,
}

impl StartForm {
    /// The keys the form answers (`enter` starts a form with no fields).
    pub fn bindings(&self) -> Vec<Binding> {
        BINDINGS.to_vec()
    }

    /// A form for `workflow`, fields holding the defaults.
    pub fn new(workflow: WorkflowEntry) -> StartForm {
        let fields = workflow
            .params
            .iter()
            .map(|(name, param)| {
                let initial = match &param.default {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                FormField {
                    name: name.clone(),
                    param: param.clone(),
                    editor: editor_at_end(initial.lines().map(str::to_string).collect()),
                }
            })
            .collect();
        StartForm {
            workflow,
            fields,
            focus: 0,
            error: None,
            starting: None,
        }
    }

    /// The value typed in each field (empty fields are left out, so defaults apply).
    pub fn values(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| (f.name.clone(), f.editor.lines().join("\n")))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// Draws the form over `area`: the workflow, a field a param, the keys or the problems of
    /// the last try.
    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: &Theme, keymap: &Keymap) {
        let form = self;
        let field_rows: u16 = form
            .fields
            .iter()
            .map(|f| 1 + (f.editor.lines().len() as u16).clamp(1, 5))
            .sum();
        // The problems of the last try, one a line (a few at most), replace the keys.
        let keys = footer_lines(&form.bindings(), keymap, theme, 70);
        let footer_rows = form
            .error
            .as_ref()
            .map(|e| (e.lines().count() as u16).clamp(1, 4))
            .unwrap_or(keys.len() as u16);
        let height = (field_rows + 5 + footer_rows).min(area.height);
        let rect = centered(area, 72, height);
        frame.render_widget(Clear, rect);
        let block = frame_block(format!(" Start {} ", form.workflow.name), theme);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let bottom = inner.y + inner.height;
        let mut y = inner.y;
        let about = form
            .workflow
            .description
            .clone()
            .unwrap_or_else(|| form.workflow.path.display().to_string());
        frame.render_widget(
            Paragraph::new(Line::styled(about, theme.muted())),
            Rect::new(inner.x, y, inner.width, 1),
        );
        y += 2;
        if form.fields.is_empty() && y < bottom {
            frame.render_widget(
                Paragraph::new(Line::styled("no params — enter to start", theme.text())),
                Rect::new(inner.x, y, inner.width, 1),
            );
        }
        for (i, field) in form.fields.iter().enumerate() {
            if y >= bottom.saturating_sub(footer_rows) {
                break;
            }
            let focused = i == form.focus;
            let mut spans = vec![Span::styled(
                format!(
                    "{}{}",
                    field.name,
                    if field.param.required { " *" } else { "" }
                ),
                if focused {
                    theme.accent()
                } else {
                    theme.text()
                },
            )];
            if let Some(about) = &field.param.description {
                spans.push(Span::styled(format!("  {about}"), theme.muted()));
            }
            if let Some(choices) = &field.param.r#enum {
                let list: Vec<String> = choices
                    .iter()
                    .map(|c| {
                        c.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| c.to_string())
                    })
                    .collect();
                spans.push(Span::styled(
                    format!("  [{}]", list.join("|")),
                    theme.muted(),
                ));
            }
            frame.render_widget(
                Paragraph::new(Line::from(spans)),
                Rect::new(inner.x, y, inner.width, 1),
            );
            y += 1;
            let rows = (field.editor.lines().len() as u16)
                .clamp(1, 5)
                .min(bottom.saturating_sub(y + footer_rows));
            if rows == 0 {
                break;
            }
            let rect = Rect::new(inner.x + 2, y, inner.width.saturating_sub(2), rows);
            if focused {
                frame.render_widget(&field.editor, rect);
            } else {
                let shown: Vec<Line> = field
                    .editor
                    .lines()
                    .iter()
                    .map(|l| Line::styled(l.clone(), Style::default()))
                    .collect();
                frame.render_widget(Paragraph::new(shown).style(theme.text()), rect);
            }
            y += rows;
        }
        let footer: Vec<Line> = match &form.error {
            _ if form.starting.is_some() => vec![Line::styled(
                "starting… (checking the file and the params)",
                theme.accent(),
            )],
            Some(e) => e
                .lines()
                .take(footer_rows as usize)
                .map(|l| Line::styled(l.to_string(), theme.error()))
                .collect(),
            None => keys,
        };
        let rows = footer_rows.min(inner.height);
        if rows > 0 {
            frame.render_widget(
                Paragraph::new(footer),
                Rect::new(inner.x, bottom - rows, inner.width, rows),
            );
        }
    }
}

impl App {
    pub(super) fn form_key(
        &mut self,
        key: Key,
        event: KeyEvent,
        mut form: StartForm,
    ) -> Option<Modal> {
        let fields = form.fields.len();
        match dispatch(&form.bindings(), &self.keymap, key) {
            Some(Cmd::Close) => return None,
            Some(Cmd::Start) => return self.submit(form),
            Some(Cmd::Enter) if form.focus + 1 >= fields => return self.submit(form),
            Some(Cmd::Enter | Cmd::NextField) if fields > 0 => {
                form.focus = (form.focus + 1) % fields;
            }
            Some(Cmd::PrevField) if fields > 0 => {
                form.focus = (form.focus + fields - 1) % fields;
            }
            Some(Cmd::Clear) => {
                if let Some(field) = form.fields.get_mut(form.focus) {
                    field.editor = editor_at_end(vec![String::new()]);
                }
            }
            Some(Cmd::Type) => {
                if let Some(field) = form.fields.get_mut(form.focus) {
                    // `alt-enter` is the one way to a second line: `enter` moves on.
                    let event = match event.code {
                        KeyCode::Enter => KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE),
                        _ => event,
                    };
                    field.editor.input(event);
                }
            }
            _ => {}
        }
        Some(Modal::StartForm(form))
    }

    /// Starts the form's workflow on the worker (which reads and checks the file again); the
    /// form stays, saying `starting…`, until the run is started (then it opens) or refused
    /// (then the form shows why, one problem a line).
    fn submit(&mut self, mut form: StartForm) -> Option<Modal> {
        if form.starting.is_some() {
            return Some(Modal::StartForm(form));
        }
        let ticket = self.ticket(format!("starting {}", form.workflow.name));
        form.starting = Some(ticket);
        form.error = None;
        self.effect(Effect::Start {
            ticket,
            path: form.workflow.path.clone(),
            params: form.values(),
        });
        Some(Modal::StartForm(form))
    }
}
