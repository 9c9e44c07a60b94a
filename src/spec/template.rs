//! Templates and `when:` expressions (minijinja, strict undefined).
//!
//! One [`Templates`] is built once and reused. Values interpolated into a `run:` command are
//! quoted for the place they land in (`shell_lex.rs` finds it, `shell_quote.rs` writes them)
//! unless the expression ends in `| raw`. Every render runs on a fuel budget ([`FUEL`]) with its
//! output capped ([`MAX_OUTPUT`]). Strings without `{{` or `{%` are returned as they are, without
//! compiling anything.
//!
//! The context the engine passes is JSON:
//! `{params: {...}, env: {...}, run: {id, started_at}, steps: {<id>: {output, status, exit_code,
//! stdout, stderr, duration_ms, attempts, outputs}}}` (see `docs/workflow-language.md`).

pub use super::refs::Reference;
use super::refs::{
    collect_references, dedupe, dedupe_in_place, simple_expression_references,
    simple_references_into, subscript_regions,
};
use super::shell_lex::marker;
use super::shell_quote::{fill, shell_quote};
use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, Value as MjValue};
use minijinja::{Environment, Error as MjError, ErrorKind, UndefinedBehavior};
use serde_json::Value as Json;

/// Why a template or expression did not compile or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong, naming the undefined variable when that was the cause.
    pub message: String,
    /// The 1-based line inside the template, when known.
    pub line: Option<usize>,
}

impl TemplateError {
    fn new(message: impl Into<String>) -> TemplateError {
        TemplateError {
            message: message.into(),
            line: None,
        }
    }
}

/// The template engine: two minijinja environments (plain text, and shell commands) built once.
pub struct Templates {
    plain: Environment<'static>,
    shell: Environment<'static>,
    /// Names the environment defines (`range`, `dict`, ...), which templates may use freely.
    globals: super::refs::Globals,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Templates")
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

/// True when `s` contains template syntax (`{{`, `{%` or `{#`).
pub fn has_template(s: &str) -> bool {
    // One pass over the bytes: `contains` with a two-byte needle sets up a substring searcher
    // each time, which costs more than the scan for the short values this usually sees.
    s.as_bytes()
        .windows(2)
        .any(|w| w[0] == b'{' && matches!(w[1], b'{' | b'%' | b'#'))
}

/// How many instructions one template or expression may run (minijinja's fuel): a loop over
/// 100,000 lines of a step's output fits; a runaway loop stops within a second or two.
pub const FUEL: u64 = 1_000_000;

/// Most bytes one template may write.
pub const MAX_OUTPUT: usize = 64 << 20;

/// The values a command template wrote, in order (marker `N` is value `N`).
#[derive(Default)]
struct CommandValues(Vec<String>);

/// A buffer that refuses to grow past [`MAX_OUTPUT`].
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            return Err(std::io::Error::other(format!(
                "the template's output passed {} MiB",
                MAX_OUTPUT >> 20
            )));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `text` with each marker `\0N\0` replaced by value `N`.
fn unmark(text: &str, values: &[String]) -> String {
    if !text.contains('\0') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut parts = text.split('\0');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // Between two NULs: a marker's number, or text that is not a marker.
    let mut inside = true;
    for part in parts {
        match part.parse::<usize>().ok().and_then(|n| values.get(n)) {
            Some(v) if inside => {
                out.push_str(v);
                inside = false;
                continue;
            }
            _ if inside => {
                out.push('\0');
                out.push_str(part);
            }
            _ => {
                out.push_str(part);
                inside = true;
                continue;
            }
        }
    }
    out
}

/// Text marked by `| raw`: written into a command as is.
#[derive(Debug)]
struct RawText(String);

impl Object for RawText {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a value reads as text: strings as they are, `none` as nothing, lists and maps as JSON.
fn text_of(value: &MjValue) -> String {
    if let Some(raw) = value.downcast_object_ref::<RawText>() {
        return raw.0.clone();
    }
    if let Some(s) = value.as_str() {
        return s.to_string();
    }
    if value.is_none() {
        return String::new();
    }
    match value.kind() {
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => {
            serde_json::to_string(value).unwrap_or_else(|_| value.to_string())
        }
        _ => value.to_string(),
    }
}

/// A JSON value as a minijinja value.
fn mj(v: &Json) -> MjValue {
    MjValue::from(minijinja::value::Serde(v))
}

fn fromjson(s: &str) -> Result<MjValue, MjError> {
    serde_json::from_str::<Json>(s)
        .map(|v| mj(&v))
        .map_err(|e| MjError::new(ErrorKind::InvalidOperation, format!("not JSON: {e}")))
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template's last newline belongs to it (block scalars end in one).
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_recursion_limit(100);
    env.set_fuel(Some(FUEL));
    env.add_filter("raw", |v: MjValue| {
        MjValue::from_object(RawText(text_of(&v)))
    });
    // Text quoted for a shell word; in a command it is then quoted again for its place, so it
    // reaches a second shell (`ssh host {{ cmd | quote }}`) as one word.
    env.add_filter("quote", |v: MjValue| {
        MjValue::from(shell_quote(&text_of(&v)))
    });
    env.add_filter("fromjson", |s: String| fromjson(&s));
    // `tojson` from minijinja marks its output safe for HTML; here it is plain text, so a
    // command still quotes it.
    env.add_filter("tojson", |v: MjValue| {
        serde_json::to_string(&v).map_err(|e| {
            MjError::new(
                ErrorKind::InvalidOperation,
                format!("cannot write JSON: {e}"),
            )
        })
    });
    env
}

impl Templates {
    /// Builds the environments (filters `raw`, `quote`, `fromjson`, `tojson` and the builtins).
    pub fn new() -> Templates {
        let mut plain = base_env();
        plain.set_formatter(|out, _state, value| {
            out.write_str(&text_of(value)).map_err(MjError::from)
        });
        let mut shell = base_env();
        // Each value becomes a marker; `render_command` quotes it once its place is known.
        shell.set_formatter(|out, state, value| {
            if value.downcast_object_ref::<RawText>().is_some() {
                return out.write_str(&text_of(value)).map_err(MjError::from);
            }
            let values = state.get_or_insert_extension(CommandValues::default());
            // Text captured by `{% set x %}…{% endset %}` holds markers: put their values back.
            let text = unmark(&text_of(value), &values.0);
            let n = values.0.len();
            values.0.push(text);
            out.write_str(&marker(n)).map_err(MjError::from)
        });
        // `safe` means the same as `raw` in a command.
        shell.add_filter("safe", |v: MjValue| {
            MjValue::from_object(RawText(text_of(&v)))
        });
        let globals = super::refs::Globals::new(plain.globals().map(|(k, _)| k.to_string()));
        Templates {
            plain,
            shell,
            globals,
        }
    }

