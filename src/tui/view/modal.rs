//! Overlays: the approval prompt, confirmations, help (from the keymap), the `:` palette and
//! the start form.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{centered, format_ms};
use crate::tui::keymap::{Action, Keymap};
use crate::tui::modal::{ApprovalFocus, ApprovalModal, Confirm, Modal, StartForm};
use crate::tui::modal_keys::PALETTE_COMMANDS;
use crate::tui::model::Model;
use crate::tui::text;
use crate::tui::theme::Theme;

/// Draws one overlay over `area`.
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    modal: &Modal,
    model: &Model,
    theme: &Theme,
    keymap: &Keymap,
) {
    match modal {
        Modal::Approval(a) => approval(frame, area, a, model, theme, keymap),
        Modal::Confirm(c) => confirm(frame, area, c, theme, keymap),
        Modal::Help { offset } => help(frame, area, *offset, model, theme, keymap),
        Modal::Palette(input) => palette(frame, area, &input.text, theme),
        Modal::StartForm(form) => start_form(frame, area, form, theme),
    }
}

fn frame_block<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::bordered()
        .title(Span::styled(title, theme.modal()))
        .border_style(theme.modal())
}

fn label<'a>(name: &str, value: String, theme: &Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:<6}"), theme.muted()),
        Span::styled(value, theme.text()),
    ])
}

