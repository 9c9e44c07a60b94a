//! OpenAI Chat Completions (`POST {base}/chat/completions`), spoken also by vLLM, llama.cpp,
//! LM Studio, OpenRouter and Ollama's `/v1`.

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::config::ProviderKind;
use super::error::{ErrorKind, error_detail};
use super::sse::SseDecoder;
use super::types::Framing;
use super::types::{
    CallPieces, ChatRequest, Message, Parsed, ResponseFormat, Role, StreamFamily, ToolCall,
    ToolDef, Usage, WireError, arguments_of, call_id,
};

/// The request URL and JSON body.
pub(crate) fn request(cfg: &ProviderConfig, model: &str, req: &ChatRequest) -> (String, Value) {
    let base = cfg.base_url();
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.extend(req.messages.iter().map(message));
    let mut body = json!({"model": model, "messages": messages});
    if !req.tools.is_empty() {
        body["tools"] = tools(&req.tools);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = req.max_tokens {
        // The official API renamed the field; compatible servers generally expect the old one.
        let field = if base.contains("api.openai.com") {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[field] = json!(n);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    if req.stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    match &req.format {
        ResponseFormat::Text => {}
        ResponseFormat::Json => body["response_format"] = json!({"type": "json_object"}),
        ResponseFormat::JsonSchema(schema) => {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": is_strict_compatible(schema), "schema": schema}
            });
        }
    }
    (format!("{base}/chat/completions"), body)
}

/// One history message; tool calls carry their arguments as JSON text, as the API wants.
fn message(m: &Message) -> Value {
    match m.role {
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.answers.as_ref().map_or("", |a| a.id.as_str()),
            "content": m.content,
        }),
        Role::Assistant if m.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": m.content})
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": "function",
                           "function": {"name": c.name, "arguments": arguments_text(&c.arguments)}})
                })
                .collect();
            let content = if m.content.is_empty() {
                Value::Null
            } else {
                json!(m.content)
            };
            json!({"role": "assistant", "content": content, "tool_calls": calls})
        }
    }
}

/// Arguments as the JSON text OpenAI carries (a string the model sent unparsed stays as is).
fn arguments_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `tools` array of function definitions (also Ollama's shape).
pub(crate) fn tools(defs: &[ToolDef]) -> Value {
    Value::Array(
        defs.iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect(),
    )
}

/// The calls of a complete answer's `message.tool_calls`.
fn calls_of(message: Option<&Value>) -> Vec<ToolCall> {
    let Some(calls) = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: c
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| call_id(i), str::to_string),
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

/// OpenAI's strict mode rejects schemas whose objects allow extra keys or leave properties
/// optional; ask for strict only when the schema already follows those rules.
fn is_strict_compatible(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("object") {
                if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                    return false;
                }
                let props = map.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(props) = props
                    && props.keys().any(|k| !required.contains(&k.as_str()))
                {
                    return false;
                }
            }
            map.values().all(is_strict_compatible)
        }
        Value::Array(items) => items.iter().all(is_strict_compatible),
        _ => true,
    }
}

fn usage_of(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        input_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        output_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

fn in_band_error(v: &Value) -> Option<WireError> {
    let is_error = v.get("error").is_some_and(|e| !e.is_null())
        || v.get("object").and_then(Value::as_str) == Some("error");
    is_error.then(|| {
        let d = error_detail(ProviderKind::Openai, v);
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
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| WireError::new(ErrorKind::Decode, "the answer has no choices"))?;
    let message = choice.get("message");
    let text = message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(Parsed {
        text,
        tool_calls: calls_of(message),
        usage: usage_of(v).unwrap_or_default(),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        model: v.get("model").and_then(Value::as_str).map(str::to_string),
    })
}

/// The streaming parser: `data: {chunk}` events ending with `data: [DONE]`.
#[derive(Default)]
pub(crate) struct OpenaiStream {
    sse: SseDecoder,
    end: Parsed,
    calls: CallPieces,
    done: bool,
}

impl OpenaiStream {
    fn event(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if self.done || data.is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| WireError::bad_json("a stream chunk", &e, data))?;
        if let Some(e) = in_band_error(&v) {
            return Err(e);
        }
        if let Some(u) = usage_of(&v) {
            self.end.usage = u;
        }
        if self.end.model.is_none() {
            self.end.model = v.get("model").and_then(Value::as_str).map(str::to_string);
        }
        if let Some(choice) = v.get("choices").and_then(|c| c.get(0)) {
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.end.finish_reason = Some(reason.to_string());
            }
            let delta = choice.get("delta");
            if let Some(t) = delta.and_then(|d| d.get("content")).and_then(Value::as_str)
                && !t.is_empty()
            {
                out.push(t.to_string());
            }
            let calls = delta.and_then(|d| d.get("tool_calls"));
            for (i, c) in calls
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(i as u64);
                self.calls.add(
                    index,
                    c.get("id").and_then(Value::as_str),
                    c.pointer("/function/name").and_then(Value::as_str),
                    c.pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                );
            }
        }
        Ok(())
    }
}

impl StreamFamily for OpenaiStream {
    const TERMINATOR: &'static str = "data: [DONE]";

    fn parts(&mut self) -> (&mut dyn Framing, &mut Parsed) {
        (&mut self.sse, &mut self.end)
    }

    fn message(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        OpenaiStream::event(self, data, out)
    }