    /// Renders a text template (prompts, URLs, env values, ...).
    pub fn render(&self, tpl: &str, ctx: &Json) -> Result<String, TemplateError> {
        if !has_template(tpl) {
            return Ok(tpl.to_string());
        }
        self.render_in(&self.plain, tpl, ctx)
    }

    /// Renders a `run:` command: every interpolated value is quoted for the place it lands in
    /// (bare word, `"…"`, `'…'`, heredoc, ...; see `shell_lex.rs`) unless it ends in `| raw`.
    pub fn render_command(&self, tpl: &str, ctx: &Json) -> Result<String, TemplateError> {
        if !has_template(tpl) {
            return Ok(tpl.to_string());
        }
        let (text, values) = self.render_captured(&self.shell, tpl, ctx)?;
        fill(&text, &values).map_err(|e| TemplateError::new(e.to_string()))
    }

    /// Renders every string inside a JSON value. A string that is exactly one `{{ expr }}` keeps
    /// the expression's type (a number stays a number, a list a list).
    pub fn render_value(&self, value: &Json, ctx: &Json) -> Result<Json, TemplateError> {
        match value {
            Json::String(s) => {
                if !has_template(s) {
                    return Ok(value.clone());
                }
                if let Some(expr) = sole_expression(s) {
                    return self.eval_expr(expr, ctx);
                }
                self.render(s, ctx).map(Json::String)
            }
            Json::Array(items) => items
                .iter()
                .map(|i| self.render_value(i, ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            Json::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map {
                    out.insert(k.clone(), self.render_value(v, ctx)?);
                }
                Ok(Json::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    /// Evaluates a `when:` condition (an expression, optionally wrapped in `{{ }}`) to true/false.
    pub fn eval_when(&self, expr: &str, ctx: &Json) -> Result<bool, TemplateError> {
        let expr = strip_braces(expr);
        let compiled = self
            .plain
            .compile_expression(expr)
            .map_err(|e| compile_error(&e))?;
        let root = mj(ctx);
        compiled
            .eval(root)
            .map(|v| v.is_true())
            .map_err(|e| runtime_error(&e, &self.expr_refs(expr), ctx))
    }

    /// Evaluates an expression (`transform: { expr: ... }`) to a JSON value.
    pub fn eval_expr(&self, expr: &str, ctx: &Json) -> Result<Json, TemplateError> {
        let expr = strip_braces(expr);
        let compiled = self
            .plain
            .compile_expression(expr)
            .map_err(|e| compile_error(&e))?;
        let root = mj(ctx);
        let value = compiled
            .eval(root)
            .map_err(|e| runtime_error(&e, &self.expr_refs(expr), ctx))?;
        to_json(&value)
    }

    /// Checks that a template compiles and returns the variables it reads.
    pub fn template_references<'a>(
        &self,
        tpl: &'a str,
    ) -> Result<Vec<Reference<'a>>, TemplateError> {
        let mut refs = Vec::new();
        self.template_references_into(tpl, &mut refs)?;
        Ok(refs)
    }

    /// [`Templates::template_references`] into `refs`, which it empties first (validation
    /// reuses one list for every template of a workflow).
    pub fn template_references_into<'a>(
        &self,
        tpl: &'a str,
        refs: &mut Vec<Reference<'a>>,
    ) -> Result<(), TemplateError> {
        refs.clear();
        if !has_template(tpl) {
            return Ok(());
        }
        if simple_references_into(tpl, refs) {
            dedupe_in_place(refs, &self.globals);
            return Ok(());
        }
        refs.clear();
        refs.extend(self.full_template_references(tpl)?);
        Ok(())
    }

    /// [`Templates::template_references`] through minijinja's compiler, always.
    fn full_template_references<'a>(
        &self,
        tpl: &'a str,
    ) -> Result<Vec<Reference<'a>>, TemplateError> {
        let compiled = self
            .plain
            .template_from_str(tpl)
            .map_err(|e| compile_error(&e))?;
        let nested = compiled.undeclared_variables(true);
        Ok(collect_references(
            nested,
            &subscript_regions(tpl),
            &self.globals,
        ))
    }

