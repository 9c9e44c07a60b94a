//! From the node tree to the typed model: the workflow's top level, params, agents, defaults and
//! the policies shared by steps and defaults (retry, timeout). Steps are in `convert_step.rs`.

use indexmap::IndexMap;

use super::convert_step::convert_step;
use super::duration::Dur;
use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::{AgentProfileSpec, Defaults, ParamSpec, Pos, RetryPolicy, Workflow};

/// Places of workflow-level parts that the typed model does not keep.
#[derive(Debug, Default)]
pub struct Places {
    /// Each workflow-level `env` value.
    pub env: IndexMap<String, Pos>,
    /// Each workflow-level `outputs` value.
    pub outputs: IndexMap<String, Pos>,
}

/// Converts a whole document; problems go to `r`. Returns a workflow even when some parts were
/// wrong (they are left out), so that later checks can still run; the caller decides.
pub fn convert_workflow(
    r: &mut Reader<'_>,
    root: &Node,
    default_name: &str,
) -> Option<(Workflow, Places)> {
    let Value::Map(entries) = &root.value else {
        r.error(
            root.pos,
            format!(
                "a workflow must be a mapping with `name:` and `steps:`, not {}",
                root.value.type_name()
            ),
            Some("start the file with `name: my-workflow` and a `steps:` list".into()),
        );
        return None;
    };
    let mut t = Table::new(entries);

    let name = t
        .get(r, "name", &[])
        .and_then(|n| r.non_empty_string(n, "name", "name: release"))
        .unwrap_or_else(|| default_name.to_string());
    let description = t
        .get(r, "description", &[])
        .and_then(|n| r.string(n, "description", "description: Test and deploy"));
    let version = t
        .get(r, "version", &[])
        .and_then(|n| r.string(n, "version", "version: 1.0.0"));
    let params = t
        .get(r, "params", &["parameters"])
        .map(|n| convert_params(r, n))
        .unwrap_or_default();
    let (env, env_places) = t
        .get(r, "env", &[])
        .map(|n| r.string_map(n, "env", "env: { RUST_LOG: info }"))
        .unwrap_or_default();
    let secrets = t
        .get(r, "secrets", &[])
        .and_then(|n| r.string_list(n, "secrets", "secrets: [DEPLOY_TOKEN]"))
        .unwrap_or_default();
    let secrets = secret_names(r, secrets);
    let env_file = t.get(r, "env_file", &["envFile"]).and_then(|n| {
        r.non_empty_string(n, "env_file", "env_file: .env")
            .map(|s| (s, n.pos))
    });
    let defaults = t
        .get(r, "defaults", &[])
        .map(|n| convert_defaults(r, n))
        .unwrap_or_default();
    let concurrency = t
        .get(r, "concurrency", &["maxConcurrency", "max_concurrency"])
        .and_then(|n| r.int(n, "concurrency", 1, 100_000))
        .and_then(|n| usize::try_from(n).ok());
    let mcp_servers = t
        .get(r, "mcp_servers", &["mcpServers"])
        .map(|n| super::convert_mcp::mcp_servers(r, n))
        .unwrap_or_default();
    let memory_scope = t
        .get(r, "memory", &[])
        .and_then(|n| r.non_empty_string(n, "memory", "memory: team-ops"));
    let agents = t
        .get(r, "agents", &[])
        .map(|n| convert_agents(r, n))
        .unwrap_or_default();
    let schedule = t
        .get(r, "schedule", &[])
        .and_then(|n| super::schedule::convert_schedule(r, n));
    let hosts = t
        .get(r, "hosts", &[])
        .map(|n| super::convert_hosts::convert_hosts(r, n))
        .unwrap_or_default();

    let mut steps = Vec::new();
    match t.take(r, "steps", &[]) {
        None => r.error(
            root.pos,
            "the workflow has no `steps:`",
            Some("add a `steps:` list, e.g. `steps: [{ id: hello, run: echo hello }]`".into()),
        ),
        Some((_, node)) => match &node.value {
            Value::Seq(items) => {
                if items.is_empty() {
                    r.error(
                        node.pos,
                        "`steps` is empty",
                        Some(
                            "add at least one step, e.g. `- { id: hello, run: echo hello }`".into(),
                        ),
                    );
                }
                let base_retry = defaults.retry.clone().unwrap_or_default();
                steps.reserve_exact(items.len());
                // Some 570 bytes a step: mapped at once, not a page fault every seven steps.
                crate::prefault::spare_capacity(&mut steps);
                for (i, item) in items.iter().enumerate() {
                    if let Some(step) = convert_step(r, item, i, &base_retry) {
                        steps.push(step);
                    }
                }
            }
            other => r.error(
                node.pos,
                format!("`steps` must be a list, not {}", other.type_name()),
                Some("write each step as a list item starting with `- id: ...`".into()),
            ),
        },
    }
    let base_retry = defaults.retry.clone().unwrap_or_default();
    let handlers = super::handlers::convert_handlers(r, &mut t, &base_retry);
    steps.extend(handlers.steps);
    let notify = t
        .get(r, "notify", &[])
        .map(|n| super::notify::convert_notify(r, n))
        .unwrap_or_default();
    let (outputs, outputs_places) = t
        .get(r, "outputs", &[])
        .map(|n| {
            r.string_map(
                n,
                "outputs",
                "outputs: { version: \"{{ steps.build.output }}\" }",
            )
        })
        .unwrap_or_default();
    t.finish(r, "the workflow");

    let wf = Workflow {
        name,
        description,
        version,
        params,
        env,
        secrets,
        env_file,
        defaults,
        concurrency,
        agents,
        mcp_servers,
        memory_scope,
        hosts,
        steps,
        schedule,
        notify,
        outputs,
        repair_on_failure: handlers.repair,
        source: None,
    };
    let places = Places {
        env: env_places,
        outputs: outputs_places,
    };
    Some((wf, places))
}

