//! Google Gemini (`:generateContent`, and `:streamGenerateContent?alt=sse` when streaming).
//!
//! Each streamed event is a whole `GenerateContentResponse`; there is no end marker, so a
//! stream is complete only if it ends after a chunk that carried a `finishReason`.

use serde_json::{Value, json};

use super::config::{ProviderConfig, ProviderKind};
use super::error::{ErrorKind, error_detail};
use super::sse::SseDecoder;
use super::types::Framing;
use super::types::{
    ChatRequest, Message, Parsed, ResponseFormat, Role, StreamFamily, ToolCall, Usage, WireError,
    call_id,
};

/// The request URL and JSON body.
pub(crate) fn request(cfg: &ProviderConfig, model: &str, req: &ChatRequest) -> (String, Value) {
    let base = cfg.base_url();
    let root = if base.ends_with("/v1beta") || base.ends_with("/v1") {
        base.clone()
    } else {
        format!("{base}/v1beta")
    };
    let model = model.strip_prefix("models/").unwrap_or(model);
    let url = if req.stream {
        format!("{root}/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("{root}/models/{model}:generateContent")
    };
    let mut body = json!({"contents": contents(&req.messages)});
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters}))
            .collect();
        // `parametersJsonSchema` takes JSON Schema as is (`parameters` is an OpenAPI subset
        // that refuses e.g. `additionalProperties`).
        body["tools"] = json!([{"functionDeclarations": decls}]);
    }
    if let Some(system) = &req.system {
        body["systemInstruction"] = json!({"parts": [{"text": system}]});
    }
    let mut config = serde_json::Map::new();
    if let Some(n) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if !req.stop.is_empty() {
        config.insert("stopSequences".into(), json!(req.stop));
    }
    match &req.format {
        ResponseFormat::Text => {}
        ResponseFormat::Json => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        ResponseFormat::JsonSchema(schema) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    (url, body)
}

/// The history in Gemini's shape: calls are `functionCall` parts of a model turn; results are
/// `functionResponse` parts, named by tool (Gemini matches them by name and order, not id),
/// the results of one turn together in one user turn.
fn contents(history: &[Message]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for m in history {
        match m.role {
            Role::User => out.push(json!({"role": "user", "parts": [{"text": m.content}]})),
            Role::Assistant => {
                let mut parts = Vec::new();
                if !m.content.is_empty() || m.tool_calls.is_empty() {
                    parts.push(json!({"text": m.content}));
                }
                for c in &m.tool_calls {
                    let args = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({})
                    };
                    parts.push(json!({"functionCall": {"name": c.name, "args": args}}));
                }
                out.push(json!({"role": "model", "parts": parts}));
            }
            Role::Tool => {
                let name = m.answers.as_ref().map_or("", |a| a.name.as_str());
                let part =
                    json!({"functionResponse": {"name": name, "response": {"result": m.content}}});
                let joins = out.last().is_some_and(|last| {
                    last["role"] == "user"
                        && last["parts"]
                            .as_array()
                            .is_some_and(|p| p.iter().all(|p| p.get("functionResponse").is_some()))
                });
                match out.last_mut().and_then(|l| l["parts"].as_array_mut()) {
                    Some(parts) if joins => parts.push(part),
                    _ => out.push(json!({"role": "user", "parts": [part]})),
                }
            }
        }
    }
    out
}

/// The `functionCall` parts of a candidate (each whole: Gemini does not split arguments).
fn calls_of(parts: &[Value], first: usize) -> Vec<ToolCall> {
    parts
        .iter()
        .filter_map(|p| p.get("functionCall"))
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: c
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| call_id(first + i), str::to_string),
            name: c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            arguments: c.get("args").cloned().unwrap_or_else(|| json!({})),
        })
        .collect()
}

fn in_band_error(v: &Value) -> Option<WireError> {
    v.get("error").filter(|e| !e.is_null()).map(|_| {
        let d = error_detail(ProviderKind::Gemini, v);
        WireError::new(
            d.typed_kind.unwrap_or(ErrorKind::Server),
            d.message.unwrap_or_else(|| v.to_string()),
        )
    })
}

/// One response object: its text, usage, finish reason; an error when the prompt was blocked.
fn read_chunk(v: &Value) -> Result<Parsed, WireError> {
    if let Some(e) = in_band_error(v) {
        return Err(e);
    }
    let candidate = v.get("candidates").and_then(|c| c.get(0));
    if candidate.is_none()
        && let Some(reason) = v
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
    {
        return Err(WireError::new(
            ErrorKind::Other,
            format!("the prompt was blocked ({reason})"),
        ));
    }
    let parts = candidate
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array);
    let text = parts
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<String>()
        })
        .unwrap_or_default();
    let u = v.get("usageMetadata");
    let count = |k: &str| {
        u.and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Parsed {
        text,
        tool_calls: parts.map(|p| calls_of(p, 0)).unwrap_or_default(),
        usage: Usage {
            input_tokens: count("promptTokenCount"),
            output_tokens: count("candidatesTokenCount"),
        },
        finish_reason: candidate
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str)
            .map(str::to_string),
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// Reads a complete answer.
pub(crate) fn parse_response(v: &Value) -> Result<Parsed, WireError> {
    let p = read_chunk(v)?;
    if v.get("candidates").is_none() && v.get("usageMetadata").is_none() {
        return Err(WireError::new(
            ErrorKind::Decode,
            "the answer has no candidates",
        ));
    }
    Ok(p)
}

/// The streaming parser: whole responses as `data:` events until EOF.
#[derive(Default)]
pub(crate) struct GeminiStream {
    sse: SseDecoder,
    end: Parsed,
    saw_finish: bool,
}

impl GeminiStream {
    fn event(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| WireError::bad_json("a stream chunk", &e, data))?;
        let p = read_chunk(&v)?;
        if !p.text.is_empty() {
            out.push(p.text);
        }
        let first = self.end.tool_calls.len();
        self.end
            .tool_calls
            .extend(p.tool_calls.into_iter().enumerate().map(|(i, mut c)| {
                if c.id == call_id(i) {
                    c.id = call_id(first + i);
                }
                c
            }));
        // usageMetadata is cumulative: keep the last one seen.
        if v.get("usageMetadata").is_some() {
            self.end.usage = p.usage;
        }
        if p.finish_reason.is_some() {
            self.saw_finish = true;
            self.end.finish_reason = p.finish_reason;
        }
        if p.model.is_some() {
            self.end.model = p.model;
        }
        Ok(())
    }
}

