//! `for_each:` — a step fanned out over a list: its keys (`for_each`, `max_parallel`,
//! `fail_fast`), how they are read from a step's node, and how the list is evaluated at run time.
//!
//! Each item runs the step's templates with `item` and `item_index` in their context; the
//! engine's machine (`engine/machine/items.rs`) decides which item runs when.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::template::Templates;
use super::types::StepPos;

/// The roots a fanned-out step's templates see besides the usual ones.
pub const ITEM_ROOTS: [&str; 2] = ["item", "item_index"];

/// A step's fan-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForEach {
    /// The list, written out or computed.
    pub items: ForEachItems,
    /// How many items run at once (`None`: all of them, within the run's limits).
    pub max_parallel: Option<usize>,
    /// One failed item cancels the others (default); `false` lets them finish.
    pub fail_fast: bool,
}

/// Where a fan-out's list comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForEachItems {
    /// `for_each: [a, b, c]`.
    List(Vec<Json>),
    /// `for_each: "{{ params.hosts }}"`: an expression whose value is the list, or a template
    /// whose text is a JSON list.
    Template(String),
}

impl ForEach {
    /// The items, evaluated against the step's context.
    pub fn items(&self, t: &Templates, ctx: &Json) -> Result<Vec<Json>, String> {
        let value = match &self.items {
            ForEachItems::List(items) => return Ok(items.clone()),
            ForEachItems::Template(tpl) if is_single_expression(tpl) => t
                .eval_expr(tpl, ctx)
                .map_err(|e| format!("for_each: {e}"))?,
            ForEachItems::Template(tpl) => {
                let text = t.render(tpl, ctx).map_err(|e| format!("for_each: {e}"))?;
                Json::String(text)
            }
        };
        match value {
            Json::Array(items) => Ok(items),
            // A list printed by a step (`steps.hosts.stdout`) is text holding JSON.
            Json::String(s) => match serde_json::from_str::<Json>(s.trim()) {
                Ok(Json::Array(items)) => Ok(items),
                _ => Err(format!(
                    "for_each: the value is the text {}, not a list",
                    short(&s)
                )),
            },
            other => Err(format!(
                "for_each: the value is {}, not a list",
                short(&other.to_string())
            )),
        }
    }
}

/// `{{ expr }}` and nothing else: evaluated as an expression, so that a list stays a list.
fn is_single_expression(tpl: &str) -> bool {
    let t = tpl.trim();
    t.starts_with("{{")
        && t.ends_with("}}")
        && t.len() >= 4
        && !t[2..t.len() - 2].contains("{{")
        && !t[2..t.len() - 2].contains("}}")
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("`{out}`")
}

/// Reads `for_each`, `max_parallel` and `fail_fast` from a step's table (`context` names the
/// step in messages); the two others without `for_each` are errors.
pub(super) fn convert(
    r: &mut Reader<'_>,
    t: &mut Table<'_>,
    pos: &mut StepPos,
    context: impl std::fmt::Display,
) -> Option<ForEach> {
    let items = t.take(r, "for_each", &["forEach"]);
    let max_parallel = t.take(r, "max_parallel", &["maxParallel"]);
    let fail_fast = t.take(r, "fail_fast", &["failFast"]);
    let Some((_, node)) = items else {
        for (key, _) in [max_parallel, fail_fast].into_iter().flatten() {
            r.error(
                key.pos,
                format!("{context} has `{}` but no `for_each`", key.name),
                Some("add `for_each: [...]` to fan the step out, or remove this key".into()),
            );
        }
        return None;
    };
    pos.fields.insert("for_each".into(), node.pos);
    // A broken list is reported; the stand-in keeps `item` in the step's templates from
    // being reported too (the parse fails anyway).
    let items = convert_items(r, node).unwrap_or(ForEachItems::List(Vec::new()));
    let max_parallel = max_parallel
        .and_then(|(_, n)| r.int(n, "max_parallel", 1, i64::MAX))
        .map(|v| v as usize);
    let fail_fast = fail_fast
        .and_then(|(_, n)| r.bool(n, "fail_fast"))
        .unwrap_or(true);
    Some(ForEach {
        items,
        max_parallel,
        fail_fast,
    })
}

