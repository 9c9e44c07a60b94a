//! Anthropic Messages (`POST {base}/v1/messages`), with named SSE events when streaming.
//!
//! Structured output uses the portable form from the reference: one tool, `emit`, whose
//! `input_schema` is the requested schema, forced with `tool_choice`. The answer is the tool
//! input; streamed, it arrives as `input_json_delta` pieces, which are passed on as text.

use serde_json::{Value, json};

use super::config::{ProviderConfig, ProviderKind};
use super::error::{ErrorKind, error_detail};
use super::sse::SseDecoder;
use super::types::Framing;
use super::types::{
    CallPieces, ChatRequest, Message, Parsed, ResponseFormat, Role, StreamFamily, ToolCall, Usage,
    WireError, call_id,
};

/// `max_tokens` is required by this API; used when the request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The name of the forced tool that carries structured output.
pub const EMIT_TOOL: &str = "emit";

/// The request URL and JSON body.
pub(crate) fn request(cfg: &ProviderConfig, model: &str, req: &ChatRequest) -> (String, Value) {
    let base = cfg.base_url();
    let base = base.strip_suffix("/v1").unwrap_or(&base);
    let mut body = json!({
        "model": model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages(&req.messages),
    });
    if let Some(system) = &req.system {
        body["system"] = json!(system);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.stop.is_empty() {
        body["stop_sequences"] = json!(req.stop);
    }
    if req.stream {
        body["stream"] = json!(true);
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body["tools"] = Value::Array(tools);
    }
    // A tool's input must be an object; other schemas rely on the prompt's instructions. With
    // real tools offered, forcing `emit` would stop the model from calling them, so the schema
    // then relies on the prompt too.
    if let ResponseFormat::JsonSchema(schema) = &req.format
        && schema.get("type").and_then(Value::as_str) == Some("object")
        && req.tools.is_empty()
    {
        body["tools"] = json!([{
            "name": EMIT_TOOL,
            "description": "Record the answer. Call this exactly once with the complete answer.",
            "input_schema": schema,
        }]);
        body["tool_choice"] = json!({"type": "tool", "name": EMIT_TOOL});
    }
    (format!("{base}/v1/messages"), body)
}

/// The history in Anthropic's shape: tool calls are `tool_use` blocks of the assistant turn,
/// and the results that follow it go together in one user turn as `tool_result` blocks (roles
/// must alternate).
fn messages(history: &[Message]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for m in history {
        match m.role {
            Role::User => out.push(json!({"role": "user", "content": m.content})),
            Role::Assistant if m.tool_calls.is_empty() => {
                out.push(json!({"role": "assistant", "content": m.content}));
            }
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for c in &m.tool_calls {
                    let input = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({})
                    };
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                out.push(json!({"role": "assistant", "content": blocks}));
            }
            Role::Tool => {
                let block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.answers.as_ref().map_or("", |a| a.id.as_str()),
                    "content": m.content,
                });
                let joins = out.last().is_some_and(|last| {
                    last["role"] == "user"
                        && last["content"]
                            .as_array()
                            .is_some_and(|b| b.iter().all(|b| b["type"] == "tool_result"))
                });
                match out.last_mut().and_then(|l| l["content"].as_array_mut()) {
                    Some(blocks) if joins => blocks.push(block),
                    _ => out.push(json!({"role": "user", "content": [block]})),
                }
            }
        }
    }
    out
}

fn in_band_error(v: &Value) -> Option<WireError> {
    (v.get("type").and_then(Value::as_str) == Some("error")).then(|| {
        let d = error_detail(ProviderKind::Anthropic, v);
        WireError::new(
            d.typed_kind.unwrap_or(ErrorKind::Server),
            d.message.unwrap_or_else(|| v.to_string()),
        )
    })
}