impl StreamFamily for GeminiStream {
    const TERMINATOR: &'static str = "a chunk with finishReason";

    fn parts(&mut self) -> (&mut dyn Framing, &mut Parsed) {
        (&mut self.sse, &mut self.end)
    }

    fn message(&mut self, data: &str, out: &mut Vec<String>) -> Result<(), WireError> {
        GeminiStream::event(self, data, out)
    }

    fn complete(&mut self) -> bool {
        self.saw_finish
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::types::StreamParser;

    #[test]
    fn a_schema_request_sets_mime_type_and_json_schema() {
        let cfg = ProviderConfig::new("g", ProviderKind::Gemini);
        let schema = json!({"type":"object"});
        let req = ChatRequest {
            format: ResponseFormat::JsonSchema(schema.clone()),
            stream: true,
            max_tokens: Some(3),
            ..ChatRequest::new(Some("sys".into()), "hi")
        };
        let (url, body) = request(&cfg, "gemini-x", &req);
        assert_eq!(
            url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
        );
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "sys");
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(body["generationConfig"]["responseJsonSchema"], schema);
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 3);
        assert!(body.get("stream").is_none());
    }

    #[test]
    fn thoughts_are_skipped_and_a_blocked_prompt_is_an_error() {
        let p = parse_response(&json!({"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"A"},{"text":"B"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1}})).unwrap();
        assert_eq!(p.text, "AB");
        let e = parse_response(&json!({"promptFeedback":{"blockReason":"SAFETY"}})).unwrap_err();
        assert!(e.message.contains("SAFETY"));
    }

    #[test]
    fn the_stream_ends_cleanly_only_after_a_finish_reason() {
        let mut s = GeminiStream::default();
        let mut out = Vec::new();
        s.feed(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]}}],\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":1}}\r\n\r\n", &mut out).unwrap();
        let mut cut = GeminiStream::default();
        cut.feed(
            b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}]}}]}\r\n\r\n",
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(
            cut.finish(&mut Vec::new()).unwrap_err().kind,
            ErrorKind::Transport
        );
        s.feed(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"B\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":2,\"candidatesTokenCount\":4}}\r\n\r\n", &mut out).unwrap();
        let end = s.finish(&mut out).unwrap();
        assert_eq!(out, ["A", "B"]);
        assert_eq!(
            end.usage,
            Usage {
                input_tokens: 2,
                output_tokens: 4
            }
        );
    }

    #[test]
    fn calls_are_function_call_parts_and_results_function_responses_named_by_tool() {
        let cfg = ProviderConfig::new("g", ProviderKind::Gemini);
        let (_, body) = request(&cfg, "g", &crate::providers::types::sample_tool_request());
        let decl = &body["tools"][0]["functionDeclarations"][0];
        assert_eq!(decl["name"], "shell");
        assert_eq!(decl["parametersJsonSchema"]["type"], "object");
        let c = body["contents"].as_array().unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[1]["role"], "model");
        assert_eq!(
            c[1]["parts"][1]["functionCall"],
            json!({"name":"shell","args":{"command":"df -h"}})
        );
        assert_eq!(c[2]["role"], "user");
        assert_eq!(
            c[2]["parts"][1]["functionResponse"],
            json!({"name":"read_file","response":{"result":"hello"}})
        );
    }

    #[test]
    fn function_calls_without_ids_get_ids_numbered_across_the_stream() {
        let chunk = |parts: Value, finish: Option<&str>| {
            let mut c = json!({"candidates":[{"content":{"role":"model","parts":parts}}]});
            if let Some(f) = finish {
                c["candidates"][0]["finishReason"] = json!(f);
            }
            format!("data: {c}\r\n\r\n")
        };
        let body = [
            chunk(
                json!([{"functionCall":{"name":"shell","args":{"command":"ls"}}}]),
                None,
            ),
            chunk(
                json!([{"functionCall":{"name":"read_file","args":{"path":"x"}}}]),
                Some("STOP"),
            ),
        ]
        .concat();
        let mut s = GeminiStream::default();
        let mut out = Vec::new();
        s.feed(body.as_bytes(), &mut out).unwrap();
        let end = s.finish(&mut out).unwrap();
        let ids: Vec<&str> = end.tool_calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["call_0", "call_1"]);
        assert_eq!(end.tool_calls[1].arguments, json!({"path":"x"}));
        let whole = parse_response(&json!({"candidates":[{"content":{"parts":[
            {"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b","args":{"k":1}}}]},"finishReason":"STOP"}]}))
        .unwrap();
        assert_eq!(whole.tool_calls.len(), 2);
        assert_eq!(whole.tool_calls[1].id, "call_1");
    }
}