    /// Checks that an expression (`when:`, `expr:`) compiles and returns the variables it reads.
    pub fn expression_references<'a>(
        &self,
        expr: &'a str,
    ) -> Result<Vec<Reference<'a>>, TemplateError> {
        let expr = strip_braces(expr);
        if let Some(refs) = simple_expression_references(expr) {
            return Ok(dedupe(refs, &self.globals));
        }
        self.full_expression_references(expr)
    }

    /// [`Templates::expression_references`] through minijinja's compiler, always.
    fn full_expression_references<'a>(
        &self,
        expr: &'a str,
    ) -> Result<Vec<Reference<'a>>, TemplateError> {
        let compiled = self
            .plain
            .compile_expression(expr)
            .map_err(|e| compile_error(&e))?;
        let nested = compiled.undeclared_variables(true);
        Ok(collect_references(nested, &[expr], &self.globals))
    }

    fn render_in(
        &self,
        env: &Environment<'static>,
        tpl: &str,
        ctx: &Json,
    ) -> Result<String, TemplateError> {
        self.render_captured(env, tpl, ctx).map(|(text, _)| text)
    }

    /// Renders into a buffer of at most [`MAX_OUTPUT`] bytes; also returns the values a command
    /// template recorded.
    fn render_captured(
        &self,
        env: &Environment<'static>,
        tpl: &str,
        ctx: &Json,
    ) -> Result<(String, Vec<String>), TemplateError> {
        let compiled = env.template_from_str(tpl).map_err(|e| compile_error(&e))?;
        let mut out = Capped(Vec::new());
        let mut captured = compiled
            .render_captured_to(mj(ctx), &mut out)
            // Only on failure: find which variable was missing, for the message.
            .map_err(|e| runtime_error(&e, &self.tpl_refs(tpl), ctx))?;
        let values = captured.with_state_mut(|state| {
            state
                .get_extension_mut::<CommandValues>()
                .map(|v| std::mem::take(&mut v.0))
                .unwrap_or_default()
        });
        drop(captured);
        let text = String::from_utf8(out.0)
            .map_err(|_| TemplateError::new("the template wrote text that is not UTF-8"))?;
        Ok((text, values))
    }

    fn expr_refs<'a>(&self, expr: &'a str) -> Vec<Reference<'a>> {
        self.expression_references(expr).unwrap_or_default()
    }

    fn tpl_refs<'a>(&self, tpl: &'a str) -> Vec<Reference<'a>> {
        self.template_references(tpl).unwrap_or_default()
    }
}

