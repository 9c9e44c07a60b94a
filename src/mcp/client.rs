//! A JSON-RPC 2.0 client of one MCP server over its stdin and stdout (newline-delimited
//! messages, as the protocol's stdio transport says).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

use crate::spec::McpServerSpec;
use crate::steps::LogSink;
use crate::store::LogStream;

/// The protocol revision baton speaks.
const PROTOCOL_VERSION: &str = "2025-06-18";
/// Longest message read from a server.
const MAX_MESSAGE: u64 = 16 * 1024 * 1024;
/// How long a server has to start and list its tools.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A tool as a server lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct McpToolInfo {
    /// Its name on the server.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    #[serde(default, rename = "inputSchema")]
    pub input_schema: Value,
    /// Hints: `readOnlyHint` says it changes nothing.
    #[serde(default)]
    pub annotations: Value,
}

impl McpToolInfo {
    /// The server says the tool changes nothing.
    pub fn read_only(&self) -> bool {
        self.annotations.get("readOnlyHint") == Some(&Value::Bool(true))
    }
}

/// One running server.
pub struct McpClient {
    name: String,
    io: Mutex<Io>,
}

struct Io {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    /// Killed when the client is dropped.
    _child: Child,
}

impl McpClient {
    /// Starts server `name`, initialises the session and lists its tools.
    pub async fn start(
        name: &str,
        spec: &McpServerSpec,
        cwd: &Path,
        log: LogSink,
    ) -> Result<(McpClient, Vec<McpToolInfo>), String> {
        let mut child = Command::new(&spec.command)
            .args(&spec.args)
            .envs(&spec.env)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start the MCP server `{name}` (`{}`): {e}; check `mcp_servers.{name}.command`",
                    spec.command
                )
            })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(format!("the MCP server `{name}` has no stdio pipes"));
        };
        let server = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log(LogStream::Stderr, &format!("[mcp {server}] {line}"));
            }
        });
        let client = McpClient {
            name: name.to_string(),
            io: Mutex::new(Io {
                stdin,
                stdout: BufReader::new(stdout),
                next_id: 1,
                _child: child,
            }),
        };
        let tools = tokio::time::timeout(START_TIMEOUT, client.handshake())
            .await
            .map_err(|_| {
                format!(
                    "the MCP server `{name}` did not answer `initialize` and `tools/list` within {}s",
                    START_TIMEOUT.as_secs()
                )
            })??;
        Ok((client, tools))
    }

    async fn handshake(&self) -> Result<Vec<McpToolInfo>, String> {
        self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "baton", "version": env!("CARGO_PKG_VERSION")},
            }),
        )
        .await?;
        self.notify("notifications/initialized").await?;
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request("tools/list", params).await?;
            let listed: Vec<McpToolInfo> =
                serde_json::from_value(page["tools"].clone()).map_err(|e| {
                    format!(
                        "the MCP server `{}` listed its tools wrongly: {e}",
                        self.name
                    )
                })?;
            tools.extend(listed);
            cursor = page["nextCursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                return Ok(tools);
            }
        }
    }

    /// Calls tool `tool`; returns its text and whether the server says it failed.
    pub async fn call(&self, tool: &str, arguments: &Value) -> Result<(String, bool), String> {
        let result = self
            .request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await?;
        let mut text = Vec::new();
        for item in result["content"].as_array().into_iter().flatten() {
            match item["type"].as_str() {
                Some("text") => text.push(item["text"].as_str().unwrap_or_default().to_string()),
                Some(other) => text.push(format!("[{other} content not shown]")),
                None => {}
            }
        }
        if text.is_empty()
            && let Some(s) = result.get("structuredContent")
        {
            text.push(s.to_string());
        }
        Ok((text.join("\n"), result["isError"] == Value::Bool(true)))
    }

    async fn notify(&self, method: &str) -> Result<(), String> {
        let mut io = self.io.lock().await;
        let msg = json!({"jsonrpc": "2.0", "method": method});
        self.send(&mut io, &msg).await
    }

    /// Sends a request and reads until its answer, answering the server's own requests.
    async fn request(&self, method: &str, params: Value) -> Result<Value, String> {
        let mut io = self.io.lock().await;
        let id = io.next_id;
        io.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&mut io, &msg).await?;
        loop {
            let msg = self.receive(&mut io).await?;
            if msg.get("method").is_some() {
                if let Some(their_id) = msg.get("id") {
                    // Requests from the server (`ping`, …): an empty answer or "not supported".
                    let reply = if msg["method"] == "ping" {
                        json!({"jsonrpc": "2.0", "id": their_id, "result": {}})
                    } else {
                        json!({"jsonrpc": "2.0", "id": their_id,
                               "error": {"code": -32601, "message": "not supported by baton"}})
                    };
                    self.send(&mut io, &reply).await?;
                }
                continue;
            }
            if msg.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(err) = msg.get("error") {
                return Err(format!(
                    "the MCP server `{}` answered `{method}` with an error: {}",
                    self.name,
                    err["message"].as_str().unwrap_or("(no message)")
                ));
            }
            return Ok(msg.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    async fn send(&self, io: &mut Io, msg: &Value) -> Result<(), String> {
        let mut line = msg.to_string();
        line.push('\n');
        io.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("cannot write to the MCP server `{}`: {e}", self.name))?;
        io.stdin
            .flush()
            .await
            .map_err(|e| format!("cannot write to the MCP server `{}`: {e}", self.name))
    }

    /// The next JSON message (lines that are not JSON are skipped).
    async fn receive(&self, io: &mut Io) -> Result<Value, String> {
        loop {
            let mut line = Vec::new();
            let n = (&mut io.stdout)
                .take(MAX_MESSAGE)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| format!("cannot read from the MCP server `{}`: {e}", self.name))?;
            if n == 0 {
                return Err(format!(
                    "the MCP server `{}` exited (its stderr is in the step's log)",
                    self.name
                ));
            }
            if n as u64 >= MAX_MESSAGE && line.last() != Some(&b'\n') {
                return Err(format!(
                    "the MCP server `{}` sent a message over {} MiB",
                    self.name,
                    MAX_MESSAGE >> 20
                ));
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                return Ok(v);
            }
        }
    }
}
