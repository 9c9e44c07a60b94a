//! Checks on a converted workflow, all in one pass: step ids, dependencies, cycles, templates
//! (they must compile and may read only params that exist and steps that are upstream), `when:`
//! expressions, params and agent names.

use super::dag::Dag;
use super::diag::{Diagnostic, Source, did_you_mean};
use super::for_each::ITEM_ROOTS;
use super::template::{Reference, Templates};
use super::types::{HttpBody, Pos, Step, StepKind, TransformSpec, Workflow};

/// The fields of a step result that templates may read as `steps.<id>.<field>`.
pub const STEP_FIELDS: [&str; 8] = [
    "output",
    "status",
    "exit_code",
    "stdout",
    "stderr",
    "duration_ms",
    "attempts",
    "outputs",
];

/// The roots every step template sees.
pub const ROOTS: [&str; 5] = ["params", "env", "run", "steps", "secrets"];

/// The roots an `outputs:` template sees: the usual ones and the step's own result.
const OUTPUT_ROOTS: [&str; 12] = [
    "params",
    "env",
    "run",
    "steps",
    "output",
    "status",
    "exit_code",
    "stdout",
    "stderr",
    "duration_ms",
    "attempts",
    "outputs",
];

/// "`run` of step `build`", written only when a message needs it.
struct Here<'a>(&'a str, &'a str);

impl std::fmt::Display for Here<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` of step `{}`", self.0, self.1)
    }
}

/// Names minijinja defines itself inside templates.
const TEMPLATE_LOCALS: [&str; 2] = ["loop", "caller"];

/// How a templated field is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A text template.
    Template,
    /// An expression (`when:`, `transform.expr`).
    Expr,
    /// A template that also sees the step's own result (`outputs:`).
    Outputs,
}

/// One templated text of a step, with where it was written.
struct Field<'w> {
    label: std::borrow::Cow<'static, str>,
    text: &'w str,
    pos: Pos,
    mode: Mode,
}

/// Every check; problems are appended to `out`.
///
/// `env_pos` holds where each workflow-level `env` value was written.
pub fn validate(
    wf: &Workflow,
    env_pos: &indexmap::IndexMap<String, Pos>,
    src: &Source<'_>,
    templates: &Templates,
    out: &mut Vec<Diagnostic>,
) -> Vec<Option<Vec<String>>> {
    check_params(wf, src, out);
    // The one map from ids to steps that every check below asks (it finds an id's first step).
    let dag = Dag::new(wf);
    check_ids(wf, &dag, src, out);
    check_dependencies(wf, &dag, src, out);
    for cycle in dag.cycles() {
        let path: Vec<&str> = cycle.iter().map(|&i| dag.id(i)).collect();
        let first = &wf.steps[cycle[0]];
        let at = first
            .depends_on
            .iter()
            .position(|d| Some(d.as_str()) == path.get(1).copied())
            .and_then(|k| first.pos.depends_on.get(k).copied())
            .unwrap_or(first.pos.id);
        out.push(
            Diagnostic::at(src, at, format!("dependency cycle: {}", path.join(" → ")))
                .with_hint("each arrow reads \"depends on\"; remove one of these dependencies"),
        );
    }
    let upstream = Upstream::new(&dag);
    for (name, value) in &wf.env {
        let pos = env_pos.get(name).copied().unwrap_or(Pos::UNKNOWN);
        let here = format!("workflow `env.{name}`");
        for r in references(templates, value, src, pos, &here, out) {
            if r.root == "steps" {
                out.push(
                    Diagnostic::at(src, pos, format!("{here} reads `{r}`")).with_hint(
                        "workflow env is set before any step runs; move it to the step's own `env:`",
                    ),
                );
            } else {
                let roots = ["params", "env", "run", "secrets"];
                check_root(wf, src, pos, &here, &r, &roots, out);
            }
        }
    }
    check_hosts(wf, src, templates, out);
    let mut reads = Vec::with_capacity(wf.steps.len());
    let mut step_fields = Vec::new();
    let mut refs = Vec::new();
    for (i, step) in wf.steps.iter().enumerate() {
        let mut read = Some(Vec::new());
        step_fields.clear();
        fields_into(step, &mut step_fields);
        for field in &step_fields {
            let found = match field.mode {
                Mode::Expr => templates.expression_references(field.text).map(|found| {
                    refs.clear();
                    refs.extend(found);
                }),
                Mode::Template | Mode::Outputs => {
                    templates.template_references_into(field.text, &mut refs)
                }
            };
            match found {
                Err(e) => {
                    let line = e
                        .line
                        .filter(|l| *l > 1)
                        .map(|l| format!(" (line {l} of the template)"))
                        .unwrap_or_default();
                    let what = if field.mode == Mode::Expr {
                        "expression"
                    } else {
                        "template"
                    };
                    out.push(
                        Diagnostic::at(
                            src,
                            field.pos,
                            format!(
                                "the {what} in `{}` of step `{}` does not compile: {}{line}",
                                field.label, step.id, e.message
                            ),
                        )
                        .with_hint(if field.mode == Mode::Expr {
                            "write an expression like `steps.test.status == \"succeeded\"` (no `{{ }}` needed)"
                        } else {
                            "check the `{{ ... }}` and `{% ... %}` pairs; quote the whole value in YAML"
                        }),
                    );
                }
                Ok(()) => {
                    if field.label == "run" {
                        super::command_check::check_command(
                            src,
                            step.id.as_str(),
                            field.text,
                            field.pos,
                            out,
                        );
                    }
                    for r in &refs {
                        check_reference(wf, src, &dag, &upstream, i, field, r, out);
                        if r.root == "steps" {
                            match (r.path.first(), &mut read) {
                                (Some(id), Some(ids)) => ids.push(id.to_string()),
                                (None, _) => read = None,
                                (Some(_), None) => {}
                            }
                        }
                    }
                }
            }
        }
        if let Some(ids) = &mut read {
            ids.sort_unstable();
            ids.dedup();
        }
        reads.push(read);
    }
    reads
}

