//! `on_success:`, `on_failure:` and `on_exit:`: lists of steps that run after the workflow's
//! other steps have ended. Each becomes an ordinary [`Step`] placed after them, its id prefixed
//! with its handler's key (`on_failure.page`), marked with [`Step::handler`] and never failing
//! the run (the run's outcome is its steps'; see docs/workflow-language.md).

use super::convert_step::convert_step;
use super::node::Value;
use super::reader::{Reader, Table};
use super::types::{Handler, RetryPolicy, Step, StepId};

/// The handlers in the order they run: `on_success`/`on_failure` (only one applies), then
/// `on_exit`; within a handler, in the order written.
const ORDER: [(Handler, &[&str]); 3] = [
    (Handler::OnSuccess, &["onSuccess"]),
    (Handler::OnFailure, &["onFailure"]),
    (Handler::OnExit, &["onExit"]),
];

/// The handlers' steps, and whether `on_failure:` asks for repair proposals.
#[derive(Default)]
pub(super) struct Handlers {
    /// Their steps, in the order they run.
    pub steps: Vec<Step>,
    /// `on_failure: { repair: true }`.
    pub repair: bool,
}

/// Takes the handler keys of the workflow's mapping and converts their steps. `on_failure:`
/// may also be a mapping, `{ repair: true, steps: [...] }`.
pub(super) fn convert_handlers(
    r: &mut Reader<'_>,
    t: &mut Table<'_>,
    base_retry: &RetryPolicy,
) -> Handlers {
    let mut out = Vec::new();
    let mut repair = false;
    for (handler, alias) in ORDER {
        let key = handler.key();
        let Some(mut node) = t.get(r, key, alias) else {
            continue;
        };
        if let (Handler::OnFailure, Value::Map(fields)) = (handler, &node.value) {
            let mut ft = Table::new(fields);
            if let Some(flag) = ft.get(r, "repair", &[]) {
                repair = r.bool(flag, "on_failure.repair").unwrap_or(false);
            }
            let steps = ft.get(r, "steps", &[]);
            ft.finish(r, "`on_failure`");
            match steps {
                Some(steps) => node = steps,
                None => continue,
            }
        }
        let items = match &node.value {
            Value::Seq(items) => items,
            Value::Null => continue,
            other => {
                r.error(
                    node.pos,
                    format!("`{key}` must be a list of steps, not {}", other.type_name()),
                    Some(format!(
                        "write it like `{key}: [{{ id: report, run: echo done }}]`"
                    )),
                );
                continue;
            }
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(step) = convert_step(r, item, i, base_retry) {
                out.push(as_handler(r, step, handler));
            }
        }
    }
    Handlers { steps: out, repair }
}

fn as_handler(r: &mut Reader<'_>, mut step: Step, handler: Handler) -> Step {
    let key = handler.key();
    if !step.depends_on.is_empty() {
        let at = step.pos.depends_on.first().copied().unwrap_or(step.pos.id);
        r.error(
            at,
            format!("step `{}` of `{key}` has `depends_on`", step.id),
            Some(
                "a handler's steps run one after another in the order written, after every \
                 other step; remove `depends_on`"
                    .into(),
            ),
        );
        step.depends_on.clear();
        step.pos.depends_on.clear();
    }
    step.id = StepId(format!("{key}.{}", step.id));
    step.handler = Some(handler);
    // A handler reports; it does not change how the run went.
    step.continue_on_error = true;
    step
}

/// Whether `id` names a handler's step (other steps' ids cannot contain a `.`).
pub fn is_handler_id(id: &str) -> bool {
    ORDER.iter().any(|(h, _)| {
        id.strip_prefix(h.key())
            .is_some_and(|rest| rest.starts_with('.'))
    })
}
