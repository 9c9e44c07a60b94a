//! `http`: one request sent as an `http:` step sends it, through [`crate::steps::http::run`].

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolFuture, ToolOutput, bound_head, string_arg};
use crate::steps::http::{HttpRequest, run};

/// Sends an HTTP request.
pub struct Http;

impl Tool for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn description(&self) -> &'static str {
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

    fn risky(&self) -> bool {
        true
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
                method: args
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or("GET")
                    .to_string(),
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