/// The templates of `hosts:` entries compile and read only `params` and `env`: a host is
/// the same for every step that names it.
fn check_hosts(wf: &Workflow, src: &Source<'_>, templates: &Templates, out: &mut Vec<Diagnostic>) {
    for (name, host) in &wf.hosts {
        for (field, text) in host.templates() {
            let pos = host.pos.get(&field).copied().unwrap_or(Pos::UNKNOWN);
            let here = format!("`hosts.{name}.{field}`");
            for r in references(templates, text, src, pos, &here, out) {
                check_root(wf, src, pos, &here, &r, &["params", "env"], out);
            }
        }
    }
}

/// What the template `text` (at `pos`, named `here`) reads; a template that does not compile
/// is reported and reads nothing.
pub(super) fn references<'a>(
    templates: &Templates,
    text: &'a str,
    src: &Source<'_>,
    pos: Pos,
    here: &str,
    out: &mut Vec<Diagnostic>,
) -> Vec<super::template::Reference<'a>> {
    templates.template_references(text).unwrap_or_else(|e| {
        out.push(
            Diagnostic::at(
                src,
                pos,
                format!("the template in {here} does not compile: {}", e.message),
            )
            .with_hint("check the `{{ ... }}` and `{% ... %}` pairs"),
        );
        Vec::new()
    })
}

/// Every reference the templates and expressions of `step` make (those that compile); a dry run
/// shows the upstream results they read as placeholders.
pub fn step_references<'a>(templates: &Templates, step: &'a Step) -> Vec<Reference<'a>> {
    fields(step)
        .into_iter()
        .flat_map(|f| match f.mode {
            Mode::Expr => templates.expression_references(f.text),
            Mode::Template | Mode::Outputs => templates.template_references(f.text),
        })
        .flatten()
        .collect()
}