/// Reads a complete answer.
pub(crate) fn parse_response(v: &Value) -> Result<Parsed, WireError> {
    if let Some(e) = in_band_error(v) {
        return Err(e);
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError::new(ErrorKind::Decode, "the answer has no content array"))?;
    let is_use = |b: &&Value| b.get("type").and_then(Value::as_str) == Some("tool_use");
    let is_emit = |b: &&Value| b.get("name").and_then(Value::as_str) == Some(EMIT_TOOL);
    let emitted = blocks
        .iter()
        .filter(is_use)
        .find(is_emit)
        .and_then(|b| b.get("input"));
    let tool_calls: Vec<ToolCall> = blocks
        .iter()
        .filter(is_use)
        .filter(|b| !is_emit(b))
        .enumerate()
        .map(|(i, b)| ToolCall {
            id: b
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| call_id(i), str::to_string),
            name: b
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
        })
        .collect();
    let text = match emitted {
        Some(input) => input.to_string(),
        None => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect(),
    };
    let u = v.get("usage");
    Ok(Parsed {
        text,
        tool_calls,
        usage: Usage {
            input_tokens: u
                .and_then(|u| u.get("input_tokens"))
                .and_then(Value::as_u64)
                .unwrap_or(0),
            output_tokens: u
                .and_then(|u| u.get("output_tokens"))
                .and_then(Value::as_u64)
                .unwrap_or(0),
        },
        finish_reason: v
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
    })
}

/// The streaming parser: `message_start` … `message_stop`.
#[derive(Default)]
pub(crate) struct AnthropicStream {
    sse: SseDecoder,
    end: Parsed,
    /// Tool calls by block index (`emit` blocks are not calls: their input is the answer).
    calls: CallPieces,
    /// Indexes of the blocks that are tool calls.
    call_blocks: Vec<u64>,
    done: bool,
}

impl AnthropicStream {
    fn event(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        if self.done || data.trim().is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| WireError::bad_json("a stream event", &e, data))?;
        if let Some(e) = in_band_error(&v) {
            return Err(e);
        }
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let m = v.get("message");
                self.end.model = m
                    .and_then(|m| m.get("model"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(u) = m.and_then(|m| m.get("usage")) {
                    self.end.usage.input_tokens =
                        u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0);
                    self.end.usage.output_tokens =
                        u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
                }
            }
            "content_block_start" => {
                let block = v.get("content_block");
                let name = block.and_then(|b| b.get("name")).and_then(Value::as_str);
                let is_use =
                    block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("tool_use");
                if is_use && name != Some(EMIT_TOOL) {
                    let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let id = block.and_then(|b| b.get("id")).and_then(Value::as_str);
                    self.call_blocks.push(index);
                    self.calls.add(index, id, name, "");
                }
            }
            "content_block_delta" => {
                let delta = v.get("delta");
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let piece = match delta.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => delta.and_then(|d| d.get("text")),
                    Some("input_json_delta") if self.call_blocks.contains(&index) => {
                        let part = delta.and_then(|d| d.get("partial_json"));
                        let part = part.and_then(Value::as_str).unwrap_or("");
                        self.calls.add(index, None, None, part);
                        None
                    }
                    Some("input_json_delta") => delta.and_then(|d| d.get("partial_json")),
                    _ => None,
                };
                if let Some(t) = piece.and_then(Value::as_str)
                    && !t.is_empty()
                {
                    out.push(t.to_string());
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.end.finish_reason = Some(r.to_string());
                }
                // Cumulative: replace, never add.
                if let Some(n) = v.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.end.usage.output_tokens = n;
                }
                if let Some(n) = v.pointer("/usage/input_tokens").and_then(Value::as_u64) {
                    self.end.usage.input_tokens = n;
                }
            }
            "message_stop" => self.done = true,
            // ping, content_block_stop and future event types carry nothing we need.
            _ => {}
        }
        Ok(())
    }
}

impl StreamFamily for AnthropicStream {
    const TERMINATOR: &'static str = "event: message_stop";

    fn parts(&mut self) -> (&mut dyn Framing, &mut Parsed) {
        (&mut self.sse, &mut self.end)
    }

    fn message(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        AnthropicStream::event(self, data, out)
    }

    fn complete(&mut self) -> bool {
        self.end.tool_calls = self.calls.finish();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::types::StreamParser;

    #[test]
    fn an_object_schema_becomes_a_forced_emit_tool() {
        let cfg = ProviderConfig::new("a", ProviderKind::Anthropic);
        let schema = json!({"type":"object","properties":{"risk":{"enum":["low"]}}});
        let req = ChatRequest {
            format: ResponseFormat::JsonSchema(schema.clone()),
            ..ChatRequest::new(Some("sys".into()), "hi")
        };
        let (url, body) = request(&cfg, "claude", &req);
        assert_eq!(url, "https://api.anthropic.com/v1/messages");
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["system"], "sys");
        assert_eq!(body["tools"][0]["input_schema"], schema);
        assert_eq!(body["tool_choice"]["name"], EMIT_TOOL);
    }

