//! From a step's node to a typed `Step`: the common fields, the kind (decided by which kind key is
//! present), every shorthand, and the AutomatosX spellings (`key`, `dependsOn`, `action`, ...).

use indexmap::IndexMap;

use super::convert::{read_retry, read_timeout};
use super::duration::{Dur, parse_duration};
use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::{
    AgentSpec, ApprovalInput, ApprovalSpec, CacheSpec, HttpBody, HttpSpec, OnTimeout, OutputFormat,
    Pos, RateLimit, RetryPolicy, RunSpec, Step, StepId, StepKind, StepPos, SubWorkflowSpec,
    TransformSpec,
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

/// HTTP methods a step may use.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Keys that belong to one kind only, with that kind.
const KIND_ONLY: [(&str, &str); 10] = [
    ("shell", "run"),
    ("cwd", "run"),
    ("prompt", "agent"),
    ("action", "agent"),
    ("provider", "agent"),
    ("model", "agent"),
    ("temperature", "agent"),
    ("max_tokens", "agent"),
    ("output", "agent"),
    ("schema", "agent"),
];

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
    let label = id.clone().unwrap_or_else(|| format!("#{}", index + 1));
    let context = format!("step `{label}`");
    if let Some(id) = &id {
        if !super::convert::is_identifier(id) {
            r.error(
                pos.id,
                format!("step id `{id}` is not a plain name"),
                Some("use letters, digits, `_` and `-`, starting with a letter or `_`".into()),
            );
        }
    }

    let mut name = t
        .get(r, "name", &["title"])
        .and_then(|n| r.string(n, "name", "name: Build the release"));
    let depends_on = match t.get(r, "depends_on", &["dependsOn", "needs"]) {
        Some(n) => r
            .string_list(n, "depends_on", "depends_on: [build, test]")
            .unwrap_or_default(),
        None => Vec::new(),
    };
    pos.depends_on = depends_on.iter().map(|(_, p)| *p).collect();
    let depends_on = depends_on.into_iter().map(|(s, _)| StepId(s)).collect();

    let when = t.get(r, "when", &["if", "condition"]).and_then(|n| {
        pos.when = n.pos;
        r.non_empty_string(n, "when", "when: params.env == \"prod\"")
    });
    let retry = read_retry(r, &mut t, "retry", base_retry);
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
    let approve = t
        .get(r, "approve", &["requireApproval", "require_approval"])
        .and_then(|n| r.bool(n, "approve"))
        .unwrap_or(false);
    let idempotent = t
        .get(r, "idempotent", &[])
        .and_then(|n| r.bool(n, "idempotent"))
        .unwrap_or(true);
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

    // The kind-specific side keys, taken now so that misplaced ones get a precise message.
    let mut side: IndexMap<&'static str, (&Node, Pos)> = IndexMap::new();
    for (key, _) in KIND_ONLY {
        let aliases: &[&'static str] = match key {
            "max_tokens" => &["maxTokens"],
            _ => &[],
        };
        if let Some((k, n)) = t.take(r, key, aliases) {
            side.insert(key, (n, k.pos));
        }
    }

    // In file order, so "the second kind" is the one written second.
    let present: Vec<(&'static str, &super::node::Key, &Node)> = entries
        .iter()
        .filter_map(|(k, v)| {
            KIND_KEYS
                .iter()
                .find(|kind| **kind == k.name)
                .map(|kind| (*kind, k, v))
        })
        .collect();
    for k in KIND_KEYS {
        t.take(r, k, &[]);
    }
    t.finish(r, &context);

    let kind = match present.as_slice() {
        [] => {
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
        [(kind, key, value)] => {
            for (side_key, (_, side_pos)) in &side {
                let owner = KIND_ONLY
                    .iter()
                    .find(|(k, _)| k == side_key)
                    .map(|(_, o)| *o)
                    .unwrap_or("run");
                if owner != *kind {
                    r.error(
                        *side_pos,
                        format!("`{side_key}` applies only to `{owner}` steps, and {context} is a `{kind}` step"),
                        Some(format!("remove `{side_key}`, or make this a `{owner}` step")),
                    );
                }
            }
            convert_kind(r, kind, key.pos, value, &side, &mut pos, &mut name, &label)
        }
        [(first, _, _), (second, key2, _), ..] => {
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
    Some(Step {
        id: StepId(id?),
        name,
        kind,
        depends_on,
        when,
        retry,
        timeout,
        continue_on_error,
        cache,
        lock,
        rate_limit,
        env,
        approve,
        idempotent,
        outputs,
        pos,
    })
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
            Some(StepKind::Run(RunSpec {
                command,
                shell,
                cwd,
            }))
        }
        "http" => convert_http(r, value, pos).map(StepKind::Http),
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
            let provider = side
                .get("provider")
                .and_then(|(n, _)| r.non_empty_string(n, "provider", "provider: anthropic"));
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
            Some(StepKind::Agent(AgentSpec {
                agent,
                prompt,
                provider,
                model,
                temperature,
                max_tokens,
                output,
                schema,
            }))
        }
        "approval" => convert_approval(r, value, pos, label).map(StepKind::Approval),
        "transform" => convert_transform(r, value).map(StepKind::Transform),
        "sleep" => r.duration(value, "sleep").map(StepKind::Sleep),
        "workflow" => convert_sub_workflow(r, value, pos).map(StepKind::Workflow),
        _ => None,
    }
}

fn convert_http(r: &mut Reader<'_>, node: &Node, pos: &mut StepPos) -> Option<HttpSpec> {
    match &node.value {
        Value::Str(url) => Some(HttpSpec {
            method: "GET".into(),
            url: url.clone(),
            headers: IndexMap::new(),
            body: None,
            expect: Vec::new(),
        }),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let method = match t.get(r, "method", &[]) {
                Some(n) => {
                    let m = r
                        .string(n, "http.method", "method: POST")?
                        .to_ascii_uppercase();
                    if !METHODS.contains(&m.as_str()) {
                        r.error(
                            n.pos,
                            format!("`{m}` is not an HTTP method baton sends"),
                            Some(format!("use one of {}", METHODS.join(", "))),
                        );
                    }
                    m
                }
                None => "GET".to_string(),
            };
            let url = match t.get(r, "url", &[]) {
                Some(n) => {
                    pos.body = n.pos;
                    r.non_empty_string(n, "http.url", "url: https://example.com/health")
                }
                None => {
                    r.error(
                        node.pos,
                        "the `http` request has no `url`",
                        Some("add `url: https://...`".into()),
                    );
                    None
                }
            };
            let headers = match t.get(r, "headers", &[]) {
                Some(n) => {
                    let (h, places) =
                        r.string_map(n, "http.headers", "headers: { Accept: application/json }");
                    for (k, p) in places {
                        pos.fields.insert(format!("headers.{k}"), p);
                    }
                    h
                }
                None => IndexMap::new(),
            };
            let body = t.get(r, "body", &["json"]).and_then(|n| {
                pos.fields.insert("body".into(), n.pos);
                match &n.value {
                    Value::Null => None,
                    Value::Str(s) => Some(HttpBody::Text(s.clone())),
                    other => Some(HttpBody::Json(other.to_json())),
                }
            });
            let expect = match t.get(r, "expect", &["status"]) {
                Some(n) => {
                    let items: Vec<&Node> = match &n.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![n],
                    };
                    items
                        .into_iter()
                        .filter_map(|i| r.int(i, "http.expect", 100, 599))
                        .filter_map(|c| u16::try_from(c).ok())
                        .collect()
                }
                None => Vec::new(),
            };
            t.finish(r, "`http`");
            Some(HttpSpec {
                method,
                url: url?,
                headers,
                body,
                expect,
            })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`http` must be a URL or a request mapping, not {}",
                    other.type_name()
                ),
                Some(
                    "write `http: https://example.com` or `http: { method: POST, url: ... }`"
                        .into(),
                ),
            );
            None
        }
    }
}