/// Agent names that no profile defines: not in `known` (the caller's list: built-in profiles
/// and their aliases, user profile files — see `agents::known_names`) nor under the
/// workflow's `agents:`.
pub fn check_agents(wf: &Workflow, known: &[String], src: &Source<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for step in &wf.steps {
        let StepKind::Agent(a) = &step.kind else {
            continue;
        };
        if wf.agents.contains_key(&a.agent) || known.iter().any(|k| k == &a.agent) {
            continue;
        }
        let candidates = known
            .iter()
            .map(String::as_str)
            .chain(wf.agents.keys().map(String::as_str));
        let hint = did_you_mean(&a.agent, candidates).unwrap_or_else(|| {
            "define it under `agents:` in this file, add a profile file, or use a built-in one \
             (`baton agents` lists them)"
                .to_string()
        });
        let pos = step
            .pos
            .fields
            .get("agent")
            .copied()
            .unwrap_or(step.pos.body);
        out.push(
            Diagnostic::at(
                src,
                pos,
                format!(
                    "step `{}` uses agent `{}`, which no profile defines",
                    step.id, a.agent
                ),
            )
            .with_hint(hint),
        );
    }
    out.extend(check_delegates(wf, known, src));
    out
}

/// `delegates_to:` names of workflow-local profiles that no profile defines.
fn check_delegates(wf: &Workflow, known: &[String], src: &Source<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, profile) in &wf.agents {
        for to in &profile.delegates_to {
            if wf.agents.contains_key(to) || known.iter().any(|k| k == to) {
                continue;
            }
            let candidates = known
                .iter()
                .map(String::as_str)
                .chain(wf.agents.keys().map(String::as_str));
            let hint = did_you_mean(to, candidates).unwrap_or_else(|| {
                "name a profile defined under `agents:`, in a profile file, or built in \
                 (`baton agents` lists them)"
                    .to_string()
            });
            out.push(
                Diagnostic::at(
                    src,
                    profile.delegates_to_pos,
                    format!("agent `{name}` delegates to `{to}`, which no profile defines"),
                )
                .with_hint(hint),
            );
        }
    }
    out
}