    #[test]
    fn a_tool_use_answer_is_returned_as_json_text() {
        let p = parse_response(&json!({
            "content":[{"type":"tool_use","id":"t","name":"emit","input":{"risk":"low"}}],
            "stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":7}
        }))
        .unwrap();
        assert_eq!(p.text, r#"{"risk":"low"}"#);
        assert_eq!(
            p.usage,
            Usage {
                input_tokens: 5,
                output_tokens: 7
            }
        );
    }

    #[test]
    fn the_stream_reads_text_and_tool_deltas_and_cumulative_usage() {
        let mut s = AnthropicStream::default();
        let mut out = Vec::new();
        let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"c\",\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n\
            event: ping\ndata: {\"type\":\"ping\"}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":6}}\n\n\
            event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        s.feed(body.as_bytes(), &mut out).unwrap();
        let end = s.finish(&mut out).unwrap();
        assert_eq!(out, ["Hi", "{\"a\""]);
        assert_eq!(
            end.usage,
            Usage {
                input_tokens: 11,
                output_tokens: 6
            }
        );
        assert_eq!(end.finish_reason.as_deref(), Some("end_turn"));
    }

    #[test]
    fn an_error_event_and_a_missing_message_stop_are_errors() {
        let mut s = AnthropicStream::default();
        let err = s
            .feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Overloaded);
        let mut s = AnthropicStream::default();
        s.feed(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n",
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            s.finish(&mut Vec::new()).unwrap_err().kind,
            ErrorKind::Transport
        );
    }

    #[test]
    fn calls_are_tool_use_blocks_and_the_results_of_a_turn_share_one_user_turn() {
        let cfg = ProviderConfig::new("a", ProviderKind::Anthropic);
        let mut req = crate::providers::types::sample_tool_request();
        req.format = ResponseFormat::JsonSchema(json!({"type":"object"}));
        let (_, body) = request(&cfg, "c", &req);
        assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
        assert!(
            body.get("tool_choice").is_none(),
            "emit must not be forced with tools"
        );
        let m = body["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1]["content"][0], json!({"type":"text","text":"Looking."}));
        assert_eq!(m[1]["content"][2]["type"], "tool_use");
        assert_eq!(m[1]["content"][2]["input"], json!({"path":"a.txt"}));
        assert_eq!(m[2]["role"], "user");
        assert_eq!(m[2]["content"][0]["tool_use_id"], "c1");
        assert_eq!(m[2]["content"][1]["tool_use_id"], "c2");
    }

    #[test]
    fn a_whole_answer_gives_its_tool_uses_as_calls_but_emit_as_text() {
        let p = parse_response(&json!({"content":[{"type":"text","text":"Checking."},
            {"type":"tool_use","id":"toolu_a","name":"shell","input":{"command":"ls"}},
            {"type":"tool_use","id":"toolu_b","name":"list_dir","input":{}}],"stop_reason":"tool_use"}))
        .unwrap();
        assert_eq!(p.text, "Checking.");
        assert_eq!(p.tool_calls.len(), 2);
        assert_eq!(p.tool_calls[1].id, "toolu_b");
        let emit = parse_response(
            &json!({"content":[{"type":"tool_use","id":"t","name":"emit","input":{"a":1}}]}),
        )
        .unwrap();
        assert!(emit.tool_calls.is_empty());
        assert_eq!(emit.text, r#"{"a":1}"#);
    }

    #[test]
    fn streamed_tool_use_blocks_gather_their_partial_json_by_index() {
        let ev = |v: Value| format!("event: x\ndata: {v}\n\n");
        let body = [
            ev(json!({"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}})),
            ev(json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})),
            ev(json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}})),
            ev(json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"shell","input":{}}})),
            ev(json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\":"}})),
            ev(json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"list_dir","input":{}}})),
            ev(json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"df\"}"}})),
            ev(json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})),
            ev(json!({"type":"message_stop"})),
        ]
        .concat();
        let mut s = AnthropicStream::default();
        let mut out = Vec::new();
        s.feed(body.as_bytes(), &mut out).unwrap();
        let end = s.finish(&mut out).unwrap();
        assert_eq!(out, ["Let me look."]);
        assert_eq!(end.tool_calls.len(), 2);
        assert_eq!(end.tool_calls[0].arguments, json!({"command":"df"}));
        assert_eq!(
            (end.tool_calls[1].id.as_str(), &end.tool_calls[1].arguments),
            ("toolu_b", &json!({}))
        );
    }
}