fn convert_approval(
    r: &mut Reader<'_>,
    node: &Node,
    pos: &mut StepPos,
    label: &str,
) -> Option<ApprovalSpec> {
    let default_prompt = format!("Approve `{label}`?");
    match &node.value {
        Value::Str(prompt) => Some(ApprovalSpec {
            prompt: prompt.clone(),
            inputs: IndexMap::new(),
            timeout: None,
            on_timeout: OnTimeout::Reject,
        }),
        Value::Null => Some(ApprovalSpec {
            prompt: default_prompt,
            inputs: IndexMap::new(),
            timeout: None,
            on_timeout: OnTimeout::Reject,
        }),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let prompt = match t.get(r, "prompt", &["message"]) {
                Some(n) => {
                    pos.body = n.pos;
                    r.string(n, "approval.prompt", "prompt: Deploy?")
                }
                None => Some(default_prompt),
            };
            let mut inputs = IndexMap::new();
            if let Some(n) = t.get(r, "inputs", &[]) {
                if let Some(fields) =
                    r.map(n, "approval.inputs", "inputs: { reason: { default: ok } }")
                {
                    for (k, v) in fields {
                        let what = format!("approval.inputs.{}", k.name);
                        let input = convert_input(r, v, &what);
                        if let Some(input) = input {
                            pos.fields.insert(format!("inputs.{}", k.name), v.pos);
                            inputs.insert(k.name.clone(), input);
                        }
                    }
                }
            }
            let timeout = t
                .get(r, "timeout", &[])
                .and_then(|n| r.duration(n, "approval.timeout"));
            let on_timeout = match t.get(r, "on_timeout", &["onTimeout"]) {
                Some(n) => match r
                    .string(n, "approval.on_timeout", "on_timeout: reject")
                    .as_deref()
                {
                    Some("reject") => OnTimeout::Reject,
                    Some("approve") => OnTimeout::Approve,
                    Some(other) => {
                        r.error(
                            n.pos,
                            format!("`on_timeout` is `{other}`; it must be `reject` or `approve`"),
                            super::diag::did_you_mean(other, ["reject", "approve"]).or_else(|| {
                                Some("write `on_timeout: reject` or `on_timeout: approve`".into())
                            }),
                        );
                        OnTimeout::Reject
                    }
                    None => OnTimeout::Reject,
                },
                None => OnTimeout::Reject,
            };
            t.finish(r, "`approval`");
            Some(ApprovalSpec {
                prompt: prompt?,
                inputs,
                timeout,
                on_timeout,
            })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`approval` must be a question or a mapping, not {}",
                    other.type_name()
                ),
                Some(
                    "write `approval: Deploy?` or `approval: { prompt: Deploy?, timeout: 1h }`"
                        .into(),
                ),
            );
            None
        }
    }
}