/// `provider:` names, of agent steps and of workflow-local profiles, that are not in `known`.
pub fn check_providers(wf: &Workflow, known: &[String], src: &Source<'_>) -> Vec<Diagnostic> {
    let steps = wf.steps.iter().filter_map(|s| match &s.kind {
        StepKind::Agent(a) => a.provider.as_ref().map(|p| {
            let pos = s.pos.fields.get("provider").copied().unwrap_or(s.pos.body);
            (format!("step `{}`", s.id), p, pos)
        }),
        _ => None,
    });
    let profiles = wf.agents.iter().filter_map(|(name, a)| {
        a.provider
            .as_ref()
            .map(|p| (format!("agent profile `{name}`"), p, a.provider_pos))
    });
    let mut out = Vec::new();
    for (who, provider, pos) in steps.chain(profiles) {
        if known.contains(provider) {
            continue;
        }
        let hint = did_you_mean(provider, known.iter().map(String::as_str)).unwrap_or_else(|| {
            format!(
                "the providers are {}; add one under `[[providers]]` in the config file",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        });
        out.push(
            Diagnostic::at(
                src,
                pos,
                format!("{who} asks for provider `{provider}`, which is not configured"),
            )
            .with_hint(hint),
        );
    }
    out
}

fn check_params(wf: &Workflow, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
    for (name, p) in &wf.params {
        if p.required && p.default.is_some() {
            out.push(
                Diagnostic::at(
                    src,
                    p.pos,
                    format!("param `{name}` is required and has a default"),
                )
                .with_hint("a default makes it optional: remove `required: true` or the default"),
            );
        }
        if let (Some(choices), Some(default)) = (&p.r#enum, &p.default)
            && !choices.contains(default)
        {
            let shown: Vec<String> = choices.iter().map(json_text).collect();
            out.push(
                Diagnostic::at(
                    src,
                    p.pos,
                    format!(
                        "the default {} of param `{name}` is not one of its `enum` values",
                        json_text(default)
                    ),
                )
                .with_hint(format!("use one of: {}", shown.join(", "))),
            );
        }
    }
}

/// A JSON value as a person reads it: text without quotes.
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// Reports repeated ids (the graph finds each id's first step).
fn check_ids(wf: &Workflow, dag: &Dag, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
    if !dag.ids_may_repeat() {
        return;
    }
    for (i, step) in wf.steps.iter().enumerate() {
        if let Some(first) = dag.index_of(step.id.as_str()).filter(|&first| first != i) {
            let prev = &wf.steps[first];
            out.push(
                Diagnostic::at(src, step.pos.id, format!("duplicate step id `{}`", step.id)).with_hint(format!(
                    "the first step with this id is at line {}; ids must be unique — rename one",
                    prev.pos.id.line
                )),
            );
        }
    }
}

fn check_dependencies(wf: &Workflow, dag: &Dag, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
    for (i, step) in wf.steps.iter().enumerate() {
        // The graph kept each dependency it found once: as many as are listed, none of them
        // the step itself, and there is nothing to say (and no id to look up again).
        if dag.deps(i).len() == step.depends_on.len() && !step.depends_on.contains(&step.id) {
            continue;
        }
        for (k, dep) in step.depends_on.iter().enumerate() {
            let pos = step.pos.depends_on.get(k).copied().unwrap_or(step.pos.id);
            if step.depends_on[..k].contains(dep) {
                out.push(
                    Diagnostic::at(
                        src,
                        pos,
                        format!("step `{}` lists `{dep}` twice in `depends_on`", step.id),
                    )
                    .with_hint("remove the repeated entry"),
                );
            } else if dep == &step.id {
                out.push(
                    Diagnostic::at(src, pos, format!("dependency cycle: {0} → {0}", step.id))
                        .with_hint("a step cannot depend on itself; remove it from `depends_on`"),
                );
            } else if dag.index_of(dep.as_str()).is_none() {
                let hint = did_you_mean(dep.as_str(), wf.steps.iter().map(|s| s.id.as_str()))
                    .unwrap_or_else(|| "depend on the `id` of a step of this workflow".into());
                out.push(
                    Diagnostic::at(
                        src,
                        pos,
                        format!("step `{}` depends on `{dep}`, which is not a step", step.id),
                    )
                    .with_hint(hint),
                );
            }
        }
    }
}

fn add<'w>(
    out: &mut Vec<Field<'w>>,
    label: impl Into<std::borrow::Cow<'static, str>>,
    text: &'w str,
    pos: Pos,
    mode: Mode,
) {
    out.push(Field {
        label: label.into(),
        text,
        pos,
        mode,
    });
}

/// Every templated text of a step, with its place.
fn fields(step: &Step) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    fields_into(step, &mut out);
    out
}

