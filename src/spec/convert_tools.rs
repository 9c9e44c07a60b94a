//! An agent step's `tools:` list and loop budgets (`max_turns`, `max_tool_calls`,
//! `max_tokens_total`, `max_tool_output`).

use indexmap::IndexMap;

use super::diag::did_you_mean;
use super::node::{Node, Value};
use super::reader::{Reader, Table};
use super::types::{AGENT_TOOLS, AgentLimits, BUILTIN_TOOLS, CallApproval, Pos, StepKind, ToolUse};

const EXAMPLE: &str = "tools: [read_file, {name: shell, approve: false}]";

/// `tools:`: names, or `{name, approve}` mappings. Unknown and repeated names are errors.
pub(super) fn tools(r: &mut Reader<'_>, node: &Node) -> Vec<ToolUse> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        _ => vec![node],
    };
    let mut out: Vec<ToolUse> = Vec::new();
    for item in items {
        let Some((name, approve, pos)) = entry(r, item) else {
            continue;
        };
        if super::convert_mcp::check_tool(r, &name, pos) {
            // An MCP server's tool, checked against the declared servers.
        } else if !BUILTIN_TOOLS.contains(&name.as_str()) && !AGENT_TOOLS.contains(&name.as_str()) {
            let all = BUILTIN_TOOLS.iter().chain(&AGENT_TOOLS).copied();
            let hint = did_you_mean(&name, all.clone()).unwrap_or_else(|| {
                format!(
                    "the built-in tools are {}",
                    all.collect::<Vec<_>>().join(", ")
                )
            });
            r.error(pos, format!("`{name}` is not a tool baton has"), Some(hint));
            continue;
        }
        if out.iter().any(|t| t.name == name) {
            r.error(
                pos,
                format!("tool `{name}` is listed twice"),
                Some("keep one entry per tool".into()),
            );
            continue;
        }
        out.push(ToolUse { name, approve });
    }
    out
}

fn entry(r: &mut Reader<'_>, item: &Node) -> Option<(String, Option<bool>, Pos)> {
    match &item.value {
        Value::Map(entries) => {
            let mut t = Table::new(entries);
            let name = t.get(r, "name", &[]);
            let approve = t.get(r, "approve", &[]).and_then(|n| r.bool(n, "approve"));
            t.finish(r, "a tool entry");
            match name {
                Some(n) => {
                    let name = r.non_empty_string(n, "name", "name: shell")?;
                    Some((name, approve, n.pos))
                }
                None => {
                    r.error(
                        item.pos,
                        "a tool entry has no `name`",
                        Some(format!("write it like `{EXAMPLE}`")),
                    );
                    None
                }
            }
        }
        _ => r
            .non_empty_string(item, "tools", EXAMPLE)
            .map(|name| (name, None, item.pos)),
    }
}

/// `tools:` and the budgets of a workflow-local agent profile.
pub(super) fn of_profile(r: &mut Reader<'_>, t: &mut Table<'_>) -> (Vec<ToolUse>, AgentLimits) {
    let tools = t
        .get(r, "tools", &[])
        .map(|n| tools(r, n))
        .unwrap_or_default();
    let mut side: IndexMap<&'static str, (&Node, Pos)> = IndexMap::new();
    const LIMITS: [(&str, &[&str]); 4] = [
        ("max_turns", &["maxTurns"]),
        ("max_tool_calls", &["maxToolCalls"]),
        ("max_tokens_total", &["maxTokensTotal"]),
        ("max_tool_output", &["maxToolOutput"]),
    ];
    for (key, alias) in LIMITS {
        if let Some((k, n)) = t.take(r, key, alias) {
            side.insert(key, (n, k.pos));
        }
    }
    (tools, limits(r, &side))
}

/// The loop budgets among an agent step's side keys.
pub(super) fn limits(
    r: &mut Reader<'_>,
    side: &IndexMap<&'static str, (&Node, Pos)>,
) -> AgentLimits {
    let mut int = |key: &str, max: i64| {
        side.get(key)
            .and_then(|(n, _)| r.int(n, key, 1, max))
            .and_then(|v| u64::try_from(v).ok())
    };
    let small = |v: Option<u64>| v.and_then(|v| u32::try_from(v).ok());
    AgentLimits {
        max_turns: small(int("max_turns", 10_000)),
        max_tool_calls: small(int("max_tool_calls", 100_000)),
        max_tokens_total: int("max_tokens_total", i64::MAX),
        max_tool_output: small(int("max_tool_output", 16 * 1024 * 1024)),
    }
}

/// A step's `approve:`: `true` gates the step before it runs; on an agent step, `false`
/// trusts all its tool calls and a list names the tools whose calls ask first.
pub(super) fn step_approve(r: &mut Reader<'_>, node: Option<&Node>) -> (bool, CallApproval) {
    let Some(node) = node else {
        return (false, CallApproval::Default);
    };
    if let Value::Seq(_) = &node.value {
        let names = r
            .string_list(node, "approve", "approve: [shell, write_file]")
            .map(|items| items.into_iter().map(|(name, _)| name).collect())
            .unwrap_or_default();
        return (false, CallApproval::Only(names));
    }
    match r.bool(node, "approve") {
        Some(true) => (true, CallApproval::Default),
        Some(false) => (false, CallApproval::Trust),
        None => (false, CallApproval::Default),
    }
}

/// Puts the step's `approve:` on its agent spec; a list on any other step is an error.
pub(super) fn apply_call_approval(
    r: &mut Reader<'_>,
    kind: &mut StepKind,
    approval: CallApproval,
    node: Option<&Node>,
) {
    match kind {
        StepKind::Agent(agent) => agent.approve_calls = approval,
        _ => {
            if let (CallApproval::Only(_), Some(n)) = (&approval, node) {
                r.error(
                    n.pos,
                    "`approve` must be true or false, not a list",
                    Some(
                        "write `approve: true` to ask before the step runs (a list of tools \
                         is for an agent step's tool calls)"
                            .into(),
                    ),
                );
            }
        }
    }
}