    fn complete(&mut self) -> bool {
        self.end.tool_calls = self.calls.finish();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::types::Message;
    use crate::providers::types::StreamParser;

    #[test]
    fn a_schema_request_uses_json_schema_response_format() {
        let cfg = ProviderConfig::new("o", ProviderKind::Openai);
        let schema = json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false});
        let req = ChatRequest {
            system: Some("sys".into()),
            messages: vec![Message::user("hi")],
            max_tokens: Some(9),
            format: ResponseFormat::JsonSchema(schema.clone()),
            stream: true,
            ..ChatRequest::default()
        };
        let (url, body) = request(&cfg, "gpt", &req);
        assert_eq!(url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["max_completion_tokens"], 9);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    }

    #[test]
    fn loose_schemas_are_sent_without_strict_and_compatible_servers_get_max_tokens() {
        let mut cfg = ProviderConfig::new("o", ProviderKind::Openai);
        cfg.base_url = Some("http://127.0.0.1:8000/v1".into());
        let req = ChatRequest {
            max_tokens: Some(5),
            format: ResponseFormat::JsonSchema(json!({"type":"object","properties":{"a":{}}})),
            ..ChatRequest::new(None, "x")
        };
        let (_, body) = request(&cfg, "m", &req);
        assert_eq!(body["max_tokens"], 5);
        assert_eq!(body["response_format"]["json_schema"]["strict"], false);
    }

    #[test]
    fn the_stream_yields_deltas_usage_and_requires_done() {
        let mut s = OpenaiStream::default();
        let mut out = Vec::new();
        s.feed(
            b": OPENROUTER PROCESSING\n\ndata: {\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
              data:{\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"x\":1}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n\
              data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out, ["Hel", "lo"]);
        let mut unfinished = std::mem::take(&mut s);
        assert_eq!(
            unfinished.finish(&mut out).unwrap_err().kind,
            ErrorKind::Transport
        );
        let mut s = unfinished;
        s.done = false;
        s.feed(b"data: [DONE]\n\n", &mut out).unwrap();
        let end = s.finish(&mut out).unwrap();
        assert_eq!(
            end.usage,
            Usage {
                input_tokens: 3,
                output_tokens: 2
            }
        );
        assert_eq!(end.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn an_error_object_inside_a_200_stream_is_an_error() {
        let mut s = OpenaiStream::default();
        let err = s
            .feed(
                b"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
                &mut Vec::new(),
            )
            .unwrap_err();
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::Server, "boom")
        );
    }

    #[test]
    fn tools_calls_and_results_are_sent_as_function_tools_tool_calls_and_tool_messages() {
        let cfg = ProviderConfig::new("o", ProviderKind::Openai);
        let (_, body) = request(&cfg, "m", &crate::providers::types::sample_tool_request());
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["tools"][0]["function"]["name"], "shell");
        let m = &body["messages"];
        assert_eq!(m[2]["role"], "assistant");
        assert_eq!(m[2]["content"], "Looking.");
        assert_eq!(m[2]["tool_calls"][1]["id"], "c2");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"command":"df -h"}"#
        );
        assert_eq!(
            (m[3]["role"].as_str(), m[3]["tool_call_id"].as_str()),
            (Some("tool"), Some("c1"))
        );
        assert_eq!(
            (m[4]["tool_call_id"].as_str(), m[4]["content"].as_str()),
            (Some("c2"), Some("hello"))
        );
    }

    #[test]
    fn a_whole_answer_with_two_calls_gives_both_and_no_text() {
        let p = parse_response(&json!({"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"shell","arguments":"{\"command\":\"ls\"}"}},
            {"id":"call_b","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"x\"}"}}]},
            "finish_reason":"tool_calls"}]})).unwrap();
        assert_eq!(p.text, "");
        assert_eq!(p.tool_calls.len(), 2);
        assert_eq!(p.tool_calls[0].arguments, json!({"command":"ls"}));
        assert_eq!(
            (p.tool_calls[1].id.as_str(), p.tool_calls[1].name.as_str()),
            ("call_b", "read_file")
        );
    }

    #[test]
    fn streamed_call_arguments_are_joined_per_index_and_never_become_text() {
        let mut s = OpenaiStream::default();
        let mut out = Vec::new();
        let chunk = |tc: Value| {
            format!(
                "data: {}\n\n",
                json!({"choices":[{"delta":{"tool_calls":[tc]}}]})
            )
        };
        let body = [
            chunk(json!({"index":0,"id":"call_a","type":"function","function":{"name":"shell","arguments":""}})),
            chunk(json!({"index":0,"function":{"arguments":"{\"comm"}})),
            chunk(json!({"index":1,"id":"call_b","type":"function","function":{"name":"read_file","arguments":"{\"path\""}})),
            chunk(json!({"index":0,"function":{"arguments":"and\":\"ls\"}"}})),
            chunk(json!({"index":1,"function":{"arguments":":\"x\"}"}})),
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n".to_string(),
        ]
        .concat();
        s.feed(body.as_bytes(), &mut out).unwrap();
        let end = s.finish(&mut out).unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(end.tool_calls.len(), 2);
        assert_eq!(end.tool_calls[0].arguments, json!({"command":"ls"}));
        assert_eq!(end.tool_calls[1].arguments, json!({"path":"x"}));
        assert_eq!(end.tool_calls[1].name, "read_file");
    }
}