/// [`fields`] appended to `out` (validation reuses one list for every step).
fn fields_into<'w>(step: &'w Step, out: &mut Vec<Field<'w>>) {
    use Mode::{Expr, Outputs, Template};
    let p = &step.pos;
    let at = |key: &str| p.fields.get(key).copied().unwrap_or(p.body);
    if let Some(w) = &step.when {
        add(out, "when", w, p.when, Expr);
    }
    if let Some(super::for_each::ForEachItems::Template(t)) =
        step.for_each.as_ref().map(|f| &f.items)
    {
        add(out, "for_each", t, at("for_each"), Template);
    }
    match &step.kind {
        StepKind::Run(r) => {
            add(out, "run", &r.command, p.body, Template);
            if let Some(cwd) = &r.cwd {
                add(out, "cwd", cwd, at("cwd"), Template);
            }
            if let Some(on) = &r.on {
                add(out, "on", on, at("on"), Template);
            }
        }
        StepKind::Http(h) => {
            add(out, "http.url", &h.url, p.body, Template);
            for (k, v) in &h.headers {
                add(
                    out,
                    format!("http.headers.{k}"),
                    v,
                    at(&format!("headers.{k}")),
                    Template,
                );
            }
            match &h.body {
                Some(HttpBody::Text(t)) => add(out, "http.body", t, at("body"), Template),
                Some(HttpBody::Json(v)) => json_strings(v, "http.body", at("body"), out),
                None => {}
            }
        }
        StepKind::Agent(a) => add(out, "prompt", &a.prompt, p.body, Template),
        StepKind::Approval(a) => {
            add(out, "approval.prompt", &a.prompt, p.body, Template);
            for (k, input) in &a.inputs {
                if let Some(d) = &input.default {
                    add(
                        out,
                        format!("approval.inputs.{k}"),
                        d,
                        at(&format!("inputs.{k}")),
                        Template,
                    );
                }
            }
        }
        StepKind::Transform(t) => match t {
            TransformSpec::Template(s) => add(out, "transform", s, p.body, Template),
            TransformSpec::Expr(s) => add(out, "transform.expr", s, p.body, Expr),
            TransformSpec::Value(v) => json_strings(v, "transform.value", p.body, out),
        },
        StepKind::Sleep(_) => {}
        StepKind::Workflow(w) => {
            add(out, "workflow.path", &w.path, p.body, Template);
            for (k, v) in &w.params {
                json_strings(
                    v,
                    &format!("workflow.params.{k}"),
                    at(&format!("params.{k}")),
                    out,
                );
            }
        }
    }
    if let Some(lock) = &step.lock {
        add(out, "lock", lock, at("lock"), Template);
    }
    if let Some(key) = step.cache.as_ref().and_then(|c| c.key.as_ref()) {
        add(out, "cache.key", key, at("cache.key"), Template);
    }
    if let Some(key) = step.rate_limit.as_ref().and_then(|r| r.key.as_ref()) {
        add(out, "rate_limit.key", key, at("rate_limit.key"), Template);
    }
    for (k, v) in &step.env {
        add(
            out,
            format!("env.{k}"),
            v,
            at(&format!("env.{k}")),
            Template,
        );
    }
    for (k, v) in &step.outputs {
        add(
            out,
            format!("outputs.{k}"),
            v,
            at(&format!("outputs.{k}")),
            Outputs,
        );
    }
}

fn json_strings<'w>(v: &'w serde_json::Value, label: &str, pos: Pos, out: &mut Vec<Field<'w>>) {
    match v {
        serde_json::Value::String(s) if super::template::has_template(s) => {
            out.push(Field {
                label: label.to_string().into(),
                text: s,
                pos,
                mode: Mode::Template,
            });
        }
        serde_json::Value::Array(items) => {
            for i in items {
                json_strings(i, label, pos, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, i) in map {
                json_strings(i, &format!("{label}.{k}"), pos, out);
            }
        }
        _ => {}
    }
}

/// Which steps are upstream of which: a direct dependency answers at once (most references
/// read a step named in `depends_on`); otherwise bitsets in topological order, built on the
/// first such question (O(edges × steps / 64)), or a graph search per question for very large
/// workflows and steps on a cycle.
struct Upstream<'d> {
    dag: &'d Dag,
    words: usize,
    bits: std::cell::OnceCell<Vec<u64>>,
}

impl<'d> Upstream<'d> {
    const BITSET_LIMIT: usize = 20_000;