fn to_json(value: &MjValue) -> Result<Json, TemplateError> {
    if value.is_undefined() {
        return Err(TemplateError::new("the expression is undefined"));
    }
    if let Some(raw) = value.downcast_object_ref::<RawText>() {
        return Ok(Json::String(raw.0.clone()));
    }
    serde_json::to_value(value)
        .map_err(|e| TemplateError::new(format!("the value cannot be turned into JSON: {e}")))
}

/// `{{ expr }}` (with optional `-` whitespace markers) → `expr`; anything else as is.
fn strip_braces(s: &str) -> &str {
    sole_expression(s).unwrap_or(s.trim())
}

/// The expression inside a string that is exactly one `{{ ... }}`.
fn sole_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    Some(inner.trim())
}

fn compile_error(e: &MjError) -> TemplateError {
    let detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    TemplateError {
        message: format!("{}: {detail}", e.kind()),
        line: e.line(),
    }
}

fn runtime_error(e: &MjError, refs: &[Reference<'_>], ctx: &Json) -> TemplateError {
    if e.kind() == ErrorKind::UndefinedError {
        for r in refs {
            if let Some(why) = missing(r, ctx) {
                return TemplateError {
                    message: why,
                    line: e.line(),
                };
            }
        }
    }
    if e.kind() == ErrorKind::OutOfFuel {
        return TemplateError {
            message: format!(
                "the template used its whole budget of {FUEL} instructions (a loop that runs too \
                 long?); make it do less work"
            ),
            line: e.line(),
        };
    }
    // A write error is the output cap; its own message says so.
    let detail = std::error::Error::source(e)
        .filter(|_| e.kind() == ErrorKind::WriteFailure)
        .map(|s| s.to_string())
        .or_else(|| e.detail().map(str::to_string))
        .unwrap_or_else(|| e.kind().to_string());
    TemplateError {
        message: format!("{}: {detail}", e.kind()),
        line: e.line(),
    }
}

/// Why `r` is not in `ctx`, if it is not.
fn missing(r: &Reference<'_>, ctx: &Json) -> Option<String> {
    let mut cur = match ctx.get(r.root.as_ref()) {
        Some(v) => v,
        None => {
            let roots: Vec<&str> = ctx
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Some(format!(
                "`{}` is undefined (templates see: {})",
                r.root,
                roots.join(", ")
            ));
        }
    };
    let mut walked = r.root.to_string();
    for part in &r.path {
        match cur {
            Json::Object(map) => match map.get(part.as_ref()) {
                Some(v) => cur = v,
                None => {
                    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
                    keys.truncate(20);
                    let known = if keys.is_empty() {
                        "it is empty".to_string()
                    } else {
                        format!("it has: {}", keys.join(", "))
                    };
                    return Some(format!(
                        "`{walked}.{part}` is undefined: `{walked}` has no `{part}` ({known})"
                    ));
                }
            },
            Json::Array(items) => match part.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(v) => cur = v,
                None => {
                    return Some(format!(
                        "`{walked}.{part}` is undefined: `{walked}` is a list"
                    ));
                }
            },
            other => {
                let what = match other {
                    Json::Null => "null",
                    Json::Bool(_) => "a boolean",
                    Json::Number(_) => "a number",
                    _ => "text",
                };
                return Some(format!(
                    "`{walked}.{part}` is undefined: `{walked}` is {what}, not a mapping"
                ));
            }
        }
        walked.push('.');
        walked.push_str(part);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::refs::simple_references;
    use super::*;
    use serde_json::json;

    fn ctx() -> Json {
        json!({
            "params": {"env": "staging", "msg": "hi; rm -rf ~", "n": 3, "tags": ["a", "b"]},
            "env": {"HOME": "/root"},
            "run": {"id": "r1", "started_at": "2024-01-01T00:00:00Z"},
            "steps": {
                "build": {"output": {"risk": "low", "count": 2}, "status": "succeeded", "exit_code": 0,
                          "stdout": "ok\n", "stderr": "", "duration_ms": 5, "attempts": 1, "outputs": {}},
                "run-tests": {"output": "passed", "status": "succeeded"}
            }
        })
    }

    #[test]
    fn plain_strings_come_back_untouched() {
        let t = Templates::new();
        assert_eq!(t.render("echo hello", &ctx()).unwrap(), "echo hello");
        assert_eq!(t.render_command("a } b { c", &ctx()).unwrap(), "a } b { c");
    }

    #[test]
    fn render_reads_params_steps_and_renders_maps_as_json() {
        let t = Templates::new();
        assert_eq!(
            t.render(
                "deploy {{ params.env }} risk={{ steps.build.output.risk }}",
                &ctx()
            )
            .unwrap(),
            "deploy staging risk=low"
        );
        assert_eq!(
            t.render("{{ params.tags }}", &ctx()).unwrap(),
            r#"["a","b"]"#
        );
        assert_eq!(
            t.render("{{ steps['run-tests'].output }}", &ctx()).unwrap(),
            "passed"
        );
    }

    #[test]
    fn commands_quote_interpolated_values_so_they_stay_one_argument() {
        let t = Templates::new();
        assert_eq!(
            t.render_command("echo {{ params.msg }}", &ctx()).unwrap(),
            "echo 'hi; rm -rf ~'"
        );
        assert_eq!(
            t.render_command("echo {{ params.env }}", &ctx()).unwrap(),
            "echo staging"
        );
        assert_eq!(
            t.render_command("echo {{ \"it's\" }}", &ctx()).unwrap(),
            r"echo 'it'\''s'"
        );
        assert_eq!(
            t.render_command("echo {{ '' }}", &ctx()).unwrap(),
            "echo ''"
        );
    }

    #[test]
    fn raw_opts_out_of_quoting_and_tojson_does_not() {
        let t = Templates::new();
        assert_eq!(
            t.render_command("echo {{ params.msg | raw }}", &ctx())
                .unwrap(),
            "echo hi; rm -rf ~"
        );
        assert_eq!(
            t.render_command("echo {{ params.tags | tojson }}", &ctx())
                .unwrap(),
            r#"echo '["a","b"]'"#
        );
        assert_eq!(
            t.render_command("echo {{ params.msg | safe }}", &ctx())
                .unwrap(),
            "echo hi; rm -rf ~"
        );
    }

    #[test]
    fn undefined_variables_are_named_in_the_error() {
        let t = Templates::new();
        let e = t
            .render("{{ steps.build.output.nope }}", &ctx())
            .unwrap_err();
        assert!(
            e.message.contains("`steps.build.output.nope` is undefined"),
            "{e}"
        );
        assert!(e.message.contains("risk"), "{e}");
        let e = t.render("{{ params.missing }}", &ctx()).unwrap_err();
        assert!(e.message.contains("`params.missing`"), "{e}");
        let e = t
            .eval_when("steps.deploy.status == 'ok'", &ctx())
            .unwrap_err();
        assert!(e.message.contains("`steps.deploy` is undefined"), "{e}");
    }

    #[test]
    fn when_conditions_evaluate_with_or_without_braces() {
        let t = Templates::new();
        assert!(
            t.eval_when("steps.build.output.risk != 'high'", &ctx())
                .unwrap()
        );
        assert!(!t.eval_when("{{ params.env == 'prod' }}", &ctx()).unwrap());
        assert!(
            t.eval_when("params.n > 2 and 'a' in params.tags", &ctx())
                .unwrap()
        );
        assert!(t.eval_when("params.nope is not defined", &ctx()).unwrap());
        assert!(t.eval_when("params.nope | default(true)", &ctx()).unwrap());
    }

    #[test]
    fn expressions_and_values_keep_their_types() {
        let t = Templates::new();
        assert_eq!(
            t.eval_expr("steps.build.output.count + 1", &ctx()).unwrap(),
            json!(3)
        );
        let v = json!({"n": "{{ params.n }}", "s": "env={{ params.env }}", "l": ["{{ params.tags }}", 1]});
        assert_eq!(
            t.render_value(&v, &ctx()).unwrap(),
            json!({"n": 3, "s": "env=staging", "l": [["a", "b"], 1]})
        );
    }

    #[test]
    fn fromjson_parses_text() {
        let t = Templates::new();
        assert_eq!(
            t.eval_expr("'{\"a\": [1]}' | fromjson", &ctx()).unwrap(),
            json!({"a": [1]})
        );
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        let t = Templates::new();
        let e = t.render("line1\n{{ params.env ", &ctx()).unwrap_err();
        assert!(e.message.starts_with("syntax error"), "{e}");
        assert_eq!(e.line, Some(2));
        assert!(t.expression_references("a ==").is_err());
    }

    #[test]
    fn references_follow_dots_and_subscripts_but_not_locals_or_globals() {
        let t = Templates::new();
        let refs = t
            .template_references(
                "{% for x in steps.a.output %}{{ x }}{% endfor %}{{ steps[\"b-c\"].stdout }} {{ range(3) }} {{ params.p }}",
            )
            .unwrap();
        let shown: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            shown,
            vec!["params.p", "steps.a.output", "steps.b-c.stdout"]
        );
        let refs = t
            .expression_references("steps['x'].output.ok and params.y")
            .unwrap();
        let shown: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        assert_eq!(shown, vec!["params.y", "steps.x.output.ok"]);
    }

    /// The fast paths copy no name: every root and path part is a slice of the text (a copy of
    /// each was a fifth of a 1,000-step validation's allocations).
    #[test]
    fn the_fast_paths_borrow_every_name_from_the_text() {
        use std::borrow::Cow;
        let borrowed = |refs: Vec<Reference<'_>>| {
            assert!(!refs.is_empty());
            for r in refs {
                assert!(matches!(r.root, Cow::Borrowed(_)), "{r}");
                assert!(r.path.iter().all(|p| matches!(p, Cow::Borrowed(_))), "{r}");
            }
        };
        let t = Templates::new();
        borrowed(
            t.template_references("echo {{ steps['a-b'].outputs.v | trim }} {{ params.env }}")
                .unwrap(),
        );
        borrowed(
            t.expression_references("steps.a.output.ok and params[\"x-y\"] != 'prod'")
                .unwrap(),
        );
    }

    #[test]
    fn a_reused_list_holds_only_the_last_templates_references() {
        let t = Templates::new();
        let mut refs = Vec::new();
        // The third leaves the fast path after its first reference: the slow one starts over.
        for tpl in [
            "echo {{ params.env }} {{ steps['a-b'].stdout | trim }}",
            "no template here",
            "{{ steps.a.output }} {{ steps.b.output + 1 }}",
            "{{ env.HOME }}",
            "{{ x",
        ] {
            let once = t.template_references(tpl);
            let reused = t
                .template_references_into(tpl, &mut refs)
                .map(|()| refs.clone());
            match (once, reused) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{tpl}"),
                (Err(a), Err(b)) => assert_eq!(a.message, b.message, "{tpl}"),
                (a, b) => panic!("{tpl}: {a:?} against {b:?}"),
            }
        }
        t.template_references_into("{{ steps.a.output }} {{ steps.b.output + 1 }}", &mut refs)
            .unwrap();
        let roots: Vec<String> = refs.iter().map(|r| r.to_string()).collect();
        assert_eq!(roots, ["steps.a.output", "steps.b.output"]);
    }

    #[test]
    fn the_fast_reference_path_agrees_with_minijinja() {
        let t = Templates::new();
        for tpl in [
            "echo {{ params.env }} {{ steps['a-b'].stdout | trim }}",
            "{{- steps.x.output.items | join(', ') -}} and {{ run.id|upper }}",
            "{{ steps[\"x\"][\"output\"] | default('n/a') | replace('a', \"b\") }}",
            "{{ params.n | round(2) }} {{ params.t | default(none) }} {{ range }}",
            "{{ steps.a.outputs.v }}{{ steps.a.outputs }}",
            "{{ steps.a }} {x} {{ steps.ab.x }} {{ steps.a.output }} {{ params.p }}{{ params.p }}",
            "{ {{ steps.b }} {{ steps.a.output }}{{ steps.a.output.x }} {{ steps.a }} }",
        ] {
            let fast = simple_references(tpl).map(|r| dedupe(r, &t.globals));
            assert!(fast.is_some(), "{tpl}");
            assert_eq!(
                fast.unwrap(),
                t.full_template_references(tpl).unwrap(),
                "{tpl}"
            );
        }
        for tpl in [
            "{{ a + b }}",
            "{% if x %}y{% endif %}",
            "{{ x | f(y) }}",
            "{{ x['a\\'b'] }}",
            "{{ true }}",
            "{{ x }",
            "{{ 1 }}",
            "{{ x | f(1e3) }}",
            "{{ a.b( ) }}",
            "{{ x }}{# c #}",
            "{{ x {{ y }}",
        ] {
            assert_eq!(simple_references(tpl), None, "{tpl}");
        }
        for (text, templated) in [
            ("a { b } {", false),
            ("", false),
            ("{", false),
            ("x{{", true),
            ("{%", true),
            ("a {# c", true),
        ] {
            assert_eq!(has_template(text), templated, "{text}");
        }
    }

    #[test]
    fn the_fast_expression_reference_path_agrees_with_minijinja() {
        let t = Templates::new();
        for expr in [
            "steps.s0.output + 1",
            "41 * 2",
            "not params.dry and steps['a-b'].exit_code == 0 or false",
            "params.n // 2 ** 3 - -1 % 7 ~ 'x' != \"y\"",
            "steps.a.stdout | trim | length >= params.min",
            "not not none",
        ] {
            let fast = simple_expression_references(expr).map(|r| dedupe(r, &t.globals));
            assert!(fast.is_some(), "{expr}");
            assert_eq!(
                fast.unwrap(),
                t.full_expression_references(expr).unwrap(),
                "{expr}"
            );
        }
        for expr in [
            "",
            "a +",
            "a is defined",
            "x in [1, 2]",
            "f(1)",
            "a if b else c",
            "a[0]",
            "'x' | upper",
            "nothing_ and",
            "a b",
            "loop.index",
            "1e3 > a",
        ] {
            assert_eq!(simple_expression_references(expr), None, "{expr}");
        }
    }

    #[test]
    fn one_engine_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Templates>();
        let t = std::sync::Arc::new(Templates::new());
        let t2 = t.clone();
        let out = std::thread::spawn(move || t2.render("{{ params.env }}", &ctx()))
            .join()
            .unwrap();
        assert_eq!(out.unwrap(), "staging");
    }

    #[test]
    fn shell_quote_leaves_plain_words_alone() {
        assert_eq!(shell_quote("abc-1.2/x"), "abc-1.2/x");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
        assert_eq!(shell_quote(""), "''");
    }
}

#[cfg(test)]
mod fuel_tests {
    use super::*;

    #[test]
    fn a_runaway_loop_stops_at_its_fuel_budget() {
        let t = Templates::new();
        let tpl = "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}";
        for e in [
            t.render_command(tpl, &serde_json::json!({})).unwrap_err(),
            t.render(tpl, &serde_json::json!({})).unwrap_err(),
        ] {
            assert!(
                e.message.contains("whole budget of 1000000 instructions"),
                "{e}"
            );
        }
    }

    #[test]
    fn captured_blocks_keep_their_values_quoted() {
        let t = Templates::new();
        let ctx = serde_json::json!({"params": {"v": "a b$(x)"}});
        let tpl = "{% set m %}<{{ params.v }}>{% endset %}echo {{ m }} \"{{ m }}\"";
        assert_eq!(
            t.render_command(tpl, &ctx).unwrap(),
            "echo '<a b$(x)>' \"<a b\\$(x)>\""
        );
    }

    #[test]
    fn output_stops_at_its_cap() {
        let t = Templates::new();
        let tpl = "{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}";
        let e = t.render(tpl, &serde_json::json!({})).unwrap_err();
        assert!(e.message.contains("passed 64 MiB"), "{e}");
    }
}
