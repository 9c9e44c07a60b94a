//! From a step's node to a typed `Step`: the common fields, the kind (decided by which kind key is
//! present), every shorthand, and the AutomatosX spellings (`key`, `dependsOn`, `action`, ...).

use indexmap::IndexMap;

use super::convert::{read_retry, read_timeout};
use super::convert_parts::{
    convert_approval, convert_cache, convert_http, convert_rate_limit, convert_sub_workflow,
    convert_transform,
};
use super::duration::Dur;
use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::{
    AgentSpec, OutputFormat, Pos, RetryPolicy, RunSpec, Step, StepId, StepKind, StepPos,
};

/// The keys that name a step's kind, in the order they are documented.
pub const KIND_KEYS: [&str; 7] = [
    "run",
    "http",
    "agent",
    "approval",
    "transform",
    "sleep",
    "workflow",
];

/// Keys that belong to one kind only, with that kind and their other spellings.
const KIND_ONLY: [(&str, &str, &[&str]); 16] = [
    ("shell", "run", &[]),
    ("cwd", "run", &[]),
    ("on", "run", &[]),
    ("prompt", "agent", &[]),
    ("action", "agent", &[]),
    ("provider", "agent", &[]),
    ("model", "agent", &[]),
    ("temperature", "agent", &[]),
    ("max_tokens", "agent", &["maxTokens"]),
    ("output", "agent", &[]),
    ("schema", "agent", &[]),
    ("tools", "agent", &[]),
    ("max_turns", "agent", &["maxTurns"]),
    ("max_tool_calls", "agent", &["maxToolCalls"]),
    ("max_tokens_total", "agent", &["maxTokensTotal"]),
    ("max_tool_output", "agent", &["maxToolOutput"]),
];

/// "step `build`", for messages.
#[derive(Clone, Copy)]
struct StepContext<'a>(&'a str);

impl std::fmt::Display for StepContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step `{}`", self.0)
    }
}