    fn new(dag: &'d Dag) -> Upstream<'d> {
        let n = dag.len();
        let words = if n > Self::BITSET_LIMIT {
            0
        } else {
            n.div_ceil(64)
        };
        Upstream {
            dag,
            words,
            bits: std::cell::OnceCell::new(),
        }
    }

    fn bits(&self) -> &[u64] {
        self.bits.get_or_init(|| {
            let (n, words) = (self.dag.len(), self.words);
            let mut bits = vec![0u64; n * words];
            for level in self.dag.levels() {
                for &i in level {
                    for &d in self.dag.deps(i) {
                        for w in 0..words {
                            bits[i * words + w] |= bits[d * words + w];
                        }
                        bits[i * words + d / 64] |= 1 << (d % 64);
                    }
                }
            }
            bits
        })
    }

    /// Is `j` upstream of `i`?
    fn contains(&self, i: usize, j: usize) -> bool {
        if self.dag.deps(i).contains(&j) {
            return true;
        }
        if self.words > 0 && self.dag.level_of(i).is_some() {
            return self.bits()[i * self.words + j / 64] & (1 << (j % 64)) != 0;
        }
        self.dag.upstream(i).binary_search(&j).is_ok()
    }
}

#[allow(clippy::too_many_arguments)]
fn check_reference(
    wf: &Workflow,
    src: &Source<'_>,
    dag: &Dag,
    upstream: &Upstream<'_>,
    i: usize,
    field: &Field<'_>,
    r: &Reference<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let step = &wf.steps[i];
    let here = Here(&field.label, step.id.as_str());
    if field.mode == Mode::Outputs && STEP_FIELDS.contains(&r.root.as_ref()) {
        return;
    }
    if ITEM_ROOTS.contains(&r.root.as_ref()) {
        check_item(step, src, field, &here, r, out);
        return;
    }
    if r.root != "steps" {
        let roots: &[&str] = if field.mode == Mode::Outputs {
            &OUTPUT_ROOTS
        } else {
            &ROOTS
        };
        check_root(wf, src, field.pos, &here, r, roots, out);
        return;
    }
    let Some(target) = r.path.first() else {
        return; // `steps` as a whole (e.g. iterated): nothing to check statically.
    };
    let Some(j) = dag.index_of(target) else {
        let hint = did_you_mean(target, wf.steps.iter().map(|s| s.id.as_str()))
            .unwrap_or_else(|| "read the result of a step of this workflow by its `id`".into());
        out.push(
            Diagnostic::at(
                src,
                field.pos,
                format!("{here} reads `{r}`, but there is no step `{target}`"),
            )
            .with_hint(hint),
        );
        return;
    };
    if j == i {
        let hint = if field.mode == Mode::Outputs {
            "inside `outputs:` read this step's own result as `output`, `stdout`, ..."
        } else {
            "a step cannot read its own result; move this to a later step"
        };
        out.push(
            Diagnostic::at(src, field.pos, format!("{here} reads its own result `{r}`"))
                .with_hint(hint),
        );
        return;
    }
    // A handler runs after every other step has ended: it may read any of them.
    let ended_before = step.handler.is_some() && wf.steps[j].handler.is_none();
    if !upstream.contains(i, j) && !ended_before {
        out.push(
            Diagnostic::at(
                src,
                field.pos,
                format!("{here} reads `{r}`, but `{target}` is not upstream of `{}`", step.id),
            )
            .with_hint(format!(
                "add `{target}` to `depends_on` of `{}` (directly or through a step that depends on it)",
                step.id
            )),
        );
        return;
    }
    let Some(attr) = r.path.get(1) else {
        return;
    };
    if !STEP_FIELDS.contains(&attr.as_ref()) {
        let hint = did_you_mean(attr, STEP_FIELDS)
            .unwrap_or_else(|| format!("a step result has: {}", STEP_FIELDS.join(", ")));
        out.push(
            Diagnostic::at(
                src,
                field.pos,
                format!("{here} reads `{r}`, but a step result has no `{attr}`"),
            )
            .with_hint(hint),
        );
        return;
    }
    if matches!(attr.as_ref(), "stdout" | "stderr") {
        let kind = match &wf.steps[j].kind {
            StepKind::Transform(_) => Some("transform"),
            StepKind::Approval(_) => Some("approval"),
            StepKind::Sleep(_) => Some("sleep"),
            _ => None,
        };
        if let Some(kind) = kind {
            out.push(
                Diagnostic::at(
                    src,
                    field.pos,
                    format!(
                        "{here} reads `{r}`, but `{target}` is a {kind} step, whose `{attr}` is always empty"
                    ),
                )
                .with_hint(format!("read its result as `steps.{target}.output`")),
            );
            return;
        }
    }
    if attr == "outputs"
        && let Some(name) = r.path.get(2)
    {
        let declared = &wf.steps[j].outputs;
        if !declared.contains_key(name.as_ref()) {
            let hint = did_you_mean(name, declared.keys().map(String::as_str))
                .unwrap_or_else(|| format!("declare it under `outputs:` of step `{target}`"));
            out.push(
                Diagnostic::at(
                    src,
                    field.pos,
                    format!("{here} reads `{r}`, but step `{target}` declares no output `{name}`"),
                )
                .with_hint(hint),
            );
        }
    }
}

/// `item` and `item_index` exist only in the per-item templates of a step with `for_each`.
fn check_item(
    step: &Step,
    src: &Source<'_>,
    field: &Field<'_>,
    here: &Here<'_>,
    r: &Reference<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let (message, hint) = if step.for_each.is_none() {
        (
            format!(
                "{here} reads `{r}`, but step `{}` has no `for_each`",
                step.id
            ),
            "`item` and `item_index` exist only in a step with `for_each: [...]`; add one, or read `params`/`steps` instead",
        )
    } else if matches!(field.label.as_ref(), "when" | "for_each") {
        (
            format!(
                "{here} reads `{r}`, but `{}` is decided once for the whole step, before its items exist",
                field.label
            ),
            "use `item` in the step's own fields (`run`, `prompt`, `env`, ...); to leave some items out, filter the list",
        )
    } else {
        return;
    };
    out.push(Diagnostic::at(src, field.pos, message).with_hint(hint));
}

pub(super) fn check_root(
    wf: &Workflow,
    src: &Source<'_>,
    pos: Pos,
    here: &dyn std::fmt::Display,
    r: &Reference<'_>,
    roots: &[&str],
    out: &mut Vec<Diagnostic>,
) {
    if TEMPLATE_LOCALS.contains(&r.root.as_ref()) {
        return;
    }
    if !roots.contains(&r.root.as_ref()) {
        let hint = did_you_mean(&r.root, roots.iter().copied())
            .unwrap_or_else(|| format!("templates see: {}", roots.join(", ")));
        out.push(
            Diagnostic::at(
                src,
                pos,
                format!("{here} reads `{r}`, which is not defined"),
            )
            .with_hint(hint),
        );
        return;
    }
    if r.root == "secrets" {
        check_secret(wf, src, pos, here, r, out);
    }
    if r.root == "params"
        && let Some(name) = r.path.first()
        && !wf.params.contains_key(name.as_ref())
    {
        let hint = did_you_mean(name, wf.params.keys().map(String::as_str)).unwrap_or_else(|| {
            format!("declare it under `params:`, e.g. `params: {{ {name}: {{ default: ... }} }}`")
        });
        out.push(
            Diagnostic::at(
                src,
                pos,
                format!("{here} reads `params.{name}`, but there is no param `{name}`"),
            )
            .with_hint(hint),
        );
    }
}

/// `secrets.NAME` must name a secret the workflow declares (or may come from its `env_file`).
fn check_secret(
    wf: &Workflow,
    src: &Source<'_>,
    pos: Pos,
    here: &dyn std::fmt::Display,
    r: &Reference<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(name) = r.path.first() else {
        out.push(
            Diagnostic::at(src, pos, format!("{here} reads all of `secrets`"))
                .with_hint("read one secret by name, e.g. `{{ secrets.DEPLOY_TOKEN }}`"),
        );
        return;
    };
    if wf.secrets.contains_key(name.as_ref()) || wf.env_file.is_some() {
        return;
    }
    let hint = did_you_mean(name, wf.secrets.keys().map(String::as_str)).unwrap_or_else(|| {
        format!("declare it: `secrets: [{name}]` (read from the environment) or `env_file: .env`")
    });
    out.push(
        Diagnostic::at(
            src,
            pos,
            format!("{here} reads `secrets.{name}`, but the workflow declares no secret `{name}`"),
        )
        .with_hint(hint),
    );
}
