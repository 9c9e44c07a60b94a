//! `mcp_servers:`: the MCP servers whose tools a workflow's agent steps may call, each a
//! command baton starts and talks to over stdio (`command`, `args`, `env`) or a server it
//! reaches over streamable HTTP (`url`, `headers`, `headers_env`, `bearer_token_env`). Their
//! tools are named `SERVER.TOOL` in `tools:` (`SERVER.*` for all of them).

use indexmap::IndexMap;

use super::diag::{Diagnostic, Source};
use super::node::{MapKey, Node};
use super::reader::{Reader, Table};
use super::types::{McpServerSpec, Pos, StepKind, Workflow};

const EXAMPLE: &str = "mcp_servers: { calendar: { command: python3, args: [calendar.py] } }";
const HTTP_EXAMPLE: &str =
    "mcp_servers: { docs: { url: \"https://mcp.example.com/mcp\", bearer_token_env: DOCS_TOKEN } }";

/// `mcp_servers:` as a map of server name → how to reach it.
pub(super) fn mcp_servers(r: &mut Reader<'_>, node: &Node) -> IndexMap<String, McpServerSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = r.map(node, "mcp_servers", EXAMPLE) else {
        return out;
    };
    for (key, value) in entries {
        if !is_server_name(key.name) {
            r.error(
                key.pos,
                format!("`{}` cannot name an MCP server", key.name),
                Some("use letters, digits, `-` and `_` (its tools are named `NAME.tool`)".into()),
            );
            continue;
        }
        if let Some(spec) = server(r, key, value) {
            out.insert(key.name.to_string(), spec);
        }
    }
    out
}

/// One server's entry: a `command` or a `url`, never both.
fn server(r: &mut Reader<'_>, key: &MapKey, value: &Node) -> Option<McpServerSpec> {
    let what = format!("mcp_servers.{}", key.name);
    let fields = r.map(value, &what, EXAMPLE)?;
    let mut t = Table::new(fields);
    let string = |r: &mut Reader<'_>, t: &mut Table<'_>, field: &'static str, example: &str| {
        t.get(r, field, &[])
            .and_then(|n| r.non_empty_string(n, &format!("{what}.{field}"), example))
    };
    let command = string(r, &mut t, "command", "command: python3");
    let url = string(r, &mut t, "url", "url: https://mcp.example.com/mcp");
    let bearer_token_env = string(
        r,
        &mut t,
        "bearer_token_env",
        "bearer_token_env: DOCS_TOKEN",
    );
    let args = t
        .get(r, "args", &[])
        .and_then(|n| r.string_list(n, &format!("{what}.args"), "args: [server.py]"))
        .map(|v| v.into_iter().map(|(s, _)| s).collect())
        .unwrap_or_default();
    let mut map = |r: &mut Reader<'_>, field: &'static str, example: &str| {
        t.get(r, field, &[])
            .map(|n| r.string_map(n, &format!("{what}.{field}"), example).0)
            .unwrap_or_default()
    };
    let env = map(r, "env", "env: { TZ: UTC }");
    let headers = map(r, "headers", "headers: { X-Team: ops }");
    let headers_env = map(r, "headers_env", "headers_env: { X-Api-Key: DOCS_KEY }");
    t.finish(r, format_args!("MCP server `{}`", key.name));
    let spec = McpServerSpec {
        command: command.clone().unwrap_or_default(),
        args,
        env,
        url: url.clone(),
        headers,
        headers_env,
        bearer_token_env,
        pos: key.pos,
    };
    match shape_problem(key.name, &spec) {
        Some(problem) => {
            let example = if url.is_some() { HTTP_EXAMPLE } else { EXAMPLE };
            r.error(
                value.pos,
                problem,
                Some(format!("write it like `{example}`")),
            );
            None
        }
        None => Some(spec),
    }
}

/// What is wrong with a server's shape (no `command` nor `url`, both, keys of the other
/// transport, a URL that is not http(s), a variable name that cannot be one), if anything.
/// The config file's `[mcp_servers.NAME]` is checked by this too.
pub fn shape_problem(name: &str, s: &McpServerSpec) -> Option<String> {
    let stdio_keys = !s.args.is_empty() || !s.env.is_empty();
    let http_keys =
        !s.headers.is_empty() || !s.headers_env.is_empty() || s.bearer_token_env.is_some();
    match (&s.url, s.command.is_empty()) {
        (None, true) => Some(format!(
            "MCP server `{name}` has no `command` (stdio) or `url` (HTTP)"
        )),
        (Some(_), false) => Some(format!(
            "MCP server `{name}` has both `command` and `url`: keep the one it speaks"
        )),
        (None, false) if http_keys => Some(format!(
            "MCP server `{name}` is started with `command`, so `headers`, `headers_env` and \
             `bearer_token_env` do not apply (they are for a `url`)"
        )),
        (Some(_), true) if stdio_keys => Some(format!(
            "MCP server `{name}` is reached at its `url`, so `args` and `env` do not apply \
             (they are for a `command`)"
        )),
        (Some(url), true) if !(url.starts_with("http://") || url.starts_with("https://")) => Some(
            format!("MCP server `{name}` has url `{url}`, which is not an http:// or https:// URL"),
        ),
        _ => s
            .headers_env
            .values()
            .chain(&s.bearer_token_env)
            .find(|v| !is_var_name(v))
            .map(|v| {
                format!(
                    "MCP server `{name}`: `{v}` is not an environment variable name (name the \
                     variable that holds the secret, not the secret)"
                )
            }),
    }
}

