//! A fake LLM provider server on 127.0.0.1 for tests: a real TCP server speaking HTTP/1.1
//! (hand-rolled, keep-alive, chunked streaming) and all four wire families — OpenAI Chat
//! Completions, Anthropic Messages, Gemini generateContent/streamGenerateContent and Ollama
//! `/api/chat` — streaming and not, chosen from the request's path and `stream` flag.
//!
//! Script it per request with [`FakeLlm::push`]: each request takes the next [`Reply`]; when the
//! script is empty the default reply (`Reply::Text("ok")` unless changed) answers. Every request
//! is recorded (path, lower-cased headers, JSON body, tokio time of arrival).
//!
//! Streams are written the awkward way real servers do: every event is split in two writes at
//! an arbitrary byte (even inside a UTF-8 character), OpenAI chunks alternate `data: ` and
//! `data:`, carry an OpenRouter-style `: comment`, unknown fields and the empty-choices usage
//! chunk; Anthropic sends `ping` and `event:` lines; Gemini uses CRLF and has no terminator.
//!
//! Include it with `#[path = "support/fake_llm.rs"] mod fake_llm;`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use baton::providers::{ProviderConfig, ProviderKind};
use baton::spec::Dur;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the fake answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A normal answer with this text, in the request's family and mode. For an Anthropic
    /// request with a forced tool, the text is sent as the tool input when it is JSON.
    Text(String),
    /// 429 with `retry-after: <secs>` and the family's rate-limit body.
    RateLimited {
        /// The `retry-after` header value.
        retry_after: String,
    },
    /// 500 with the family's server-error body.
    ServerError,
    /// 529 with Anthropic's overloaded body (any family).
    Overloaded,
    /// Any status, headers and body.
    Status {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body text.
        body: String,
    },
    /// HTTP 200, then `before` as streamed text, then the family's in-band error event.
    MidStreamError {
        /// Text sent before the error.
        before: String,
    },
    /// HTTP 200, then `before` as streamed text, then the connection is cut (the chunked
    /// body is never finished).
    Cut {
        /// Text sent before the cut.
        before: String,
    },
    /// HTTP 200, `before` streamed, and the body ends cleanly but without the terminator.
    NoTerminator {
        /// Text sent.
        before: String,
    },
    /// An assistant turn asking for tool calls (name, arguments), with `text` said alongside,
    /// in the request's family and mode: OpenAI `tool_calls` (streamed arguments cut in
    /// fragments), Anthropic `tool_use` blocks (`input_json_delta` fragments), Gemini
    /// `functionCall` parts (no ids, one chunk each), Ollama `tool_calls` (no ids).
    Calls {
        /// Text before the calls (may be empty).
        text: String,
        /// The calls.
        calls: Vec<(String, Value)>,
    },
    /// Streams `before`, then holds the answer open until `gate` is opened (never, if it is
    /// not), then streams `after` and ends normally: an answer still being written.
    Held {
        /// Text sent at once.
        before: String,
        /// What the rest waits for.
        gate: Gate,
        /// Text sent once the gate opens.
        after: String,
    },
    /// Waits `delay` (tokio time) before the status line, then answers `text`.
    SlowFirstByte {
        /// The wait.
        delay: Duration,
        /// The answer.
        text: String,
    },
}

