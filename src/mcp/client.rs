//! A client of one MCP server through the official Rust SDK (`rmcp`): a program baton starts
//! and speaks to over its stdin and stdout, or a server it reaches over streamable HTTP. The
//! SDK does the protocol (version negotiation, sessions, server requests, pagination); this
//! file starts the transport, lists the tools and turns a call's result into text.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::secret::ServerSecrets;
use crate::secrets::Redactor;
use crate::spec::McpServerSpec;
use crate::steps::LogSink;
use crate::store::LogStream;

/// How long a server has to start (or answer), initialise and list its tools.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A tool as a server lists it.
#[derive(Debug, Clone)]
pub struct McpToolInfo {
    /// Its name on the server.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    pub input_schema: Value,
    /// The server says it changes nothing (`readOnlyHint`).
    pub read_only: bool,
}

impl From<rmcp::model::Tool> for McpToolInfo {
    fn from(t: rmcp::model::Tool) -> Self {
        McpToolInfo {
            name: t.name.to_string(),
            description: t.description.map(|d| d.to_string()),
            input_schema: Value::Object((*t.input_schema).clone()),
            read_only: t
                .annotations
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
        }
    }
}

/// One connected server; dropping it ends the session (and stops a started program).
pub struct McpClient {
    name: String,
    service: RunningService<RoleClient, ClientConfig>,
    /// The secrets sent to it, masked in whatever it says back.
    redactor: Redactor,
}

impl McpClient {
    /// Connects to server `name` (a program started in `cwd`, its stderr going to `log`, or
    /// an HTTP endpoint), initialises the session and lists its tools.
    pub async fn start(
        name: &str,
        spec: &McpServerSpec,
        cwd: &Path,
        log: LogSink,
    ) -> Result<(McpClient, Vec<McpToolInfo>), String> {
        let secrets = ServerSecrets::resolve(name, spec, &crate::providers::process_env)?;
        let redactor = secrets.redactor();
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("baton", env!("CARGO_PKG_VERSION")),
        );
        let late = || {
            format!(
                "the MCP server `{name}` did not initialise and list its tools within {}s",
                START_TIMEOUT.as_secs()
            )
        };
        let connect = async {
            let service = match &spec.url {
                Some(url) => {
                    let transport = http_transport(name, url, spec, &secrets)?;
                    info.serve(transport).await
                }
                None => {
                    let transport = child(name, spec, cwd, log, redactor.clone())?;
                    info.serve(transport).await
                }
            }
            .map_err(|e| {
                format!(
                    "the MCP server `{name}` did not start a session: {}",
                    redactor.redact(&error_chain(&e))
                )
            })?;
            let tools = service.list_all_tools().await.map_err(|e| {
                format!(
                    "the MCP server `{name}` did not list its tools: {}",
                    redactor.redact(&error_chain(&e))
                )
            })?;
            Ok::<_, String>((service, tools))
        };
        let (service, tools) = tokio::time::timeout(START_TIMEOUT, connect)
            .await
            .map_err(|_| late())??;
        let client = McpClient {
            name: name.to_string(),
            service,
            redactor,
        };
        Ok((client, tools.into_iter().map(McpToolInfo::from).collect()))
    }

    /// Calls tool `tool`; returns its text and whether the server says it failed.
    pub async fn call(&self, tool: &str, arguments: &Value) -> Result<(String, bool), String> {
        let mut params = CallToolRequestParams::new(tool.to_string());
        match arguments {
            Value::Object(map) => params = params.with_arguments(map.clone()),
            Value::Null => {}
            other => {
                return Err(format!(
                    "the arguments of `{}.{tool}` must be a JSON object, not {other}",
                    self.name
                ));
            }
        }
        let result = self.service.call_tool(params).await.map_err(|e| {
            format!(
                "the MCP server `{}` failed the call to `{tool}`: {}",
                self.name,
                self.redactor.redact(&error_chain(&e))
            )
        })?;
        let mut text: Vec<String> = result
            .content
            .iter()
            .map(|block| match block.as_text() {
                Some(t) => t.text.clone(),
                None => "[non-text content not shown]".to_string(),
            })
            .collect();
        if text.is_empty()
            && let Some(s) = &result.structured_content
        {
            text.push(s.to_string());
        }
        let text = self.redactor.redact(&text.join("\n")).into_owned();
        Ok((text, result.is_error == Some(true)))
    }
}

/// The server's program, started in `cwd` with the server's `env` added to baton's own, in a
/// process group of its own (stopping the server stops whatever it started); its stderr
/// goes to `log`, line by line.
fn child(
    name: &str,
    spec: &McpServerSpec,
    cwd: &Path,
    log: LogSink,
    redactor: Redactor,
) -> Result<TokioChildProcess, String> {
    let mut command = tokio::process::Command::new(&spec.command);
    command
        .args(&spec.args)
        .envs(&spec.env)
        .current_dir(cwd)
        .kill_on_drop(true);
    let mut wrapped = process_wrap::tokio::CommandWrap::from(command);
    wrapped.wrap(process_wrap::tokio::ProcessGroup::leader());
    let (process, stderr) = TokioChildProcess::builder(wrapped)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start the MCP server `{name}` (`{}`): {e}; check `mcp_servers.{name}.command`",
                spec.command
            )
        })?;
    if let Some(stderr) = stderr {
        let server = name.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = redactor.redact(&line).into_owned();
                log(LogStream::Stderr, &format!("[mcp {server}] {line}"));
            }
        });
    }
    Ok(process)
}

/// The streamable HTTP transport to `url`, with the server's headers and secrets, over
/// baton's one HTTP client (rustls).
fn http_transport(
    name: &str,
    url: &str,
    spec: &McpServerSpec,
    secrets: &ServerSecrets,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, String> {
    let client = crate::steps::http::client()?;
    let mut headers = HashMap::new();
    let plain = spec.headers.iter().map(|(k, v)| (k, v, false));
    let secret = secrets.headers.iter().map(|(k, v)| (k, v, true));
    for (header, value, sensitive) in plain.chain(secret) {
        let bad = |what: &str| format!("MCP server `{name}`: header `{header}` has {what}");
        let header_name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| bad("a name that cannot be an HTTP header's"))?;
        let mut header_value = HeaderValue::from_str(value)
            .map_err(|_| bad("a value that cannot be sent (a control character?)"))?;
        header_value.set_sensitive(sensitive);
        headers.insert(header_name, header_value);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers);
    if let Some(token) = &secrets.bearer {
        config = config.auth_header(token.clone());
    }
    Ok(StreamableHttpClientTransport::with_client(client, config))
}

/// An error and its causes, joined with `: `.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::providers::client::error_chain(e)
}