fn convert_input(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<ApprovalInput> {
    match &node.value {
        Value::Map(fields) => {
            let mut t = Table::new(fields);
            let default = t
                .get(r, "default", &[])
                .and_then(|n| r.string(n, &format!("{what}.default"), "default: ok"));
            let description = t
                .get(r, "description", &[])
                .and_then(|n| r.string(n, &format!("{what}.description"), "description: Why"));
            let choices = t.get(r, "enum", &["choices"]).and_then(|n| {
                r.string_list(n, &format!("{what}.enum"), "enum: [a, b]")
                    .map(|v| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>())
            });
            if let (Some(d), Some(choices), Some(n)) = (&default, &choices, t.has("default")) {
                if !d.contains("{{") && !choices.contains(d) {
                    r.error(
                        n.pos,
                        format!("the default `{d}` of `{what}` is not one of its `enum` values"),
                        Some(format!("use one of: {}", choices.join(", "))),
                    );
                }
            }
            t.finish(r, &format!("`{what}`"));
            Some(ApprovalInput {
                default,
                description,
                r#enum: choices,
            })
        }
        Value::Seq(_) => {
            r.error(
                node.pos,
                format!("`{what}` must be a default value or a mapping, not a list"),
                Some("write `name: { default: a, enum: [a, b] }`".into()),
            );
            None
        }
        Value::Null => Some(ApprovalInput::default()),
        _ => r.string(node, what, "reason: ok").map(|d| ApprovalInput {
            default: Some(d),
            ..ApprovalInput::default()
        }),
    }
}

fn convert_transform(r: &mut Reader<'_>, node: &Node) -> Option<TransformSpec> {
    match &node.value {
        Value::Str(s) => Some(TransformSpec::Template(s.clone())),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let template = t.take(r, "template", &[]);
            let expr = t.take(r, "expr", &["expression"]);
            let value = t.take(r, "value", &[]);
            t.finish(r, "`transform`");
            let given: Vec<_> = [template, expr, value].into_iter().flatten().collect();
            match given.as_slice() {
                [] => {
                    r.error(
                        node.pos,
                        "`transform` has none of `template`, `expr` or `value`",
                        Some("write `transform: { expr: steps.a.output.items | length }`".into()),
                    );
                    None
                }
                [(k, n)] => match k.name.as_str() {
                    "template" => r
                        .string(n, "transform.template", "template: \"{{ params.x }}\"")
                        .map(TransformSpec::Template),
                    "value" => Some(TransformSpec::Value(n.value.to_json())),
                    _ => r
                        .non_empty_string(n, "transform.expr", "expr: steps.a.output | length")
                        .map(TransformSpec::Expr),
                },
                [_, (k, _), ..] => {
                    r.error(
                        k.pos,
                        "`transform` takes one of `template`, `expr` or `value`, not several",
                        Some("keep one; split the rest into another transform step".into()),
                    );
                    None
                }
            }
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`transform` must be a template or a mapping, not {}",
                    other.type_name()
                ),
                Some("for a literal value write `transform: { value: ... }`".into()),
            );
            None
        }
    }
}

