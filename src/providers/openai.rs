//! OpenAI Chat Completions (`POST {base}/chat/completions`), spoken also by vLLM, llama.cpp,
//! LM Studio, OpenRouter and Ollama's `/v1`.

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::config::ProviderKind;
use super::error::{ErrorKind, error_detail};
use super::sse::SseDecoder;
use super::types::Framing;
use super::types::{ChatRequest, Parsed, ResponseFormat, Role, StreamFamily, Usage, WireError};

/// The request URL and JSON body.
pub(crate) fn request(cfg: &ProviderConfig, model: &str, req: &ChatRequest) -> (String, Value) {
    let base = cfg.base_url();
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({"role": role, "content": m.content}));
    }
    let mut body = json!({"model": model, "messages": messages});
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
    let mut text = message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if text.is_empty()
        && let Some(args) = message
            .and_then(|m| m.pointer("/tool_calls/0/function/arguments"))
            .and_then(Value::as_str)
    {
        text = args.to_string();
    }
    Ok(Parsed {
        text,
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
            if let Some(args) = delta
                .and_then(|d| d.pointer("/tool_calls/0/function/arguments"))
                .and_then(Value::as_str)
                && !args.is_empty()
            {
                out.push(args.to_string());
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

    fn complete(&self) -> bool {
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
}