/// Converts the `index`-th step (0-based). `base_retry` is the workflow's default policy, which a
/// step's partial `retry` map completes.
pub fn convert_step(
    r: &mut Reader<'_>,
    node: &Node,
    index: usize,
    base_retry: &RetryPolicy,
) -> Option<Step> {
    let Value::Map(entries) = &node.value else {
        r.error(
            node.pos,
            format!(
                "step {} must be a mapping, not {}",
                index + 1,
                node.value.type_name()
            ),
            Some("write a step like `- id: build` followed by `run: make`".into()),
        );
        return None;
    };
    let problems_before = r.diags.len();
    let mut t = Table::new(entries);
    let mut pos = StepPos {
        step: node.pos,
        ..StepPos::default()
    };

    let id = match t.get(r, "id", &["key"]) {
        Some(n) => {
            pos.id = n.pos;
            r.non_empty_string(n, "id", "id: build")
        }
        None => {
            r.error(
                node.pos,
                format!("step {} has no `id`", index + 1),
                Some(
                    "add `id: some-name`; other steps refer to it in `depends_on` and templates"
                        .into(),
                ),
            );
            None
        }
    };
    let label: std::borrow::Cow<'_, str> = match &id {
        Some(id) => id.into(),
        None => format!("#{}", index + 1).into(),
    };
    // Named in messages only: written out when there is one.
    let context = StepContext(&label);
    if let Some(id) = &id
        && !super::convert::is_identifier(id)
    {
        r.error(
            pos.id,
            format!("step id `{id}` is not a plain name"),
            Some("use letters, digits, `_` and `-`, starting with a letter or `_`".into()),
        );
    }

    let mut name = t
        .get(r, "name", &["title"])
        .and_then(|n| r.string(n, "name", "name: Build the release"));
    let (depends_on, places) = match t.get(r, "depends_on", &["dependsOn", "needs"]) {
        Some(n) => r
            .string_list_split(n, "depends_on", "depends_on: [build, test]")
            .unwrap_or_default(),
        None => Default::default(),
    };
    pos.depends_on = places;
    // In place: a `StepId` is its `String`.
    let depends_on = depends_on.into_iter().map(StepId).collect();

    let when = t.get(r, "when", &["if", "condition"]).and_then(|n| {
        pos.when = n.pos;
        r.non_empty_string(n, "when", "when: params.env == \"prod\"")
    });
    let retry = read_retry(r, &mut t, "retry", base_retry).map(Box::new);
    let timeout = read_timeout(r, &mut t, "timeout");
    let continue_on_error = t
        .get(r, "continue_on_error", &["continueOnError"])
        .and_then(|n| r.bool(n, "continue_on_error"))
        .unwrap_or(false);
    let cache = t
        .get(r, "cache", &[])
        .and_then(|n| convert_cache(r, n, &mut pos));
    let lock = t.get(r, "lock", &["mutex"]).and_then(|n| {
        pos.fields.insert("lock".into(), n.pos);
        r.non_empty_string(n, "lock", "lock: deploy-{{ params.env }}")
    });
    let rate_limit = t
        .get(r, "rate_limit", &["rateLimit"])
        .and_then(|n| convert_rate_limit(r, n, &mut pos));
    let env = match t.get(r, "env", &[]) {
        Some(n) => {
            let (env, places) = r.string_map(n, "env", "env: { RUST_LOG: debug }");
            for (k, p) in places {
                pos.fields.insert(format!("env.{k}"), p);
            }
            env
        }
        None => IndexMap::new(),
    };
    let approve_node = t.get(r, "approve", &["requireApproval", "require_approval"]);
    let (approve, call_approval) = super::convert_tools::step_approve(r, approve_node);
    let approvers_node = t.get(r, "approvers", &[]);
    let approvers = convert_approvers(r, approvers_node, &mut pos);
    let idempotent = t
        .get(r, "idempotent", &[])
        .and_then(|n| r.bool(n, "idempotent"))
        .unwrap_or(true);
    let queue = t
        .get(r, "queue", &["taskQueue", "task_queue"])
        .and_then(|n| r.non_empty_string(n, "queue", "queue: gpu"));
    let outputs = match t.get(r, "outputs", &[]) {
        Some(n) => {
            let (outputs, places) = r.string_map(
                n,
                "outputs",
                "outputs: { version: \"{{ stdout | trim }}\" }",
            );
            for (k, p) in places {
                pos.fields.insert(format!("outputs.{k}"), p);
            }
            outputs
        }
        None => IndexMap::new(),
    };

    let for_each = super::for_each::convert(r, &mut t, &mut pos, context);

    // The kind-specific side keys, taken now so that misplaced ones get a precise message.
    let mut side: IndexMap<&'static str, (&Node, Pos)> = IndexMap::new();
    for &(key, _, aliases) in &KIND_ONLY {
        if let Some((k, n)) = t.take(r, key, aliases) {
            side.insert(key, (n, k.pos));
        }
    }

    // In file order, so "the second kind" is the one written second; a third is not needed.
    let mut present = entries.iter().filter_map(|(k, v)| {
        KIND_KEYS
            .iter()
            .find(|kind| **kind == k.name)
            .map(|kind| (*kind, k, v))
    });
    let present = (present.next(), present.next());
    for k in KIND_KEYS {
        t.take(r, k, &[]);
    }
    t.finish(r, context);

    let kind = match present {
        (None, _) => {
            let hint = if side.contains_key("prompt") || side.contains_key("action") {
                "a `prompt`/`action` needs `agent: NAME` to say which agent answers it".to_string()
            } else {
                format!(
                    "add one of: {}",
                    KIND_KEYS.map(|k| format!("`{k}`")).join(", ")
                )
            };
            r.error(
                node.pos,
                format!("{context} has no kind: it says nothing to do"),
                Some(hint),
            );
            None
        }
        (Some((kind, key, value)), None) => {
            for (side_key, (_, side_pos)) in &side {
                let owner = KIND_ONLY
                    .iter()
                    .find(|(k, _, _)| k == side_key)
                    .map(|(_, o, _)| *o)
                    .unwrap_or("run");
                if owner != kind {
                    r.error(
                        *side_pos,
                        format!("`{side_key}` applies only to `{owner}` steps, and {context} is a `{kind}` step"),
                        Some(format!("remove `{side_key}`, or make this a `{owner}` step")),
                    );
                }
            }
            convert_kind(r, kind, key.pos, value, &side, &mut pos, &mut name, &label)
        }
        (Some((first, _, _)), Some((second, key2, _))) => {
            r.error(
                key2.pos,
                format!("{context} has two kinds, `{first}` and `{second}`"),
                Some(
                    "a step does one thing: split it into two steps, the second with `depends_on`"
                        .into(),
                ),
            );
            None
        }
    };

    // A step whose kind is broken is kept with a stand-in kind, so that its id still counts for
    // other steps' `depends_on` and templates (no cascade of "no such step"); the recorded
    // problem makes the whole parse fail, so the stand-in never reaches the engine.
    let kind = match kind {
        Some(kind) => kind,
        None => {
            if r.diags.len() == problems_before {
                r.error(
                    node.pos,
                    format!("{context} could not be read"),
                    Some("check the step's kind key and its value".into()),
                );
            }
            StepKind::Sleep(Dur::default())
        }
    };
    let mut kind = kind;
    super::convert_tools::apply_call_approval(r, &mut kind, call_approval, approve_node);
    let gated = match &kind {
        StepKind::Approval(_) => Some("`approval:`"),
        _ if approve => Some("`approve: true`"),
        // After a crash such a step asks an operator before it runs again: a gate too.
        _ if !idempotent => Some("`idempotent: false`"),
        _ => None,
    };
    super::for_each::check_gate(r, &pos, gated, &label);
    if !approvers.is_empty() && !approve && !matches!(kind, StepKind::Approval(_)) {
        r.error(
            pos.fields.get("approvers").copied().unwrap_or(node.pos),
            format!("{context} lists `approvers` but has no gate"),
            Some("add `approve: true` to gate it, or remove `approvers`".into()),
        );
    }
    Some(Step {
        id: StepId(id?),
        name,
        kind,
        depends_on,
        when,
        retry,
        timeout,
        continue_on_error,
        cache: cache.map(Box::new),
        lock,
        rate_limit: rate_limit.map(Box::new),
        env,
        approve,
        approvers,
        idempotent,
        queue,
        outputs,
        for_each: for_each.map(Box::new),
        reads: None,
        handler: None,
        pos,
    })
}

