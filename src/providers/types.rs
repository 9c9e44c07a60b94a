//! The provider-neutral request and answer: what the router and agents speak, and what each
//! wire module translates to and from its family's JSON.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ErrorKind;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The operator's side.
    User,
    /// The model's side (an earlier answer, e.g. when asking for a repair).
    Assistant,
    /// The result of one tool call the model asked for.
    Tool,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    /// Its name (`shell`, `read_file`, ...).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub parameters: Value,
}

/// One call the model asked for in an assistant turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id. Families without ids (Gemini, Ollama) get one made up when the answer is
    /// read (`call_<n>`), so a history can move to a family that needs them.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments (an object; a model's unparsable arguments arrive as a string).
    pub arguments: Value,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said (for a tool turn, the tool's result).
    pub content: String,
    /// The calls an assistant turn asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool turn: the call it answers (its id and the tool's name, which Gemini and
    /// Ollama need instead of the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<ToolCallRef>,
}

/// Which call a tool result answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRef {
    /// The call's id.
    pub id: String,
    /// The tool's name.
    pub name: String,
}

impl Message {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
            tool_calls: Vec::new(),
            answers: None,
        }
    }

    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
            tool_calls: Vec::new(),
            answers: None,
        }
    }

    /// An assistant turn that asks for tool calls (with any text it said alongside).
    pub fn calls(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message {
            tool_calls,
            ..Message::assistant(content)
        }
    }

    /// The result of `call`.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            answers: Some(ToolCallRef {
                id: call.id.clone(),
                name: call.name.clone(),
            }),
        }
    }
}

/// The shape the answer must take.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// Any JSON value (the family's JSON mode).
    Json,
    /// JSON matching this schema (the family's schema mode).
    JsonSchema(Value),
}

/// A provider-neutral chat request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The system prompt.
    pub system: Option<String>,
    /// The conversation, oldest first; the last turn is the user's.
    pub messages: Vec<Message>,
    /// Model override (else the provider's configured model).
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Output token cap.
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Text, JSON or JSON with a schema.
    pub format: ResponseFormat,
    /// Stream the answer token by token.
    pub stream: bool,
    /// Tools the model may call (none: a plain answer).
    pub tools: Vec<ToolDef>,
}

impl ChatRequest {
    /// A one-turn request.
    pub fn new(system: Option<String>, prompt: impl Into<String>) -> Self {
        ChatRequest {
            system,
            messages: vec![Message::user(prompt)],
            ..ChatRequest::default()
        }
    }

    /// A rough token count of the prompt (4 characters a token), for rate limiting.
    pub fn estimated_prompt_tokens(&self) -> u64 {
        let chars: usize = self.system.as_deref().map_or(0, str::len)
            + self
                .messages
                .iter()
                .map(|m| {
                    m.content.len()
                        + m.tool_calls
                            .iter()
                            .map(|c| c.name.len() + c.arguments.to_string().len())
                            .sum::<usize>()
                })
                .sum::<usize>();
        (chars as u64).div_ceil(4)
    }
}

/// Tokens used by one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

/// A complete answer from one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The provider's configured name.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// The answer text (for schema mode through a tool, the tool input as JSON text).
    pub text: String,
    /// Tokens used.
    pub usage: Usage,
    /// The tool calls the model asked for, in order (empty: a final answer).
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped (`stop`, `end_turn`, `STOP`, `length`, ...).
    pub finish_reason: Option<String>,
    /// The server's request id.
    pub request_id: Option<String>,
    /// Time from sending to the last byte.
    pub latency: Duration,
}

/// What a wire module found in a complete (non-streamed) answer, or at the end of a stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Parsed {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish_reason: Option<String>,
    pub model: Option<String>,
}

/// A failure found inside a 200 answer: an error event, a bad chunk or an early end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WireError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WireError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WireError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn early_eof(terminator: &str) -> Self {
        WireError::new(
            ErrorKind::Transport,
            format!("the stream ended before its terminator ({terminator})"),
        )
    }

    pub(crate) fn bad_json(what: &str, err: &serde_json::Error, text: &str) -> Self {
        let snippet: String = text.chars().take(200).collect();
        WireError::new(
            ErrorKind::Decode,
            format!("{what} is not valid JSON ({err}): {snippet}"),
        )
    }
}

/// Turns a family's streamed body into text deltas, one byte chunk at a time.
pub(crate) trait StreamParser: Send {
    /// Feeds a chunk; pushes the text deltas it completed onto `out`.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), WireError>;
    /// The body ended: flushes what is left and checks the stream was complete.
    fn finish(&mut self, out: &mut Vec<String>) -> Result<Parsed, WireError>;
}

