//! Google Gemini (`:generateContent`, and `:streamGenerateContent?alt=sse` when streaming).
//!
//! Each streamed event is a whole `GenerateContentResponse`; there is no end marker, so a
//! stream is complete only if it ends after a chunk that carried a `finishReason`.

use serde_json::{Value, json};

use super::config::{ProviderConfig, ProviderKind};
use super::error::{ErrorKind, error_detail};
use super::sse::SseDecoder;
use super::types::Framing;
use super::types::{ChatRequest, Parsed, ResponseFormat, Role, StreamFamily, Usage, WireError};

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
    let contents: Vec<Value> = req
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "model",
            };
            json!({"role": role, "parts": [{"text": m.content}]})
        })
        .collect();
    let mut body = json!({"contents": contents});
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
    let text = candidate
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array)
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

    fn complete(&self) -> bool {
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
}