/// What a [`Reply::Held`] answer waits for: the test opens it when it has seen what it
/// wanted to see of the answer's beginning.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::Semaphore>);

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate(Arc::new(tokio::sync::Semaphore::new(0)))
    }

    /// Lets one held answer go on.
    pub fn open(&self) {
        self.0.add_permits(1);
    }

    async fn pass(&self) {
        if let Ok(permit) = self.0.acquire().await {
            permit.forget();
        }
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Request path with query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The JSON body (Null when not JSON).
    pub body: Value,
    /// When it arrived (tokio clock).
    pub at: Instant,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct State {
    script: VecDeque<Reply>,
    default: Reply,
    requests: Vec<Recorded>,
}

/// A running fake provider; stops when dropped.
#[derive(Debug)]
pub struct FakeLlm {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeLlm {
    /// Starts a fake on an ephemeral port of 127.0.0.1 in the current tokio runtime.
    pub async fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake LLM server");
        let addr = listener
            .local_addr()
            .expect("local address of the fake LLM server");
        let state = Arc::new(Mutex::new(State {
            script: VecDeque::new(),
            default: Reply::Text("ok".into()),
            requests: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        FakeLlm { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues the reply for the next unanswered request.
    pub fn push(&self, reply: Reply) {
        lock(&self.state).script.push_back(reply);
    }

    /// The reply used when the script is empty.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.state).default = reply;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// A provider entry pointing at this fake: model `fake-model`, no key, and every timeout
    /// off (so paused-time tests have no timer racing loopback I/O).
    pub fn provider(&self, name: &str, kind: ProviderKind) -> ProviderConfig {
        let mut p = ProviderConfig::new(name, kind);
        p.base_url = Some(match kind {
            ProviderKind::Openai => format!("{}/v1", self.url()),
            _ => self.url(),
        });
        p.model = Some("fake-model".into());
        p.timeout = Some(Dur(Duration::ZERO));
        p.connect_timeout = Some(Dur(Duration::ZERO));
        p
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let head_end = loop {
            if let Some(at) = find(&buf, b"\r\n\r\n") {
                break at;
            }
            let mut chunk = [0u8; 8192];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("/")
            .to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let total = head_end + 4 + length;
        while buf.len() < total {
            let mut chunk = [0u8; 8192];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Value = serde_json::from_slice(&buf[head_end + 4..total]).unwrap_or(Value::Null);
        buf.drain(..total);
        let reply = {
            let mut s = lock(&state);
            s.requests.push(Recorded {
                path: path.clone(),
                headers,
                body: body.clone(),
                at: Instant::now(),
            });
            let next = s.script.pop_front();
            next.unwrap_or_else(|| s.default.clone())
        };
        if !respond(&mut socket, &path, &body, reply).await {
            return;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Openai,
    Anthropic,
    Gemini,
    Ollama,
}

fn family(path: &str) -> Option<Family> {
    let p = path.split('?').next().unwrap_or(path);
    if p.ends_with("/chat/completions") {
        Some(Family::Openai)
    } else if p.ends_with("/v1/messages") {
        Some(Family::Anthropic)
    } else if p.contains(":generateContent") || p.contains(":streamGenerateContent") {
        Some(Family::Gemini)
    } else if p.ends_with("/api/chat") {
        Some(Family::Ollama)
    } else {
        None
    }
}

fn is_stream(f: Family, path: &str, body: &Value) -> bool {
    match f {
        Family::Openai | Family::Anthropic => {
            body.get("stream").and_then(Value::as_bool) == Some(true)
        }
        Family::Gemini => path.contains(":streamGenerateContent"),
        Family::Ollama => body.get("stream").and_then(Value::as_bool) != Some(false),
    }
}

fn wants_tool(body: &Value) -> bool {
    body.pointer("/tool_choice/type").and_then(Value::as_str) == Some("tool")
}

/// Whitespace-separated words in the request's messages: the fake's "input tokens".
pub fn input_tokens(body: &Value) -> u64 {
    let text = body.to_string();
    text.split_whitespace().count() as u64 + 5
}

fn pieces(text: &str) -> Vec<String> {
    let parts: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
    if parts.is_empty() {
        vec![String::new()]
    } else {
        parts
    }
}

async fn write_head(
    socket: &mut TcpStream,
    status: u16,
    content_type: &str,
    extra: &[(String, String)],
    length: Option<usize>,
) -> bool {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\nx-request-id: req_fake\r\n"
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match length {
        Some(n) => head.push_str(&format!("content-length: {n}\r\n")),
        None => head.push_str("transfer-encoding: chunked\r\n"),
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await.is_ok()
}

async fn write_chunk(socket: &mut TcpStream, data: &[u8]) -> bool {
    if data.is_empty() {
        return true;
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    socket.write_all(&out).await.is_ok() && socket.flush().await.is_ok()
}

/// Writes one event as two chunks split in the middle (possibly inside a character).
async fn write_event(socket: &mut TcpStream, event: &str) -> bool {
    let bytes = event.as_bytes();
    let mid = bytes.len() / 2;
    write_chunk(socket, &bytes[..mid]).await && write_chunk(socket, &bytes[mid..]).await
}

async fn write_whole(
    socket: &mut TcpStream,
    status: u16,
    extra: &[(String, String)],
    body: &str,
) -> bool {
    write_head(socket, status, "application/json", extra, Some(body.len())).await
        && socket.write_all(body.as_bytes()).await.is_ok()
}

fn error_body(f: Option<Family>, status: u16) -> String {
    let (otype, atype, gstatus, msg) = match status {
        429 => (
            "rate_limit_exceeded",
            "rate_limit_error",
            "RESOURCE_EXHAUSTED",
            "Rate limit reached; try again later",
        ),
        529 => (
            "server_error",
            "overloaded_error",
            "UNAVAILABLE",
            "Overloaded",
        ),
        _ => (
            "server_error",
            "api_error",
            "INTERNAL",
            "The server had an error while processing your request",
        ),
    };
    match f {
        Some(Family::Openai) | None => {
            json!({"error":{"message":msg,"type":otype,"param":null,"code":otype}})
        }
        Some(Family::Anthropic) => {
            json!({"type":"error","error":{"type":atype,"message":msg},"request_id":"req_fake"})
        }
        Some(Family::Gemini) => json!({"error":{"code":status,"message":msg,"status":gstatus}}),
        Some(Family::Ollama) => json!({"error": msg}),
    }
    .to_string()
}

/// Answers one request; false when the connection must close.
async fn respond(socket: &mut TcpStream, path: &str, body: &Value, reply: Reply) -> bool {
    let Some(f) = family(path) else {
        return write_whole(
            socket,
            404,
            &[],
            r#"{"error":"no such endpoint on the fake"}"#,
        )
        .await;
    };
    match reply {
        Reply::Status {
            status,
            headers,
            body,
        } => write_whole(socket, status, &headers, &body).await,
        Reply::RateLimited { retry_after } => {
            write_whole(
                socket,
                429,
                &[("retry-after".into(), retry_after)],
                &error_body(Some(f), 429),
            )
            .await
        }
        Reply::ServerError => write_whole(socket, 500, &[], &error_body(Some(f), 500)).await,
        Reply::Overloaded => write_whole(socket, 529, &[], &error_body(Some(f), 529)).await,
        Reply::SlowFirstByte { delay, text } => {
            tokio::time::sleep(delay).await;
            answer(socket, f, path, body, &text, Ending::Complete).await
        }
        Reply::Text(text) => answer(socket, f, path, body, &text, Ending::Complete).await,
        Reply::Held {
            before,
            gate,
            after,
        } => {
            let parts: Vec<String> = pieces(&before).into_iter().chain(pieces(&after)).collect();
            let hold = (pieces(&before).len(), gate);
            answer_parts(socket, f, path, body, parts, Ending::Complete, Some(hold)).await
        }
        Reply::Calls { text, calls } => call_answer(socket, f, path, body, &text, &calls).await,
        Reply::MidStreamError { before } => {
            answer(socket, f, path, body, &before, Ending::Error).await
        }
        Reply::Cut { before } => answer(socket, f, path, body, &before, Ending::Cut).await,
        Reply::NoTerminator { before } => {
            answer(socket, f, path, body, &before, Ending::NoTerminator).await
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    Complete,
    Error,
    Cut,
    NoTerminator,
}

async fn answer(
    socket: &mut TcpStream,
    f: Family,
    path: &str,
    body: &Value,
    text: &str,
    ending: Ending,
) -> bool {
    answer_parts(socket, f, path, body, pieces(text), ending, None).await
}

/// Answers with the text in `parts`; with `hold`, waits at that part for the gate.
async fn answer_parts(
    socket: &mut TcpStream,
    f: Family,
    path: &str,
    body: &Value,
    parts: Vec<String>,
    ending: Ending,
    hold: Option<(usize, Gate)>,
) -> bool {
    let tokens_in = input_tokens(body);
    let text = parts.concat();
    let text = text.as_str();
    let tokens_out = parts.len() as u64;
    if !is_stream(f, path, body) {
        if let Some((_, gate)) = &hold {
            gate.pass().await;
        }
        if ending != Ending::Complete {
            // Without streaming, a broken answer is a truncated JSON body.
            let whole = whole_answer(f, body, text, tokens_in, tokens_out);
            let cut = &whole[..whole.len() / 2];
            if write_head(socket, 200, "application/json", &[], Some(whole.len())).await {
                let _ = socket.write_all(cut.as_bytes()).await;
            }
            let _ = socket.shutdown().await;
            return false;
        }
        let whole = whole_answer(f, body, text, tokens_in, tokens_out);
        return write_whole(socket, 200, &[], &whole).await;
    }
    let content_type = if f == Family::Ollama {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    };
    if !write_head(socket, 200, content_type, &[], None).await {
        return false;
    }
    let tool =
        f == Family::Anthropic && wants_tool(body) && serde_json::from_str::<Value>(text).is_ok();
    let mut events: Vec<String> = Vec::new();
    match f {
        Family::Openai => {
            events.push(": OPENROUTER PROCESSING\n\n".into());
            events.push(format!(
                "data: {}\n\n",
                json!({"id":"c1","object":"chat.completion.chunk","model":"fake-model","system_fingerprint":"fp_x",
                       "choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]})
            ));
            for (i, p) in parts.iter().enumerate() {
                let space = if i % 2 == 0 { "" } else { " " };
                events.push(format!(
                    "data:{space}{}\n\n",
                    json!({"id":"c1","object":"chat.completion.chunk","obfuscation":"x",
                           "choices":[{"index":0,"delta":{"content":p},"finish_reason":null}]})
                ));
            }
        }
        Family::Anthropic => {
            events.push(format!(
                "event: message_start\ndata: {}\n\n",
                json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"fake-model",
                       "content":[],"stop_reason":null,"usage":{"input_tokens":tokens_in,"output_tokens":1}}})
            ));
            let block = if tool {
                json!({"type":"tool_use","id":"toolu_1","name":"emit","input":{}})
            } else {
                json!({"type":"text","text":""})
            };
            events.push(format!(
                "event: content_block_start\ndata: {}\n\n",
                json!({"type":"content_block_start","index":0,"content_block":block})
            ));
            events.push("event: ping\ndata: {\"type\": \"ping\"}\n\n".into());
            for p in &parts {
                let delta = if tool {
                    json!({"type":"input_json_delta","partial_json":p})
                } else {
                    json!({"type":"text_delta","text":p})
                };
                events.push(format!(
                    "event: content_block_delta\ndata: {}\n\n",
                    json!({"type":"content_block_delta","index":0,"delta":delta})
                ));
            }
        }
        Family::Gemini => {
            for p in &parts {
                events.push(format!(
                    "data: {}\r\n\r\n",
                    json!({"candidates":[{"content":{"parts":[{"text":p}],"role":"model"},"index":0}],
                           "usageMetadata":{"promptTokenCount":tokens_in,"candidatesTokenCount":1},"modelVersion":"fake-model"})
                ));
            }
        }
        Family::Ollama => {
            for p in &parts {
                events.push(format!(
                    "{}\n",
                    json!({"model":"fake-model","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":p},"done":false})
                ));
            }
        }
    }
    // The events before the text are those not made of the parts.
    let held_at = hold.as_ref().map(|(k, _)| events.len() - parts.len() + k);
    for (i, e) in events.iter().enumerate() {
        if held_at == Some(i)
            && let Some((_, gate)) = &hold
        {
            gate.pass().await;
        }
        if !write_event(socket, e).await {
            return false;
        }
    }
    match ending {
        Ending::Cut => {
            let _ = socket.shutdown().await;
            return false;
        }
        Ending::Error => {
            let e = match f {
                Family::Openai => format!(
                    "data: {}\n\n",
                    json!({"error":{"message":"The server had an error while processing your request","type":"server_error"}})
                ),
                Family::Anthropic => format!(
                    "event: error\ndata: {}\n\n",
                    json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})
                ),
                Family::Gemini => format!(
                    "data: {}\r\n\r\n",
                    json!({"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}})
                ),
                Family::Ollama => format!(
                    "{}\n",
                    json!({"error":"an error was encountered while running the model"})
                ),
            };
            return write_event(socket, &e).await && socket.write_all(b"0\r\n\r\n").await.is_ok();
        }
        Ending::NoTerminator => {
            return socket.write_all(b"0\r\n\r\n").await.is_ok();
        }
        Ending::Complete => {}
    }
    let tail: Vec<String> = match f {
        Family::Openai => vec![
            format!(
                "data: {}\n\n",
                json!({"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})
            ),
            format!(
                "data: {}\n\n",
                json!({"id":"c1","choices":[],"usage":{"prompt_tokens":tokens_in,"completion_tokens":tokens_out,"total_tokens":tokens_in+tokens_out}})
            ),
            "data: [DONE]\n\n".into(),
        ],
        Family::Anthropic => vec![
            format!(
                "event: content_block_stop\ndata: {}\n\n",
                json!({"type":"content_block_stop","index":0})
            ),
            format!(
                "event: message_delta\ndata: {}\n\n",
                json!({"type":"message_delta","delta":{"stop_reason": if tool {"tool_use"} else {"end_turn"},"stop_sequence":null},"usage":{"output_tokens":tokens_out}})
            ),
            format!(
                "event: message_stop\ndata: {}\n\n",
                json!({"type":"message_stop"})
            ),
        ],
        Family::Gemini => vec![format!(
            "data: {}\r\n\r\n",
            json!({"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],
                   "usageMetadata":{"promptTokenCount":tokens_in,"candidatesTokenCount":tokens_out,"totalTokenCount":tokens_in+tokens_out}})
        )],
        Family::Ollama => vec![format!(
            "{}\n",
            json!({"model":"fake-model","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop",
                   "prompt_eval_count":tokens_in,"eval_count":tokens_out,"total_duration":1000})
        )],
    };
    for e in &tail {
        if !write_event(socket, e).await {
            return false;
        }
    }
    socket.write_all(b"0\r\n\r\n").await.is_ok() && socket.flush().await.is_ok()
}

fn whole_answer(f: Family, body: &Value, text: &str, tokens_in: u64, tokens_out: u64) -> String {
    match f {
        Family::Openai => json!({
            "id":"c1","object":"chat.completion","model":"fake-model","system_fingerprint":"fp_x",
            "choices":[{"index":0,"message":{"role":"assistant","content":text,"refusal":null},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":tokens_in,"completion_tokens":tokens_out,"total_tokens":tokens_in+tokens_out}
        }),
        Family::Anthropic => {
            let parsed = serde_json::from_str::<Value>(text).ok().filter(|_| wants_tool(body));
            let content = match parsed {
                Some(input) => json!([{"type":"tool_use","id":"toolu_1","name":"emit","input":input}]),
                None => json!([{"type":"text","text":text}]),
            };
            json!({"id":"msg_1","type":"message","role":"assistant","model":"fake-model","content":content,
                   "stop_reason":"end_turn","usage":{"input_tokens":tokens_in,"output_tokens":tokens_out}})
        }
        Family::Gemini => json!({
            "candidates":[{"content":{"parts":[{"text":text}],"role":"model"},"finishReason":"STOP","index":0}],
            "usageMetadata":{"promptTokenCount":tokens_in,"candidatesTokenCount":tokens_out,"totalTokenCount":tokens_in+tokens_out},
            "modelVersion":"fake-model"
        }),
        Family::Ollama => json!({
            "model":"fake-model","message":{"role":"assistant","content":text},"done":true,"done_reason":"stop",
            "prompt_eval_count":tokens_in,"eval_count":tokens_out
        }),
    }
    .to_string()
}

/// A call's arguments as JSON text cut in three fragments (at character boundaries).
fn fragments(args: &Value) -> Vec<String> {
    let text = args.to_string();
    let chars: Vec<char> = text.chars().collect();
    let third = chars.len().div_ceil(3).max(1);
    chars.chunks(third).map(|c| c.iter().collect()).collect()
}

/// The whole (non-streamed) answer asking for `calls`.
fn whole_calls(f: Family, text: &str, calls: &[(String, Value)], tokens_in: u64) -> Value {
    let n = calls.len() as u64 + 1;
    match f {
        Family::Openai => {
            let tc: Vec<Value> = calls.iter().enumerate().map(|(i, (name, args))| {
                json!({"id": format!("call_fake{i}"), "type":"function","function":{"name":name,"arguments":args.to_string()}})
            }).collect();
            json!({"id":"c1","object":"chat.completion","model":"fake-model",
                   "choices":[{"index":0,"message":{"role":"assistant","content": if text.is_empty() {Value::Null} else {json!(text)},"tool_calls":tc},"finish_reason":"tool_calls"}],
                   "usage":{"prompt_tokens":tokens_in,"completion_tokens":n,"total_tokens":tokens_in+n}})
        }
        Family::Anthropic => {
            let mut content = Vec::new();
            if !text.is_empty() {
                content.push(json!({"type":"text","text":text}));
            }
            for (i, (name, args)) in calls.iter().enumerate() {
                content.push(json!({"type":"tool_use","id":format!("toolu_fake{i}"),"name":name,"input":args}));
            }
            json!({"id":"msg_1","type":"message","role":"assistant","model":"fake-model","content":content,
                   "stop_reason":"tool_use","usage":{"input_tokens":tokens_in,"output_tokens":n}})
        }
        Family::Gemini => {
            let mut parts = Vec::new();
            if !text.is_empty() {
                parts.push(json!({"text":text}));
            }
            for (name, args) in calls {
                parts.push(json!({"functionCall":{"name":name,"args":args}}));
            }
            json!({"candidates":[{"content":{"parts":parts,"role":"model"},"finishReason":"STOP","index":0}],
                   "usageMetadata":{"promptTokenCount":tokens_in,"candidatesTokenCount":n,"totalTokenCount":tokens_in+n},
                   "modelVersion":"fake-model"})
        }
        Family::Ollama => {
            let tc: Vec<Value> = calls
                .iter()
                .map(|(name, args)| json!({"function":{"name":name,"arguments":args}}))
                .collect();
            json!({"model":"fake-model","message":{"role":"assistant","content":text,"tool_calls":tc},"done":true,"done_reason":"stop",
                   "prompt_eval_count":tokens_in,"eval_count":n})
        }
    }
}

/// The streamed events asking for `calls`, terminator included.
fn streamed_calls(f: Family, text: &str, calls: &[(String, Value)], tokens_in: u64) -> Vec<String> {
    let n = calls.len() as u64 + 1;
    let mut events = Vec::new();
    match f {
        Family::Openai => {
            let chunk = |delta: Value, finish: Value| {
                format!(
                    "data: {}\n\n",
                    json!({"id":"c1","object":"chat.completion.chunk","model":"fake-model",
                    "choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
                )
            };
            events.push(chunk(
                json!({"role":"assistant","content":text}),
                Value::Null,
            ));
            // Each call opens with its id and name, then its arguments in fragments, the
            // calls' fragments interleaved.
            for (i, (name, _)) in calls.iter().enumerate() {
                events.push(chunk(json!({"tool_calls":[{"index":i,"id":format!("call_fake{i}"),"type":"function","function":{"name":name,"arguments":""}}]}), Value::Null));
            }
            let frags: Vec<Vec<String>> = calls.iter().map(|(_, a)| fragments(a)).collect();
            for k in 0..3 {
                for (i, f) in frags.iter().enumerate() {
                    if let Some(piece) = f.get(k) {
                        events.push(chunk(
                            json!({"tool_calls":[{"index":i,"function":{"arguments":piece}}]}),
                            Value::Null,
                        ));
                    }
                }
            }
            events.push(chunk(json!({}), json!("tool_calls")));
            events.push(format!("data: {}\n\n", json!({"id":"c1","choices":[],"usage":{"prompt_tokens":tokens_in,"completion_tokens":n,"total_tokens":tokens_in+n}})));
            events.push("data: [DONE]\n\n".into());
        }
        Family::Anthropic => {
            let ev = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
            events.push(ev("message_start", json!({"type":"message_start","message":{"id":"msg_1","model":"fake-model","usage":{"input_tokens":tokens_in,"output_tokens":1}}})));
            let mut index = 0;
            if !text.is_empty() {
                events.push(ev("content_block_start", json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})));
                events.push(ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}})));
                events.push(ev(
                    "content_block_stop",
                    json!({"type":"content_block_stop","index":0}),
                ));
                index = 1;
            }
            for (i, (name, args)) in calls.iter().enumerate() {
                let at = index + i;
                events.push(ev("content_block_start", json!({"type":"content_block_start","index":at,"content_block":{"type":"tool_use","id":format!("toolu_fake{i}"),"name":name,"input":{}}})));
                events.push("event: ping\ndata: {\"type\": \"ping\"}\n\n".into());
                for piece in fragments(args) {
                    events.push(ev("content_block_delta", json!({"type":"content_block_delta","index":at,"delta":{"type":"input_json_delta","partial_json":piece}})));
                }
                events.push(ev(
                    "content_block_stop",
                    json!({"type":"content_block_stop","index":at}),
                ));
            }
            events.push(ev("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":n}})));
            events.push(ev("message_stop", json!({"type":"message_stop"})));
        }
        Family::Gemini => {
            if !text.is_empty() {
                events.push(format!(
                    "data: {}\r\n\r\n",
                    json!({"candidates":[{"content":{"parts":[{"text":text}],"role":"model"}}]})
                ));
            }
            for (i, (name, args)) in calls.iter().enumerate() {
                let mut c = json!({"candidates":[{"content":{"parts":[{"functionCall":{"name":name,"args":args}}],"role":"model"},"index":0}],
                                   "usageMetadata":{"promptTokenCount":tokens_in,"candidatesTokenCount":i+1},"modelVersion":"fake-model"});
                if i + 1 == calls.len() {
                    c["candidates"][0]["finishReason"] = json!("STOP");
                }
                events.push(format!("data: {c}\r\n\r\n"));
            }
        }
        Family::Ollama => {
            for (name, args) in calls {
                events.push(format!("{}\n", json!({"model":"fake-model","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":name,"arguments":args}}]},"done":false})));
            }
            events.push(format!("{}\n", json!({"model":"fake-model","message":{"role":"assistant","content":text},"done":true,"done_reason":"stop","prompt_eval_count":tokens_in,"eval_count":n})));
        }
    }
    events
}

async fn call_answer(
    socket: &mut TcpStream,
    f: Family,
    path: &str,
    body: &Value,
    text: &str,
    calls: &[(String, Value)],
) -> bool {
    let tokens_in = input_tokens(body);
    if !is_stream(f, path, body) {
        let whole = whole_calls(f, text, calls, tokens_in).to_string();
        return write_whole(socket, 200, &[], &whole).await;
    }
    let content_type = if f == Family::Ollama {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    };
    if !write_head(socket, 200, content_type, &[], None).await {
        return false;
    }
    for e in streamed_calls(f, text, calls, tokens_in) {
        if !write_event(socket, &e).await {
            return false;
        }
    }
    socket.write_all(b"0\r\n\r\n").await.is_ok() && socket.flush().await.is_ok()
}