fn approval(
    frame: &mut Frame,
    area: Rect,
    a: &ApprovalModal,
    model: &Model,
    theme: &Theme,
    keymap: &Keymap,
) {
    let record = model
        .approvals
        .iter()
        .position(|r| r.run == a.run && r.step == a.step);
    let total = model.approvals.len();
    let position = record
        .map(|i| format!(" — {} of {total}", i + 1))
        .unwrap_or_default();
    let record = record.and_then(|i| model.approvals.get(i));
    let workflow = model
        .runs
        .iter()
        .find(|r| r.id == a.run)
        .map(|r| format!(" ({})", r.workflow))
        .unwrap_or_default();
    let width = area.width.saturating_sub(4).min(78);
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let mut lines = vec![
        label("run", format!("{}{workflow}", a.run), theme),
        label("step", a.step.to_string(), theme),
    ];
    if let Some(deadline) = record.and_then(|r| r.deadline) {
        lines.push(label(
            "times",
            format!("out in {}", format_ms(deadline.millis_since(model.now))),
            theme,
        ));
    }
    lines.push(Line::default());
    let prompt = record.map(|r| r.prompt.as_str()).unwrap_or("");
    let mut wrapped_rows = 0usize;
    for l in prompt.lines() {
        let plain = text::strip_ansi(l).into_owned();
        wrapped_rows += plain.chars().count().max(1).div_ceil(inner_width);
        lines.push(Line::styled(
            plain,
            theme.text().add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(action) = record.and_then(|r| r.action.as_deref()) {
        lines.push(Line::default());
        // The engine words the action itself (`$ command`, `POST url` and body, …).
        for l in action.lines() {
            let plain = text::strip_ansi(l).into_owned();
            wrapped_rows += (plain.chars().count() + 2).div_ceil(inner_width);
            lines.push(Line::from(vec![
                Span::styled("  ", theme.accent()),
                Span::styled(plain, theme.warning()),
            ]));
        }
    }
    let extra_wrap = wrapped_rows.saturating_sub(
        prompt.lines().count()
            + record
                .and_then(|r| r.action.as_deref())
                .map(|x| x.lines().count())
                .unwrap_or(0),
    );
    let input_rows: u16 = a
        .inputs
        .iter()
        .map(|(_, t)| (t.lines().len() as u16).clamp(1, 4))
        .sum();
    let comment_rows = if a.focus == ApprovalFocus::Comment {
        2
    } else {
        0
    };
    let text_rows = lines.len() as u16 + extra_wrap as u16;
    let inputs_block = if a.inputs.is_empty() {
        0
    } else {
        1 + input_rows + a.inputs.len() as u16
    };
    let height = (text_rows + inputs_block + comment_rows + 2 + 2).min(area.height);
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = frame_block(format!(" ⚑ Approval needed{position} "), theme);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let text_height = text_rows.min(inner.height);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }),
        Rect {
            height: text_height,
            ..inner
        },
    );
    let mut y = inner.y + text_height;
    let bottom = inner.y + inner.height;
    if !a.inputs.is_empty() && y < bottom {
        y += 1;
        for (i, (name, editor)) in a.inputs.iter().enumerate() {
            if y >= bottom {
                break;
            }
            let focused = a.focus == ApprovalFocus::Input(i);
            let style = if focused {
                theme.accent()
            } else {
                theme.muted()
            };
            frame.render_widget(
                Paragraph::new(Line::styled(format!("{name}:"), style)),
                Rect::new(inner.x, y, inner.width, 1),
            );
            y += 1;
            let rows = (editor.lines().len() as u16)
                .clamp(1, 4)
                .min(bottom.saturating_sub(y));
            if rows == 0 {
                break;
            }
            let field = Rect::new(inner.x + 2, y, inner.width.saturating_sub(2), rows);
            if focused {
                frame.render_widget(editor, field);
            } else {
                let shown: Vec<Line> = editor
                    .lines()
                    .iter()
                    .map(|l| Line::styled(l.clone(), theme.text()))
                    .collect();
                frame.render_widget(Paragraph::new(shown), field);
            }
            y += rows;
        }
    }
    if a.focus == ApprovalFocus::Comment && y + 1 < bottom {
        y += 1;
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("why reject? ", theme.accent()),
                Span::styled(a.comment.text.clone(), theme.text()),
                Span::styled("▏", theme.accent()),
            ])),
            Rect::new(inner.x, y, inner.width, 1),
        );
    }
    let key = |action: Action| keymap.primary(action).unwrap_or_else(|| "-".into());
    let choices = match a.focus {
        _ if a.guard.holds(model.clock) => {
            let dropped = match a.ignored {
                0 => String::new(),
                1 => " (1 key dropped)".to_string(),
                n => format!(" ({n} keys dropped)"),
            };
            Line::styled(
                format!("keys ignored for a moment — the prompt just opened{dropped}"),
                theme.warning(),
            )
        }
        ApprovalFocus::Choices => {
            let mut spans = vec![
                Span::styled(
                    format!(" {} ", key(Action::Approve)),
                    theme.ok().add_modifier(Modifier::BOLD | Modifier::REVERSED),
                ),
                Span::raw(" approve   "),
                Span::styled(
                    format!(" {} ", key(Action::Reject)),
                    theme.error().add_modifier(Modifier::REVERSED),
                ),
                Span::raw(" reject   "),
                Span::styled(
                    format!(" {} ", key(Action::Later)),
                    theme.muted().add_modifier(Modifier::REVERSED),
                ),
                Span::raw(" later"),
            ];
            if !a.inputs.is_empty() {
                spans.push(Span::styled(
                    format!("   {} edit inputs", key(Action::NextPane)),
                    theme.muted(),
                ));
            }
            Line::from(spans)
        }
        ApprovalFocus::Input(_) => {
            Line::styled("editing: tab next input · esc done", theme.muted())
        }
        ApprovalFocus::Comment => {
            Line::styled("enter reject with this comment · esc back", theme.muted())
        }
    };
    if inner.height > 0 {
        frame.render_widget(
            Paragraph::new(choices),
            Rect::new(inner.x, bottom - 1, inner.width, 1),
        );
    }
}