/// How a body is cut into messages: SSE events (their `data`) or NDJSON lines.
pub(crate) trait Framing: Send {
    /// The messages a chunk completed.
    fn messages(&mut self, chunk: &[u8]) -> Vec<String>;
    /// The messages left when the body ends.
    fn rest(&mut self) -> Vec<String>;
}

impl Framing for super::sse::SseDecoder {
    fn messages(&mut self, chunk: &[u8]) -> Vec<String> {
        self.push(chunk).into_iter().map(|ev| ev.data).collect()
    }

    fn rest(&mut self) -> Vec<String> {
        self.finish().into_iter().map(|ev| ev.data).collect()
    }
}

impl Framing for super::ndjson::NdjsonDecoder {
    fn messages(&mut self, chunk: &[u8]) -> Vec<String> {
        self.push(chunk)
    }

    fn rest(&mut self) -> Vec<String> {
        self.finish()
    }
}

/// What one family's stream messages mean. Feeding and the end-of-stream check are shared
/// (the blanket [`StreamParser`] impl), so a family only says how a message reads and how a
/// complete stream ends.
pub(crate) trait StreamFamily: Send {
    /// What ends a complete stream, named in the early-EOF error.
    const TERMINATOR: &'static str;
    /// The framer and the result being built.
    fn parts(&mut self) -> (&mut dyn Framing, &mut Parsed);
    /// Reads one message, pushing any text delta onto `out`.
    fn message(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError>;
    /// Whether the terminal message arrived; also moves what was gathered across messages
    /// (tool calls) into the result.
    fn complete(&mut self) -> bool;
}

impl<T: StreamFamily> StreamParser for T {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), WireError> {
        for m in self.parts().0.messages(bytes) {
            self.message(&m, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<String>) -> Result<Parsed, WireError> {
        for m in self.parts().0.rest() {
            self.message(&m, out)?;
        }
        if !self.complete() {
            return Err(WireError::early_eof(T::TERMINATOR));
        }
        Ok(std::mem::take(self.parts().1))
    }
}

/// Tool calls being streamed: pieces of each call keyed by the family's index, joined when
/// the stream ends (OpenAI and Anthropic send arguments as JSON text in fragments).
#[derive(Debug, Default)]
pub(crate) struct CallPieces {
    calls: Vec<(u64, String, String, String)>,
}

impl CallPieces {
    /// Adds to call `index`: its id and name when first seen, then argument text.
    pub(crate) fn add(&mut self, index: u64, id: Option<&str>, name: Option<&str>, args: &str) {
        let at = match self.calls.iter().position(|c| c.0 == index) {
            Some(at) => at,
            None => {
                self.calls
                    .push((index, String::new(), String::new(), String::new()));
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[at];
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            call.1 = id.to_string();
        }
        if let Some(name) = name.filter(|s| !s.is_empty()) {
            call.2.push_str(name);
        }
        call.3.push_str(args);
    }

    /// The complete calls, in the order they began.
    pub(crate) fn finish(&mut self) -> Vec<ToolCall> {
        std::mem::take(&mut self.calls)
            .into_iter()
            .enumerate()
            .map(|(i, (_, id, name, args))| ToolCall {
                id: if id.is_empty() { call_id(i) } else { id },
                name,
                arguments: arguments_of(&args),
            })
            .collect()
    }
}

/// The id given to the `n`th call of a turn when the family sends none.
pub(crate) fn call_id(n: usize) -> String {
    format!("call_{n}")
}

/// Arguments sent as JSON text: the object, `{}` when empty, else the text as a string (the
/// tool then reports that it could not read them, and the model can try again).
pub(crate) fn arguments_of(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// A conversation with two tool calls in one turn and their results, and one tool offered:
/// what every family's encoder is tested on.
#[cfg(test)]
pub(crate) fn sample_tool_request() -> ChatRequest {
    use serde_json::json;
    let a = ToolCall {
        id: "c1".into(),
        name: "shell".into(),
        arguments: json!({"command": "df -h"}),
    };
    let b = ToolCall {
        id: "c2".into(),
        name: "read_file".into(),
        arguments: json!({"path": "a.txt"}),
    };
    ChatRequest {
        messages: vec![
            Message::user("why full?"),
            Message::calls("Looking.", vec![a.clone(), b.clone()]),
            Message::tool_result(&a, "exit code: 0"),
            Message::tool_result(&b, "hello"),
        ],
        tools: vec![ToolDef {
            name: "shell".into(),
            description: "Run a command".into(),
            parameters: json!({"type": "object", "properties": {"command": {"type": "string"}}}),
        }],
        ..ChatRequest::new(Some("sys".into()), "unused")
    }
}