/// `secrets:` entries must be environment variable names.
fn secret_names(r: &mut Reader<'_>, names: Vec<(String, Pos)>) -> IndexMap<String, Pos> {
    let mut out = IndexMap::new();
    for (name, pos) in names {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            out.insert(name, pos);
        } else {
            r.error(
                pos,
                format!("`{name}` in `secrets` is not an environment variable name"),
                Some(
                    "name the variable that holds the secret, e.g. `secrets: [DEPLOY_TOKEN]`, \
                     never the value itself"
                        .into(),
                ),
            );
        }
    }
    out
}

fn convert_params(r: &mut Reader<'_>, node: &Node) -> IndexMap<String, ParamSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = r.map(node, "params", "params: { env: { default: staging } }") else {
        return out;
    };
    for (key, value) in entries {
        if !is_identifier(key.name) {
            r.error(
                key.pos,
                format!("param name `{}` is not a plain name", key.name),
                Some(
                    "use letters, digits, `_` and `-`, starting with a letter or `_` \
                     (templates read it as `params.NAME`)"
                        .into(),
                ),
            );
            continue;
        }
        let mut spec = ParamSpec {
            pos: key.pos,
            ..ParamSpec::default()
        };
        match &value.value {
            Value::Map(fields) => {
                let mut t = Table::new(fields);
                let what = format!("params.{}", key.name);
                spec.default = t.get(r, "default", &[]).map(|n| n.value.to_json());
                if let Some(n) = t.get(r, "enum", &["choices"]) {
                    match &n.value {
                        Value::Seq(items) => {
                            if items.is_empty() {
                                r.error(
                                    n.pos,
                                    format!("`{what}.enum` is empty"),
                                    Some("list the allowed values, e.g. `enum: [staging, prod]`, or remove `enum`".into()),
                                );
                            }
                            spec.r#enum = Some(items.iter().map(|i| i.value.to_json()).collect());
                        }
                        other => r.error(
                            n.pos,
                            format!("`{what}.enum` must be a list, not {}", other.type_name()),
                            Some("write it like `enum: [staging, prod]`".into()),
                        ),
                    }
                }
                spec.required = t
                    .get(r, "required", &[])
                    .and_then(|n| r.bool(n, &format!("{what}.required")))
                    .unwrap_or(false);
                spec.description = t.get(r, "description", &[]).and_then(|n| {
                    r.string(n, &format!("{what}.description"), "description: Target")
                });
                t.finish(r, format_args!("param `{}`", key.name));
            }
            // A bare value is the default: `params: { env: staging }`.
            other => spec.default = Some(other.to_json()),
        }
        out.insert(key.name.to_string(), spec);
    }
    out
}

