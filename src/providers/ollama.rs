//! Ollama `/api/chat`: NDJSON when streaming (which is Ollama's default, so the flag is always
//! sent explicitly).

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::error::ErrorKind;
use super::ndjson::NdjsonDecoder;
use super::types::Framing;
use super::types::{
    ChatRequest, Message, Parsed, ResponseFormat, Role, StreamFamily, ToolCall, Usage, WireError,
    arguments_of, call_id,
};

/// The request URL and JSON body.
pub(crate) fn request(cfg: &ProviderConfig, model: &str, req: &ChatRequest) -> (String, Value) {
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(req.messages.iter().map(message));
    let mut body = json!({"model": model, "messages": messages, "stream": req.stream});
    if !req.tools.is_empty() {
        body["tools"] = super::openai::tools(&req.tools);
    }
    let mut options = serde_json::Map::new();
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if let Some(n) = req.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if !req.stop.is_empty() {
        options.insert("stop".into(), json!(req.stop));
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    match &req.format {
        ResponseFormat::Text => {}
        ResponseFormat::Json => body["format"] = json!("json"),
        ResponseFormat::JsonSchema(schema) => body["format"] = schema.clone(),
    }
    (format!("{}/api/chat", cfg.base_url()), body)
}

/// One history message: calls carry their arguments as an object and no id; a result names
/// its tool.
fn message(m: &Message) -> Value {
    match m.role {
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Tool => json!({
            "role": "tool",
            "tool_name": m.answers.as_ref().map_or("", |a| a.name.as_str()),
            "content": m.content,
        }),
        Role::Assistant if m.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": m.content})
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
            json!({"role": "assistant", "content": m.content, "tool_calls": calls})
        }
    }
}

/// `message.tool_calls`: whole calls, arguments an object (some servers send JSON text).
fn calls_of(v: &Value, first: usize) -> Vec<ToolCall> {
    let calls = v.pointer("/message/tool_calls").and_then(Value::as_array);
    calls
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: c
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| call_id(first + i), str::to_string),
            name: c
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            arguments: match c.pointer("/function/arguments") {
                Some(Value::String(s)) => arguments_of(s),
                Some(v) => v.clone(),
                None => json!({}),
            },
        })
        .collect()
}

fn in_band_error(v: &Value) -> Option<WireError> {
    let message = v.get("error")?;
    let text = message
        .as_str()
        .map_or_else(|| message.to_string(), str::to_string);
    Some(WireError::new(ErrorKind::Server, text))
}

fn read_object(v: &Value) -> Result<Parsed, WireError> {
    if let Some(e) = in_band_error(v) {
        return Err(e);
    }
    Ok(Parsed {
        text: v
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        tool_calls: calls_of(v, 0),
        usage: Usage {
            input_tokens: v
                .get("prompt_eval_count")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            output_tokens: v.get("eval_count").and_then(Value::as_u64).unwrap_or(0),
        },
        finish_reason: v
            .get("done_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
    })
}

/// Reads a complete answer.
pub(crate) fn parse_response(v: &Value) -> Result<Parsed, WireError> {
    if v.get("message").is_none() && v.get("error").is_none() {
        return Err(WireError::new(
            ErrorKind::Decode,
            "the answer has no message",
        ));
    }
    read_object(v)
}

/// The streaming parser: one object a line; the last has `"done": true`.
#[derive(Default)]
pub(crate) struct OllamaStream {
    lines: NdjsonDecoder,
    end: Parsed,
    /// Calls from the lines before the last (Ollama sends each call whole, in any line).
    calls: Vec<ToolCall>,
    done: bool,
}

impl OllamaStream {
    fn line(&mut self, line: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        if self.done {
            return Ok(());
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| WireError::bad_json("a stream line", &e, line))?;
        let mut p = read_object(&v)?;
        if !p.text.is_empty() {
            out.push(std::mem::take(&mut p.text));
        }
        let first = self.calls.len();
        self.calls.extend(calls_of(&v, first));
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            self.done = true;
            self.end = Parsed {
                tool_calls: std::mem::take(&mut self.calls),
                ..p
            };
        }
        Ok(())
    }
}

