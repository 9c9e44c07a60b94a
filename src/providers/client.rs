//! One provider's HTTP client: builds the family's request, sends it, reads the answer whole
//! or as a stream, and turns every failure into a classified, key-free [`ProviderError`].

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::time::Instant;

use super::config::{ApiKey, Env, ProviderConfig, ProviderKind, redact};
use super::error::{self, ErrorKind, ProviderError};
use super::types::{ChatRequest, ChatResponse, Parsed, StreamParser, WireError};
use super::{anthropic, gemini, ollama, openai};

/// Error bodies are read up to this size; the rest is not needed to explain the failure.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A reqwest client for provider calls. Installs the `ring` rustls crypto provider first
/// (once per process; a provider installed earlier is kept).
pub fn http_client(connect_timeout: Option<Duration>) -> Result<reqwest::Client, String> {
    // Err means another provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder =
        reqwest::Client::builder().user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")));
    if let Some(limit) = connect_timeout {
        builder = builder.connect_timeout(limit);
    }
    builder
        .build()
        .map_err(|e| format!("could not set up the HTTP client: {}", error_chain(&e)))
}

/// An error and its causes, joined with `: ` (reqwest's top-level message alone rarely says
/// what happened).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A configured provider, ready to call.
pub struct ProviderClient {
    config: ProviderConfig,
    /// The key, or why it is missing (reported when the provider is called).
    key: Result<Option<ApiKey>, String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("config", &self.config)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ProviderClient {
    /// A client for `config`, reading its key from `env`. A missing key is not an error here:
    /// it is reported, naming the variable, when the provider is called or tested.
    pub fn new(config: ProviderConfig, env: Env<'_>) -> Result<Self, String> {
        config.validate()?;
        let http = http_client(config.connect_timeout())
            .map_err(|e| format!("provider `{}`: {e}", config.name))?;
        let key = config.resolve_key(env);
        Ok(ProviderClient { config, key, http })
    }

    /// The configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The key's value, when set (for redaction lists only).
    pub fn secret(&self) -> Option<&str> {
        self.key
            .as_ref()
            .ok()
            .and_then(|k| k.as_ref())
            .map(ApiKey::expose)
    }

    /// Why the key is missing, when it is.
    pub fn key_problem(&self) -> Option<&str> {
        self.key.as_ref().err().map(String::as_str)
    }

    /// Sends one request (one attempt, no retries). Streamed text is passed to `on_text` as it
    /// arrives; a whole answer is passed once at the end. On failure,
    /// [`ProviderError::output_began`] says whether `on_text` had already been called.
    pub async fn chat(
        &self,
        req: &ChatRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ChatResponse, ProviderError> {
        let started = Instant::now();
        let mut began = false;
        let result = match self.config.timeout() {
            Some(limit) => {
                match tokio::time::timeout(limit, self.attempt(req, on_text, &mut began, started))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(self.local(
                        ErrorKind::Timeout,
                        format!("no complete answer within {} (timeout)", show(limit)),
                    )),
                }
            }
            None => self.attempt(req, on_text, &mut began, started).await,
        };
        result.map_err(|mut e| {
            e.output_began = began;
            e.message = redact(
                &e.message,
                &self
                    .secret()
                    .map(str::to_string)
                    .into_iter()
                    .collect::<Vec<_>>(),
            );
            e
        })
    }

    fn local(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::local(&self.config.name, kind, message)
    }

    fn wire(&self, e: WireError, began: bool, request_id: &Option<String>) -> ProviderError {
        let mut err = self.local(e.kind, e.message);
        err.output_began = began;
        err.request_id = request_id.clone();
        err
    }

    async fn attempt(
        &self,
        req: &ChatRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
        began: &mut bool,
        started: Instant,
    ) -> Result<ChatResponse, ProviderError> {
        let key = match &self.key {
            Ok(k) => k.as_ref(),
            Err(problem) => return Err(self.local(ErrorKind::Auth, problem.clone())),
        };
        let model = req
            .model
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or(self.config.model());
        let kind = self.config.kind;
        let (url, body) = match kind {
            ProviderKind::Openai => openai::request(&self.config, model, req),
            ProviderKind::Anthropic => anthropic::request(&self.config, model, req),
            ProviderKind::Gemini => gemini::request(&self.config, model, req),
            ProviderKind::Ollama => ollama::request(&self.config, model, req),
        };
        let mut rb = self.http.post(&url).json(&body);
        if let Some(key) = key {
            rb = match kind {
                ProviderKind::Anthropic
                    if self.config.key_env() != Some("ANTHROPIC_AUTH_TOKEN") =>
                {
                    rb.header("x-api-key", key.expose())
                }
                ProviderKind::Gemini => rb.header("x-goog-api-key", key.expose()),
                _ => rb.bearer_auth(key.expose()),
            };
        }
        if kind == ProviderKind::Anthropic {
            rb = rb.header("anthropic-version", "2023-06-01");
        }
        let first_limit = self.config.first_byte_timeout();
        let first_deadline = first_limit.map(|d| started + d);
        let slow = |what: &str| {
            self.local(
                ErrorKind::Timeout,
                format!(
                    "no {what} within {} (first_byte_timeout)",
                    first_limit.map(show).unwrap_or_default()
                ),
            )
        };

        let mut resp = match within(first_deadline, rb.send()).await {
            None => return Err(slow("response")),
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                let class = if e.is_connect() {
                    ErrorKind::Connect
                } else if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Transport
                };
                return Err(self.local(class, format!("POST {url}: {}", error_chain(&e))));
            }
        };
        let status = resp.status().as_u16();
        let headers: HeaderMap = resp.headers().clone();
        let request_id = error::request_id(&headers);
        if !resp.status().is_success() {
            let body = read_error_body(&mut resp).await;
            return Err(error::from_http(
                &self.config.name,
                kind,
                status,
                &headers,
                &body,
            ));
        }