/// Letters, digits, `_` and `-`, starting with a letter or `_`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn convert_defaults(r: &mut Reader<'_>, node: &Node) -> Defaults {
    let mut defaults = Defaults::default();
    let Some(entries) = r.map(node, "defaults", "defaults: { timeout: 10m }") else {
        return defaults;
    };
    let mut t = Table::new(entries);
    defaults.timeout = read_timeout(r, &mut t, "defaults.timeout");
    defaults.retry = read_retry(r, &mut t, "defaults.retry", &RetryPolicy::default());
    t.finish(r, "`defaults`");
    defaults
}

/// Reads `timeout` (a duration) or `timeoutMs` (milliseconds) from a step or `defaults`.
pub fn read_timeout(r: &mut Reader<'_>, t: &mut Table<'_>, what: &str) -> Option<Dur> {
    let timeout = t.take(r, "timeout", &[]);
    let timeout_ms = t.take(r, "timeoutMs", &["timeout_ms"]);
    match (timeout, timeout_ms) {
        (Some((_, n)), None) => r.duration(n, what),
        (None, Some((_, n))) => r
            .int(n, "timeoutMs", 0, i64::MAX)
            .map(|ms| Dur(std::time::Duration::from_millis(ms.unsigned_abs()))),
        (Some(_), Some((k, _))) => {
            r.error(
                k.pos,
                "both `timeout` and `timeoutMs` are given",
                Some("keep one; `timeout: 30s` is the usual spelling".into()),
            );
            None
        }
        (None, None) => None,
    }
}

/// Reads `retry` (attempts in all, or the full policy) or `retries`/`maxRetries` (retries after
/// the first attempt). Fields not given come from `base` (the workflow's default policy).
pub fn read_retry(
    r: &mut Reader<'_>,
    t: &mut Table<'_>,
    what: &str,
    base: &RetryPolicy,
) -> Option<RetryPolicy> {
    let retry = t.take(r, "retry", &[]);
    let retries = t.take(r, "retries", &["maxRetries", "max_retries"]);
    match (retry, retries) {
        (Some((_, n)), None) => convert_retry(r, n, what, base),
        (None, Some((k, n))) => {
            let what = k.name.to_string();
            r.int(n, &what, 0, 1000).map(|n| RetryPolicy {
                max_attempts: u32::try_from(n).unwrap_or(1000) + 1,
                ..base.clone()
            })
        }
        (Some(_), Some((k, _))) => {
            r.error(
                k.pos,
                format!("both `retry` and `{}` are given", k.name),
                Some(
                    "keep one: `retry: 3` means 3 attempts in all, `maxRetries: 2` means 2 retries \
                     after the first attempt"
                        .into(),
                ),
            );
            None
        }
        (None, None) => None,
    }
}

