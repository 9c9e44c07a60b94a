//! `mcp_servers:`: the MCP servers whose tools a workflow's agent steps may call, each a
//! command baton starts and talks to over stdio (`command`, `args`, `env`). Their tools are
//! named `SERVER.TOOL` in `tools:` (`SERVER.*` for all of them).

use indexmap::IndexMap;

use super::node::Node;
use super::reader::{Reader, Table};
use super::types::{McpServerSpec, Pos};

const EXAMPLE: &str = "mcp_servers: { calendar: { command: python3, args: [calendar.py] } }";

/// `mcp_servers:` as a map of server name → how to start it.
pub(super) fn mcp_servers(r: &mut Reader<'_>, node: &Node) -> IndexMap<String, McpServerSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = r.map(node, "mcp_servers", EXAMPLE) else {
        return out;
    };
    for (key, value) in entries {
        if !is_server_name(&key.name) {
            r.error(
                key.pos,
                format!("`{}` cannot name an MCP server", key.name),
                Some("use letters, digits, `-` and `_` (its tools are named `NAME.tool`)".into()),
            );
            continue;
        }
        let what = format!("mcp_servers.{}", key.name);
        let Some(fields) = r.map(value, &what, EXAMPLE) else {
            continue;
        };
        let mut t = Table::new(fields);
        let command = t
            .get(r, "command", &[])
            .and_then(|n| r.non_empty_string(n, &format!("{what}.command"), "command: python3"));
        let args = t
            .get(r, "args", &[])
            .and_then(|n| r.string_list(n, &format!("{what}.args"), "args: [server.py]"))
            .map(|v| v.into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default();
        let env = t
            .get(r, "env", &[])
            .map(|n| {
                r.string_map(n, &format!("{what}.env"), "env: { TZ: UTC }")
                    .0
            })
            .unwrap_or_default();
        if let Some(n) = t.get(r, "url", &[]) {
            r.error(
                n.pos,
                format!("`{what}.url`: MCP servers over HTTP are not supported yet"),
                Some("start the server over stdio with `command:` and `args:`".into()),
            );
        }
        t.finish(r, &format!("MCP server `{}`", key.name));
        let Some(command) = command else {
            r.error(
                value.pos,
                format!("MCP server `{}` has no `command`", key.name),
                Some(format!("write it like `{EXAMPLE}`")),
            );
            continue;
        };
        out.insert(
            key.name.clone(),
            McpServerSpec {
                command,
                args,
                env,
                pos: key.pos,
            },
        );
    }
    out
}

/// Letters, digits, `-` and `_`.
pub(super) fn is_server_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks a `tools:` entry naming an MCP tool (`SERVER.TOOL` or `SERVER.*`) against the
/// declared servers; returns whether it is one.
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
    } else if !r.mcp_servers.iter().any(|s| s == server) {
        let declared = if r.mcp_servers.is_empty() {
            "the workflow declares no `mcp_servers:`".to_string()
        } else {
            format!("the declared servers are {}", r.mcp_servers.join(", "))
        };
        r.error(
            pos,
            format!("`{name}` names the MCP server `{server}`, which is not declared"),
            Some(format!("add it under `mcp_servers:`; {declared}")),
        );
    }
    true
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
        let bad = "mcp_servers:\n  cal: { args: [x] }\n  web: { command: x, url: http://x }\nsteps:\n  - id: a\n    agent: writer\n    prompt: hi\n    tools: [mail.send, cal., read_file]\n";
        let d = parse_str(bad, Path::new("wf.yaml"))
            .unwrap_err()
            .to_string();
        for want in [
            "MCP server `cal` has no `command`",
            "not supported yet",
            "`mail.send` names the MCP server `mail`, which is not declared",
            "`cal.` is not a tool name",
        ] {
            assert!(d.contains(want), "{want}: {d}");
        }
    }
}