impl StreamFamily for OllamaStream {
    const TERMINATOR: &'static str = r#"a line with "done": true"#;

    fn parts(&mut self) -> (&mut dyn Framing, &mut Parsed) {
        (&mut self.lines, &mut self.end)
    }

    fn message(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        OllamaStream::line(self, data, out)
    }

    fn complete(&mut self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::config::ProviderKind;
    use crate::providers::types::StreamParser;

    #[test]
    fn the_request_always_states_stream_and_carries_the_schema_as_format() {
        let cfg = ProviderConfig::new("o", ProviderKind::Ollama);
        let req = ChatRequest {
            format: ResponseFormat::JsonSchema(json!({"type":"object"})),
            max_tokens: Some(7),
            ..ChatRequest::new(Some("s".into()), "hi")
        };
        let (url, body) = request(&cfg, "llama", &req);
        assert_eq!(url, "http://127.0.0.1:11434/api/chat");
        assert_eq!(body["stream"], false);
        assert_eq!(body["format"]["type"], "object");
        assert_eq!(body["options"]["num_predict"], 7);
    }

    #[test]
    fn the_stream_reads_lines_counts_and_errors() {
        let mut s = OllamaStream::default();
        let mut out = Vec::new();
        s.feed(b"{\"message\":{\"content\":\"He\"},\"done\":false}\n{\"message\":{\"content\":\"y\"},\"do", &mut out)
            .unwrap();
        s.feed(b"ne\":false}\n{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":4,\"eval_count\":2}\n", &mut out)
            .unwrap();
        let end = s.finish(&mut out).unwrap();
        assert_eq!(out, ["He", "y"]);
        assert_eq!(
            end.usage,
            Usage {
                input_tokens: 4,
                output_tokens: 2
            }
        );
        let mut s = OllamaStream::default();
        let e = s
            .feed(b"{\"error\":\"out of memory\"}\n", &mut Vec::new())
            .unwrap_err();
        assert_eq!(e.message, "out of memory");
        let mut s = OllamaStream::default();
        s.feed(
            b"{\"message\":{\"content\":\"x\"},\"done\":false}\n",
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            s.finish(&mut Vec::new()).unwrap_err().kind,
            ErrorKind::Transport
        );
    }

    #[test]
    fn calls_carry_object_arguments_and_results_name_their_tool() {
        let cfg = ProviderConfig::new("o", ProviderKind::Ollama);
        let (_, body) = request(&cfg, "l", &crate::providers::types::sample_tool_request());
        assert_eq!(body["tools"][0]["function"]["name"], "shell");
        let m = &body["messages"];
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            json!({"command":"df -h"})
        );
        assert_eq!(
            (m[3]["role"].as_str(), m[3]["tool_name"].as_str()),
            (Some("tool"), Some("shell"))
        );
        assert_eq!(m[4]["tool_name"], "read_file");
    }

    #[test]
    fn streamed_and_whole_tool_calls_are_read_with_made_up_ids() {
        let mut s = OllamaStream::default();
        let mut out = Vec::new();
        s.feed(b"{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"shell\",\"arguments\":{\"command\":\"ls\"}}},{\"function\":{\"name\":\"list_dir\",\"arguments\":{}}}]},\"done\":false}\n\
                 {\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n", &mut out)
            .unwrap();
        let end = s.finish(&mut out).unwrap();
        assert_eq!(end.tool_calls.len(), 2);
        assert_eq!(end.tool_calls[0].arguments, json!({"command":"ls"}));
        assert_eq!(end.tool_calls[1].id, "call_1");
        let whole = parse_response(&json!({"message":{"content":"","tool_calls":[{"function":{"name":"read_file","arguments":"{\"path\":\"a\"}"}}]},"done":true})).unwrap();
        assert_eq!(whole.tool_calls[0].arguments, json!({"path":"a"}));
    }
}