fn convert_retry(
    r: &mut Reader<'_>,
    node: &Node,
    what: &str,
    base: &RetryPolicy,
) -> Option<RetryPolicy> {
    match &node.value {
        Value::Int(_) | Value::UInt(_) => {
            let n = r.int(node, what, 1, 1000)?;
            Some(RetryPolicy {
                max_attempts: u32::try_from(n).unwrap_or(1000),
                ..base.clone()
            })
        }
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let mut p = base.clone();
            if let Some(n) = t.get(r, "max_attempts", &["maxAttempts", "attempts"])
                && let Some(v) = r.int(n, &format!("{what}.max_attempts"), 1, 1000)
            {
                p.max_attempts = u32::try_from(v).unwrap_or(1000);
            }
            if let Some(n) = t.get(r, "initial", &["delay", "initial_delay", "initialDelay"])
                && let Some(d) = r.duration(n, &format!("{what}.initial"))
            {
                p.initial = d;
            }
            if let Some(n) = t.get(r, "max", &["max_delay", "maxDelay"])
                && let Some(d) = r.duration(n, &format!("{what}.max"))
            {
                p.max = d;
            }
            if let Some(n) = t.get(r, "multiplier", &["backoff", "factor"])
                && let Some(m) = r.float(n, &format!("{what}.multiplier"), 1.0, 100.0)
            {
                p.multiplier = m;
            }
            if let Some(n) = t.get(r, "jitter", &[])
                && let Some(j) = r.bool(n, &format!("{what}.jitter"))
            {
                p.jitter = j;
            }
            if let Some(n) = t.get(r, "on_exit_codes", &["onExitCodes", "exit_codes"]) {
                let codes_what = format!("{what}.on_exit_codes");
                let items: Vec<&Node> = match &n.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![n],
                };
                p.on_exit_codes = items
                    .into_iter()
                    .filter_map(|i| r.int(i, &codes_what, 0, 255))
                    .filter_map(|c| i32::try_from(c).ok())
                    .collect();
            }
            if p.initial > p.max {
                r.error(
                    node.pos,
                    format!(
                        "`{what}`: the first delay ({}) is longer than the cap `max` ({})",
                        p.initial, p.max
                    ),
                    Some("raise `max` or lower `initial`".into()),
                );
            }
            t.finish(r, format_args!("`{what}`"));
            Some(p)
        }
        other => {
            r.error(
                node.pos,
                format!(
                    "`{what}` must be a number of attempts or a mapping, not {}",
                    other.type_name()
                ),
                Some("write `retry: 3` (3 attempts in all) or `retry: { max_attempts: 3, initial: 1s }`".into()),
            );
            None
        }
    }
}

fn convert_agents(r: &mut Reader<'_>, node: &Node) -> IndexMap<String, AgentProfileSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = r.map(
        node,
        "agents",
        "agents: { reviewer: { system: You review code. } }",
    ) else {
        return out;
    };
    for (key, value) in entries {
        let what = format!("agents.{}", key.name);
        let mut profile = AgentProfileSpec::default();
        match &value.value {
            Value::Str(s) => profile.system = Some(s.to_string()),
            Value::Map(fields) => {
                let mut t = Table::new(fields);
                profile.name = t
                    .get(r, "name", &["displayName", "display_name"])
                    .and_then(|n| r.string(n, &format!("{what}.name"), "name: Reviewer"));
                profile.system = t
                    .get(r, "system", &["system_prompt", "systemPrompt", "prompt"])
                    .and_then(|n| {
                        r.string(n, &format!("{what}.system"), "system: You review code.")
                    });
                profile.provider = t.get(r, "provider", &[]).and_then(|n| {
                    profile.provider_pos = n.pos;
                    r.string(n, &format!("{what}.provider"), "provider: anthropic")
                });
                profile.model = t.get(r, "model", &[]).and_then(|n| {
                    r.string(n, &format!("{what}.model"), "model: claude-sonnet-4-5")
                });
                profile.temperature = t
                    .get(r, "temperature", &[])
                    .and_then(|n| r.float(n, &format!("{what}.temperature"), 0.0, 2.0));
                profile.capabilities = t
                    .get(r, "capabilities", &["abilities"])
                    .and_then(|n| {
                        r.string_list(n, &format!("{what}.capabilities"), "capabilities: [review]")
                    })
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
                    .unwrap_or_default();
                (profile.tools, profile.limits) = super::convert_tools::of_profile(r, &mut t);
                if let Some(n) = t.get(r, "delegates_to", &["delegatesTo"]) {
                    profile.delegates_to_pos = n.pos;
                    profile.delegates_to = r
                        .string_list(n, &format!("{what}.delegates_to"), "delegates_to: [writer]")
                        .map(|v| v.into_iter().map(|(s, _)| s).collect())
                        .unwrap_or_default();
                }
                t.finish(r, format_args!("agent `{}`", key.name));
            }
            other => {
                r.error(
                    value.pos,
                    format!(
                        "`{what}` must be a mapping or a system prompt, not {}",
                        other.type_name()
                    ),
                    Some(
                        "write it like `reviewer: { system: You review code., model: gpt-4o }`"
                            .into(),
                    ),
                );
                continue;
            }
        }
        out.insert(key.name.to_string(), profile);
    }
    out
}