fn confirm(frame: &mut Frame, area: Rect, c: &Confirm, theme: &Theme, keymap: &Keymap) {
    let (title, lines) = match c {
        Confirm::CancelRun { run, workflow } => (
            " Cancel run? ",
            vec![
                Line::styled(
                    format!("Cancel run {run} ({workflow})?"),
                    theme.text().add_modifier(Modifier::BOLD),
                ),
                Line::styled(
                    "Running processes get SIGTERM, then SIGKILL.",
                    theme.muted(),
                ),
                Line::default(),
                Line::from(vec![
                    Span::styled(
                        format!(" {} ", keymap.primary(Action::Yes).unwrap_or_default()),
                        theme.error().add_modifier(Modifier::REVERSED),
                    ),
                    Span::raw(" yes, cancel   "),
                    Span::styled(
                        format!(" {} ", keymap.primary(Action::No).unwrap_or_default()),
                        theme.muted().add_modifier(Modifier::REVERSED),
                    ),
                    Span::raw(" no"),
                ]),
            ],
        ),
        Confirm::Quit { active } => (
            " Quit? ",
            vec![
                Line::styled(
                    format!("{active} run(s) still active."),
                    theme.text().add_modifier(Modifier::BOLD),
                ),
                Line::default(),
                Line::from(vec![
                    Span::styled(" w ", theme.accent().add_modifier(Modifier::REVERSED)),
                    Span::raw(" wait for them to finish"),
                ]),
                Line::from(vec![
                    Span::styled(" l ", theme.accent().add_modifier(Modifier::REVERSED)),
                    Span::raw(" leave them interrupted (resume later)"),
                ]),
                Line::from(vec![
                    Span::styled(" c ", theme.error().add_modifier(Modifier::REVERSED)),
                    Span::raw(" cancel them"),
                ]),
                Line::from(vec![
                    Span::styled(" esc ", theme.muted().add_modifier(Modifier::REVERSED)),
                    Span::raw(" stay"),
                ]),
            ],
        ),
    };
    let rect = centered(area, 56, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(frame_block(title.to_string(), theme))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

fn help(
    frame: &mut Frame,
    area: Rect,
    offset: usize,
    model: &Model,
    theme: &Theme,
    keymap: &Keymap,
) {
    let mut lines: Vec<Line> = Action::all()
        .map(|a| {
            Line::from(vec![
                Span::styled(format!("{:>14}  ", keymap.label(a)), theme.accent()),
                Span::styled(format!("{:<28}", a.description()), theme.text()),
                Span::styled(a.name(), theme.muted()),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled("Commands (:)", theme.accent()));
    for (command, about) in PALETTE_COMMANDS {
        lines.push(Line::from(vec![
            Span::styled(format!("{command:>14}  "), theme.accent()),
            Span::styled(*about, theme.text()),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::styled(
        format!(
            "theme: {} · remap keys in [tui.keys] by the names on the right",
            model.theme_name
        ),
        theme.muted(),
    ));
    let rect = centered(area, 72, area.height.saturating_sub(2));
    let offset = offset.min(
        lines
            .len()
            .saturating_sub(rect.height.saturating_sub(2) as usize),
    );
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines.split_off(offset.min(lines.len())))
            .block(frame_block(" Keys — ? or esc to close ".into(), theme)),
        rect,
    );
}

fn palette(frame: &mut Frame, area: Rect, input: &str, theme: &Theme) {
    let word = input.split_whitespace().next().unwrap_or("");
    let matches: Vec<Line> = PALETTE_COMMANDS
        .iter()
        .filter(|(c, _)| c.starts_with(word))
        .map(|(c, about)| {
            Line::from(vec![
                Span::styled(format!(" {c:<12}"), theme.accent()),
                Span::styled(*about, theme.muted()),
            ])
        })
        .collect();
    let height = (matches.len() as u16 + 3).min(area.height);
    let rect = Rect::new(
        area.x + 2,
        area.y + 1,
        area.width.saturating_sub(4).min(70),
        height,
    );
    frame.render_widget(Clear, rect);
    let mut lines = vec![Line::from(vec![
        Span::styled(":", theme.accent()),
        Span::styled(input.to_string(), theme.text()),
        Span::styled("▏", theme.accent()),
    ])];
    lines.extend(matches);
    frame.render_widget(
        Paragraph::new(lines).block(frame_block(" Command ".into(), theme)),
        rect,
    );
}

fn start_form(frame: &mut Frame, area: Rect, form: &StartForm, theme: &Theme) {
    let field_rows: u16 = form
        .fields
        .iter()
        .map(|f| 1 + (f.editor.lines().len() as u16).clamp(1, 5))
        .sum();
    // The problems of the last try, one a line (a few at most), replace the key line.
    let footer_rows = form
        .error
        .as_ref()
        .map(|e| (e.lines().count() as u16).clamp(1, 4))
        .unwrap_or(1);
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
            Paragraph::new(Line::styled(
                "no params — enter or ctrl-s to start",
                theme.text(),
            )),
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
        None => vec![Line::styled(
            "ctrl-s start · tab next field · enter new line · esc cancel",
            theme.muted(),
        )],
    };
    let rows = footer_rows.min(inner.height);
    if rows > 0 {
        frame.render_widget(
            Paragraph::new(footer),
            Rect::new(inner.x, bottom - rows, inner.width, rows),
        );
    }
}