/// `approvers: [ann, bob]`: login names, each place kept for validation's messages.
fn convert_approvers(r: &mut Reader<'_>, node: Option<&Node>, pos: &mut StepPos) -> Vec<String> {
    let Some(n) = node else {
        return Vec::new();
    };
    pos.fields.insert("approvers".into(), n.pos);
    let names = r
        .string_list(n, "approvers", "approvers: [ann, bob]")
        .unwrap_or_default();
    for (i, (_, p)) in names.iter().enumerate() {
        pos.fields.insert(format!("approvers.{i}"), *p);
    }
    names.into_iter().map(|(s, _)| s).collect()
}

#[allow(clippy::too_many_arguments)]
fn convert_kind(
    r: &mut Reader<'_>,
    kind: &str,
    key_pos: Pos,
    value: &Node,
    side: &IndexMap<&'static str, (&Node, Pos)>,
    pos: &mut StepPos,
    name: &mut Option<String>,
    label: &str,
) -> Option<StepKind> {
    pos.body = value.pos;
    match kind {
        "run" => {
            let command = r.non_empty_string(value, "run", "run: make test")?;
            let shell = side
                .get("shell")
                .and_then(|(n, _)| r.non_empty_string(n, "shell", "shell: bash"));
            let cwd = side.get("cwd").and_then(|(n, _)| {
                pos.fields.insert("cwd".into(), n.pos);
                r.non_empty_string(n, "cwd", "cwd: ./app")
            });
            let on = side.get("on").and_then(|(n, _)| {
                pos.fields.insert("on".into(), n.pos);
                r.non_empty_string(n, "on", "on: web1")
            });
            Some(StepKind::Run(RunSpec {
                command,
                shell,
                cwd,
                on,
            }))
        }
        "http" => convert_http(r, value, pos).map(|h| StepKind::Http(Box::new(h))),
        "agent" => {
            pos.fields.insert("agent".into(), value.pos);
            let agent = r.non_empty_string(value, "agent", "agent: security")?;
            let prompt = side.get("prompt").and_then(|(n, _)| {
                pos.body = n.pos;
                r.non_empty_string(n, "prompt", "prompt: Review this diff")
            });
            let action = side
                .get("action")
                .and_then(|(n, _)| r.non_empty_string(n, "action", "action: scan-vulnerabilities"));
            let prompt = match (prompt, action) {
                (Some(p), action) => {
                    // With a prompt, `action` is only a label.
                    if name.is_none() {
                        *name = action;
                    }
                    p
                }
                (None, Some(a)) => {
                    if let Some((n, _)) = side.get("action") {
                        pos.body = n.pos;
                    }
                    a
                }
                (None, None) => {
                    if !side.contains_key("prompt") && !side.contains_key("action") {
                        r.error(
                            key_pos,
                            format!("agent step `{label}` has no `prompt`"),
                            Some("add `prompt: ...` with the task for the agent".into()),
                        );
                    }
                    return None;
                }
            };
            let provider = side.get("provider").and_then(|(n, _)| {
                pos.fields.insert("provider".into(), n.pos);
                r.non_empty_string(n, "provider", "provider: anthropic")
            });
            let model = side
                .get("model")
                .and_then(|(n, _)| r.non_empty_string(n, "model", "model: gpt-4o"));
            let temperature = side
                .get("temperature")
                .and_then(|(n, _)| r.float(n, "temperature", 0.0, 2.0));
            let max_tokens = side
                .get("max_tokens")
                .and_then(|(n, _)| r.int(n, "max_tokens", 1, i64::from(u32::MAX)))
                .and_then(|v| u32::try_from(v).ok());
            let schema = side.get("schema").and_then(|(n, _)| match &n.value {
                Value::Map(_) => Some(n.value.to_json()),
                other => {
                    r.error(
                        n.pos,
                        format!(
                            "`schema` must be a JSON schema mapping, not {}",
                            other.type_name()
                        ),
                        Some("write it like `schema: { type: object, required: [risk] }`".into()),
                    );
                    None
                }
            });
            let output = match side.get("output") {
                Some((n, _)) => match r.string(n, "output", "output: json").as_deref() {
                    Some("text") => {
                        if schema.is_some() {
                            r.error(
                                n.pos,
                                "`schema` needs `output: json`, but this step says `output: text`",
                                Some("set `output: json`, or remove `schema`".into()),
                            );
                        }
                        OutputFormat::Text
                    }
                    Some("json") => OutputFormat::Json,
                    Some(other) => {
                        r.error(
                            n.pos,
                            format!("`output` is `{other}`; it must be `text` or `json`"),
                            super::diag::did_you_mean(other, ["text", "json"]).or_else(|| {
                                Some("write `output: json` or leave it out for text".into())
                            }),
                        );
                        OutputFormat::Text
                    }
                    None => OutputFormat::Text,
                },
                // A schema implies JSON.
                None if schema.is_some() => OutputFormat::Json,
                None => OutputFormat::Text,
            };
            Some(StepKind::Agent(Box::new(AgentSpec {
                agent,
                prompt,
                provider,
                model,
                temperature,
                max_tokens,
                output,
                schema,
                tools: side
                    .get("tools")
                    .map(|(n, _)| super::convert_tools::tools(r, n))
                    .unwrap_or_default(),
                limits: super::convert_tools::limits(r, side),
                approve_calls: Default::default(),
            })))
        }
        "approval" => {
            convert_approval(r, value, pos, label).map(|a| StepKind::Approval(Box::new(a)))
        }
        "transform" => convert_transform(r, value).map(StepKind::Transform),
        "sleep" => r.duration(value, "sleep").map(StepKind::Sleep),
        "workflow" => convert_sub_workflow(r, value, pos).map(|w| StepKind::Workflow(Box::new(w))),
        _ => None,
    }
}