fn is_var_name(v: &str) -> bool {
    !v.is_empty()
        && !v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Letters, digits, `-` and `_`.
pub(super) fn is_server_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks a `tools:` entry naming an MCP tool (`SERVER.TOOL` or `SERVER.*`) for its shape;
/// returns whether it is one. Whether the server is declared (by the workflow or the config
/// file) is [`check_servers`]'s question.
pub(super) fn check_tool(r: &mut Reader<'_>, name: &str, pos: Pos) -> bool {
    let Some((server, tool)) = name.split_once('.') else {
        return false;
    };
    if !is_server_name(server) || tool.is_empty() {
        r.error(
            pos,
            format!("`{name}` is not a tool name"),
            Some("an MCP server's tool is `SERVER.TOOL`, or `SERVER.*` for all of them".into()),
        );
    }
    true
}

/// `SERVER.TOOL` names, of agent steps and of workflow-local profiles, whose server neither
/// the workflow's `mcp_servers:` nor `configured` (the config file's `[mcp_servers]`)
/// declares.
pub fn check_servers(wf: &Workflow, configured: &[String], src: &Source<'_>) -> Vec<Diagnostic> {
    let declared: Vec<&str> = wf
        .mcp_servers
        .keys()
        .chain(configured)
        .map(String::as_str)
        .collect();
    let hint = if declared.is_empty() {
        "declare it under the workflow's `mcp_servers:` or as `[mcp_servers.NAME]` in the \
         config file; none is declared"
            .to_string()
    } else {
        format!(
            "declare it under the workflow's `mcp_servers:` or as `[mcp_servers.NAME]` in the \
             config file; the declared servers are {}",
            declared.join(", ")
        )
    };
    let mut out = Vec::new();
    let mut check = |tools: &[super::types::ToolUse], pos: Pos, whose: String| {
        for t in tools {
            let Some((server, _)) = t.name.split_once('.') else {
                continue;
            };
            if !declared.contains(&server) {
                out.push(
                    Diagnostic::at(
                        src,
                        pos,
                        format!(
                            "{whose}: `{}` names the MCP server `{server}`, which is not declared",
                            t.name
                        ),
                    )
                    .with_hint(hint.clone()),
                );
            }
        }
    };
    for step in &wf.steps {
        if let StepKind::Agent(a) = &step.kind {
            let pos = step
                .pos
                .fields
                .get("tools")
                .copied()
                .unwrap_or(step.pos.body);
            check(&a.tools, pos, format!("step `{}`", step.id));
        }
    }
    for (name, profile) in &wf.agents {
        check(&profile.tools, Pos::UNKNOWN, format!("agent `{name}`"));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::spec::parse_str;
    use std::path::Path;

    #[test]
    fn servers_are_read_and_their_tools_checked_against_them() {
        let yaml = "mcp_servers:\n  calendar: { command: python3, args: [cal.py], env: { TZ: UTC } }\nsteps:\n  - id: a\n    agent: writer\n    prompt: hi\n    tools: [calendar.list_events, calendar.*]\n";
        let wf = parse_str(yaml, Path::new("wf.yaml")).unwrap_or_else(|d| panic!("{d}"));
        let cal = &wf.mcp_servers["calendar"];
        assert_eq!((cal.command.as_str(), cal.args.len()), ("python3", 1));
        assert_eq!(cal.env["TZ"], "UTC");
        let bad = "mcp_servers:\n  cal: { args: [x] }\n  web: { command: x, url: http://x }\n  api: { url: ftp://x }\n  key: { url: http://x, bearer_token_env: sk-123 }\nsteps:\n  - id: a\n    agent: writer\n    prompt: hi\n    tools: [cal., read_file]\n";
        let d = parse_str(bad, Path::new("wf.yaml"))
            .unwrap_err()
            .to_string();
        for want in [
            "MCP server `cal` has no `command` (stdio) or `url` (HTTP)",
            "MCP server `web` has both `command` and `url`",
            "url `ftp://x`, which is not an http:// or https:// URL",
            "`sk-123` is not an environment variable name",
            "`cal.` is not a tool name",
        ] {
            assert!(d.contains(want), "{want}: {d}");
        }
        let http = "mcp_servers:\n  docs: { url: 'http://127.0.0.1:9/mcp', headers: { X-Team: ops }, headers_env: { X-Key: DOCS_KEY }, bearer_token_env: DOCS_TOKEN }\nsteps:\n  - id: a\n    agent: writer\n    prompt: hi\n    tools: [docs.*, mail.send, gh.search]\n";
        let wf = parse_str(http, Path::new("wf.yaml")).unwrap_or_else(|d| panic!("{d}"));
        let docs = &wf.mcp_servers["docs"];
        assert_eq!(docs.url.as_deref(), Some("http://127.0.0.1:9/mcp"));
        assert_eq!(docs.headers_env["X-Key"], "DOCS_KEY");
        let src = crate::spec::diag::Source::new("wf.yaml", http);
        let problems = super::check_servers(&wf, &["gh".to_string()], &src);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let text = problems[0].to_string();
        assert!(
            text.contains(
                "step `a`: `mail.send` names the MCP server `mail`, which is not declared"
            ) && text.contains("the declared servers are docs, gh"),
            "{text}"
        );
    }
}