/// A fanned-out step has no gate of its own. A gate on it would be ambiguous: asked once per
/// item (the answer to one would not cover the others), and asked again or not when `R`
/// retries the failed items. A gate step before it says exactly "once, before any item runs",
/// stays decided across retries and resumes, and passes its inputs on as any step does. A
/// recovery gate (`idempotent: false`) would ask an operator about each item that was running
/// at a crash, which baton does not do for items.
pub(super) fn check_gate(r: &mut Reader<'_>, pos: &StepPos, gated: Option<&str>, id: &str) {
    let (Some(gate), Some(at)) = (gated, pos.fields.get("for_each")) else {
        return;
    };
    let (why, hint) = if gate.contains("idempotent") {
        (
            "after a crash, each item that was running would need an operator's decision \
             before it runs again, which baton does not ask for items",
            "make the items safe to run twice and drop `idempotent: false`, or write the \
             items out as steps of their own"
                .to_string(),
        )
    } else {
        (
            "a gate on a fan-out would be asked once per item, and again or not when its \
             failed items are retried",
            format!(
                "gate it once, before any item runs, with a step of its own: \
                 `- {{ id: {id}-approval, approval: {{ prompt: \"Go?\" }} }}` and \
                 `depends_on: [{id}-approval]` on `{id}` (a retry of `{id}`'s failed items \
                 does not ask again)"
            ),
        )
    };
    r.error(
        *at,
        format!("step `{id}` has `for_each` and {gate}, which cannot go together: {why}"),
        Some(hint),
    );
}

fn convert_items(r: &mut Reader<'_>, node: &Node) -> Option<ForEachItems> {
    match &node.value {
        Value::Seq(_) => match node.value.to_json() {
            Json::Array(items) => Some(ForEachItems::List(items)),
            _ => None,
        },
        Value::Str(s) if super::template::has_template(s) => {
            Some(ForEachItems::Template(s.to_string()))
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`for_each` must be a list or a template that yields one, not {}",
                    other.type_name()
                ),
                Some("write `for_each: [web1, web2]` or `for_each: \"{{ params.hosts }}\"`".into()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn each(items: ForEachItems) -> ForEach {
        ForEach {
            items,
            max_parallel: None,
            fail_fast: true,
        }
    }

    #[test]
    fn an_expression_a_json_text_and_a_literal_all_yield_lists() {
        let t = Templates::new();
        let ctx = json!({"params": {"hosts": ["a", "b"]}, "steps": {"ls": {"stdout": "[1, 2]\n"}}});
        let expr = each(ForEachItems::Template("{{ params.hosts }}".into()));
        assert_eq!(expr.items(&t, &ctx).unwrap(), vec![json!("a"), json!("b")]);
        let text = each(ForEachItems::Template("{{ steps.ls.stdout }}".into()));
        assert_eq!(text.items(&t, &ctx).unwrap(), vec![json!(1), json!(2)]);
        let list = each(ForEachItems::List(vec![json!("x")]));
        assert_eq!(list.items(&t, &ctx).unwrap(), vec![json!("x")]);
    }

    #[test]
    fn a_value_that_is_not_a_list_is_refused_saying_what_it_was() {
        let t = Templates::new();
        let ctx = json!({"params": {"n": 3, "s": "web1"}});
        let e = each(ForEachItems::Template("{{ params.n }}".into()))
            .items(&t, &ctx)
            .unwrap_err();
        assert_eq!(e, "for_each: the value is `3`, not a list");
        let e = each(ForEachItems::Template("{{ params.s }}".into()))
            .items(&t, &ctx)
            .unwrap_err();
        assert_eq!(e, "for_each: the value is the text `web1`, not a list");
    }
}