fn convert_sub_workflow(
    r: &mut Reader<'_>,
    node: &Node,
    pos: &mut StepPos,
) -> Option<SubWorkflowSpec> {
    match &node.value {
        Value::Str(path) if !path.trim().is_empty() => Some(SubWorkflowSpec {
            path: path.clone(),
            params: IndexMap::new(),
        }),
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let path = match t.get(r, "path", &["file", "uses"]) {
                Some(n) => {
                    pos.body = n.pos;
                    r.non_empty_string(n, "workflow.path", "path: ./build.yaml")
                }
                None => {
                    r.error(
                        node.pos,
                        "the `workflow` call has no `path`",
                        Some("add `path: ./other.yaml` (relative to this file)".into()),
                    );
                    None
                }
            };
            let mut params = IndexMap::new();
            if let Some(n) = t.get(r, "params", &["with"]) {
                if let Some(fields) = r.map(n, "workflow.params", "params: { env: prod }") {
                    for (k, v) in fields {
                        pos.fields.insert(format!("params.{}", k.name), v.pos);
                        params.insert(k.name.clone(), v.value.to_json());
                    }
                }
            }
            t.finish(r, "`workflow`");
            Some(SubWorkflowSpec {
                path: path?,
                params,
            })
        }
        other => {
            r.error(
                node.pos,
                format!("`workflow` must be a path or a mapping, not {}", other.type_name()),
                Some("write `workflow: ./build.yaml` or `workflow: { path: ./build.yaml, params: {...} }`".into()),
            );
            None
        }
    }
}

