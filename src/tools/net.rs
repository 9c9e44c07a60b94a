//! `http`: one request sent as an `http:` step sends it, through [`crate::steps::http::run`].

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolOutput, bound_head, string_arg};
use crate::steps::http::{HttpRequest, run};

/// Sends an HTTP request.
pub struct Http;

impl Tool for Http {
    fn name(&self) -> &str {
        "http"
    }

    fn description(&self) -> &str {
        "Send an HTTP request. Returns the response body, or the status and body when it is not 2xx."
    }

    fn schema(&self) -> Value {
        json!({"type": "object", "properties": {
            "method": {"type": "string", "description": "GET (default), POST, PUT, ..."},
            "url": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"description": "A string is sent as is; anything else as JSON"}},
            "required": ["url"]})
    }

    /// A GET (or HEAD) only reads; any other method can change things.
    fn approval(&self) -> &'static str {
        "asks unless GET/HEAD"
    }

    fn risky(&self, args: &Value) -> bool {
        !matches!(method(args).to_ascii_uppercase().as_str(), "GET" | "HEAD")
    }

    fn describe(&self, args: &Value) -> String {
        let url = args
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("(no url)");
        let mut text = format!("http: {} {url}", method(args).to_ascii_uppercase());
        if let Some(h) = args.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                text.push_str(&format!("\n{k}: {}", v.as_str().unwrap_or("…")));
            }
        }
        match args.get("body") {
            None | Some(Value::Null) => {}
            Some(Value::String(b)) => text.push_str(&format!("\n\n{}", super::preview(b))),
            Some(b) => text.push_str(&format!("\n\n{}", super::preview(&b.to_string()))),
        }
        text
    }

    fn call<'a>(&'a self, args: &'a Value, ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            let url = match string_arg(args, "url", "http") {
                Ok(u) => u.to_string(),
                Err(e) => return e,
            };
            let headers: IndexMap<String, String> = args
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let (json, text) = match args.get("body") {
                None | Some(Value::Null) => (None, None),
                Some(Value::String(s)) => (None, Some(s.clone())),
                Some(v) => (Some(v.clone()), None),
            };
            let req = HttpRequest {
                method: method(args).to_string(),
                url,
                headers,
                json,
                text,
                expect: Vec::new(),
            };
            match run(req, ctx.attempt.clone()).await {
                Ok(s) => ToolOutput::ok(bound_head(&s.stdout, ctx.limit)),
                Err(f) => ToolOutput {
                    content: bound_head(&format!("{}\n{}", f.error, f.stdout), ctx.limit),
                    is_error: true,
                    cancelled: f.cancelled,
                },
            }
        })
    }
}

/// The request's method as the model gave it (GET when unset).
fn method(args: &Value) -> &str {
    args.get("method").and_then(Value::as_str).unwrap_or("GET")
}