        let parsed = if req.stream {
            let mut parser: Box<dyn StreamParser> = match kind {
                ProviderKind::Openai => Box::<openai::OpenaiStream>::default(),
                ProviderKind::Anthropic => Box::<anthropic::AnthropicStream>::default(),
                ProviderKind::Gemini => Box::<gemini::GeminiStream>::default(),
                ProviderKind::Ollama => Box::<ollama::OllamaStream>::default(),
            };
            let mut text = String::new();
            let mut deltas = Vec::new();
            let mut first = true;
            loop {
                let next = if first {
                    first = false;
                    match within(first_deadline, resp.chunk()).await {
                        Some(r) => r,
                        None => return Err(slow("answer bytes")),
                    }
                } else {
                    resp.chunk().await
                };
                let bytes = match next {
                    Ok(Some(bytes)) => bytes,
                    Ok(None) => break,
                    Err(e) => {
                        let mut err = self.local(
                            ErrorKind::Transport,
                            format!("the connection broke mid-stream: {}", error_chain(&e)),
                        );
                        err.request_id = request_id;
                        return Err(err);
                    }
                };
                let fed = parser.feed(&bytes, &mut deltas);
                for d in deltas.drain(..) {
                    *began = true;
                    on_text(&d);
                    text.push_str(&d);
                }
                fed.map_err(|e| self.wire(e, *began, &request_id))?;
            }
            let end = parser.finish(&mut deltas);
            for d in deltas.drain(..) {
                *began = true;
                on_text(&d);
                text.push_str(&d);
            }
            let end = end.map_err(|e| self.wire(e, *began, &request_id))?;
            Parsed { text, ..end }
        } else {
            let bytes = match within(first_deadline, resp.bytes()).await {
                None => return Err(slow("answer")),
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    return Err(self.local(
                        ErrorKind::Transport,
                        format!(
                            "the connection broke while reading the answer: {}",
                            error_chain(&e)
                        ),
                    ));
                }
            };
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                self.wire(
                    WireError::bad_json("the answer", &e, &String::from_utf8_lossy(&bytes)),
                    false,
                    &request_id,
                )
            })?;
            let parsed = match kind {
                ProviderKind::Openai => openai::parse_response(&v),
                ProviderKind::Anthropic => anthropic::parse_response(&v),
                ProviderKind::Gemini => gemini::parse_response(&v),
                ProviderKind::Ollama => ollama::parse_response(&v),
            }
            .map_err(|e| self.wire(e, false, &request_id))?;
            if !parsed.text.is_empty() {
                *began = true;
                on_text(&parsed.text);
            }
            parsed
        };
        Ok(ChatResponse {
            provider: self.config.name.clone(),
            model: parsed.model.unwrap_or_else(|| model.to_string()),
            text: parsed.text,
            tool_calls: parsed.tool_calls,
            usage: parsed.usage,
            finish_reason: parsed.finish_reason,
            request_id,
            latency: started.elapsed(),
        })
    }
}

/// Awaits `fut`, giving up at `deadline` (None: no limit).
async fn within<F: std::future::Future>(deadline: Option<Instant>, fut: F) -> Option<F::Output> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, fut).await.ok(),
        None => Some(fut.await),
    }
}

async fn read_error_body(resp: &mut reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(bytes)) => body.extend_from_slice(&bytes),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}

/// A duration for messages: `2s`, `1.5s`, `250ms`.
pub fn show(d: Duration) -> String {
    crate::time::format_duration(d)
}