fn convert_cache(r: &mut Reader<'_>, node: &Node, pos: &mut StepPos) -> Option<CacheSpec> {
    match &node.value {
        Value::Bool(true) => Some(CacheSpec {
            key: None,
            ttl: None,
        }),
        Value::Bool(false) | Value::Null => None,
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let key = t.get(r, "key", &[]).and_then(|n| {
                pos.fields.insert("cache.key".into(), n.pos);
                r.non_empty_string(n, "cache.key", "key: build-{{ params.rev }}")
            });
            let ttl = t
                .get(r, "ttl", &[])
                .and_then(|n| r.duration(n, "cache.ttl"));
            t.finish(r, "`cache`");
            Some(CacheSpec { key, ttl })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`cache` must be true, false or a mapping, not {}",
                    other.type_name()
                ),
                Some("write `cache: true` or `cache: { key: ..., ttl: 1h }`".into()),
            );
            None
        }
    }
}

fn convert_rate_limit(r: &mut Reader<'_>, node: &Node, pos: &mut StepPos) -> Option<RateLimit> {
    match &node.value {
        Value::Str(s) => match parse_rate(s) {
            Ok((max, per)) => Some(RateLimit {
                key: None,
                max,
                per,
            }),
            Err(why) => {
                r.error(
                    node.pos,
                    format!("`rate_limit` `{s}` is not a rate: {why}"),
                    Some("write it like `10/1m` (10 starts per minute) or `1/s`".into()),
                );
                None
            }
        },
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let key = t.get(r, "key", &[]).and_then(|n| {
                pos.fields.insert("rate_limit.key".into(), n.pos);
                r.non_empty_string(n, "rate_limit.key", "key: github-api")
            });
            let max = match t.get(r, "max", &["limit"]) {
                Some(n) => r.int(n, "rate_limit.max", 1, i64::from(u32::MAX)),
                None => {
                    r.error(
                        node.pos,
                        "`rate_limit` has no `max`",
                        Some("add `max: 10`".into()),
                    );
                    None
                }
            };
            let per = match t.get(r, "per", &["period"]) {
                Some(n) => r.duration(n, "rate_limit.per"),
                None => {
                    r.error(
                        node.pos,
                        "`rate_limit` has no `per`",
                        Some("add `per: 1m`".into()),
                    );
                    None
                }
            };
            t.finish(r, "`rate_limit`");
            if let Some(Dur(d)) = per {
                if d.is_zero() {
                    r.error(
                        node.pos,
                        "`rate_limit.per` must be longer than zero",
                        Some("write a period like `per: 1m`".into()),
                    );
                    return None;
                }
            }
            Some(RateLimit {
                key,
                max: u32::try_from(max?).ok()?,
                per: per?,
            })
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`rate_limit` must be a rate like `10/1m` or a mapping, not {}",
                    other.type_name()
                ),
                Some(
                    "write `rate_limit: 10/1m` or `rate_limit: { key: api, max: 10, per: 1m }`"
                        .into(),
                ),
            );
            None
        }
    }
}

/// Reads `10/1m`, `5/30s`, `1/s` (a unit alone means one of it).
pub fn parse_rate(s: &str) -> Result<(u32, Dur), String> {
    let (max, per) = s
        .split_once('/')
        .ok_or_else(|| "there is no `/` between the count and the period".to_string())?;
    let max: u32 = max
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a whole number", max.trim()))?;
    if max == 0 {
        return Err("the count must be at least 1".into());
    }
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_alphabetic()) {
        parse_duration(&format!("1{per}"))
    } else {
        parse_duration(per)
    }
    .map_err(|e| e.to_string())?;
    if per.is_zero() {
        return Err("the period must be longer than zero".into());
    }
    Ok((max, Dur(per)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_read_with_and_without_a_number_before_the_unit() {
        assert_eq!(parse_rate("10/1m"), Ok((10, Dur(Duration::from_secs(60)))));
        assert_eq!(parse_rate("1/s"), Ok((1, Dur(Duration::from_secs(1)))));
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("0/1m").is_err());
        assert!(parse_rate("x/1m").is_err());
        assert!(parse_rate("5/0s").is_err());
    }
}
