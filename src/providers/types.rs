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
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
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
            + self.messages.iter().map(|m| m.content.len()).sum::<usize>();
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
    /// Whether the terminal message arrived.
    fn complete(&self) -> bool;
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
