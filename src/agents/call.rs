//! Running an agent: profile + rendered prompt → routed, streamed LLM call → output.
//!
//! This is what the engine's `agent` step calls. For `output: json` the answer is parsed (a
//! Markdown code fence around it is tolerated) and, with a `schema`, validated; a wrong answer
//! gets one repair turn carrying the validation errors, then the call fails with the reasons.
//! Cancel by dropping the future.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::profile::AgentProfile;
use super::schema;
use crate::providers::{
    ChatRequest, Message, ResponseFormat, Route, RouteError, RouteEvent, Router,
};
use crate::spec::{AgentSpec, OutputFormat};

/// What the agent step passes in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentRequest {
    /// The task, already rendered from its template.
    pub prompt: String,
    /// Provider override (tried first; others stay fallbacks).
    pub provider: Option<String>,
    /// Model override for that provider.
    pub model: Option<String>,
    /// Sampling temperature override.
    pub temperature: Option<f64>,
    /// Output token cap.
    pub max_tokens: Option<u32>,
    /// Text or JSON.
    pub output: OutputFormat,
    /// JSON schema the answer must match (with `output: json`).
    pub schema: Option<Value>,
}

impl AgentRequest {
    /// The request for an `agent` step, given its rendered prompt.
    pub fn from_spec(spec: &AgentSpec, rendered_prompt: String) -> Self {
        AgentRequest {
            prompt: rendered_prompt,
            provider: spec.provider.clone(),
            model: spec.model.clone(),
            temperature: spec.temperature,
            max_tokens: spec.max_tokens,
            output: spec.output,
            schema: spec.schema.clone(),
        }
    }
}

/// What the caller's sink receives: answer text, log notes, and restarts (everything sent as
/// text before a `Restart` is void).
pub type AgentEvent = RouteEvent;

/// A finished agent call.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentResult {
    /// Parsed JSON for `output: json`, else the text as a JSON string.
    pub output: Value,
    /// The final answer's text (only the successful provider's).
    pub text: String,
    /// The provider that gave the final answer.
    pub provider: String,
    /// The model that gave it.
    pub model: String,
    /// Prompt tokens over every call made (a schema repair is a second call).
    pub tokens_in: u64,
    /// Answer tokens over every call made.
    pub tokens_out: u64,
    /// From start to final answer.
    pub latency_ms: u64,
    /// Calls that produced an answer (2 when a repair was needed; the turns of a tool loop).
    pub calls: u32,
    /// Tool calls made (a tool loop).
    pub tool_calls: u32,
    /// Cost in US dollars over every call; None when a model's price is unknown.
    pub cost_usd: Option<f64>,
}

/// Why an agent call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// No provider could answer.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The step's schema cannot be used.
    #[error("the step's schema is not usable: {0}")]
    BadSchema(String),
    /// The answer was not JSON, even after the repair turn.
    #[error("answer is not valid JSON, even after asking again: {0}")]
    NotJson(String),
    /// The answer did not match the schema, even after the repair turn.
    #[error("answer did not match the schema: {0}")]
    SchemaMismatch(String),
    /// A tool loop went over one of the step's budgets.
    #[error("{0}")]
    Budget(String),
    /// The step's `tools:` cannot be used.
    #[error("the step's tools are not usable: {0}")]
    BadTools(String),
    /// The run was cancelled while a tool ran or a call waited for approval.
    #[error("cancelled")]
    Cancelled,
    /// The conversation could not be recorded or read back.
    #[error("the agent's conversation cannot be recorded: {0}")]
    Journal(String),
}

/// Sent after the profile's prompt when JSON is required.
const JSON_RULES: &str = "Answer with a single JSON value and nothing else: no prose before or \
after it and no Markdown code fences.";

pub(super) fn system_prompt(profile: &AgentProfile, req: &AgentRequest) -> String {
    let mut system = profile.system.clone();
    if req.output == OutputFormat::Json {
        system.push_str("\n\n");
        system.push_str(JSON_RULES);
        if let Some(schema) = &req.schema {
            let pretty =
                serde_json::to_string_pretty(schema).unwrap_or_else(|_| schema.to_string());
            system.push_str("\nThe value must match this JSON Schema:\n");
            system.push_str(&pretty);
        }
    }
    system
}

/// Parses an answer as JSON, tolerating a code fence or a sentence around one object/array.
pub fn parse_json_answer(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```JSON"))
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .map(str::trim)
        .unwrap_or(trimmed);
    match serde_json::from_str::<Value>(unfenced) {
        Ok(v) => Ok(v),
        Err(first) => {
            let start = unfenced.find(['{', '[']);
            let end = unfenced.rfind(['}', ']']);
            if let (Some(s), Some(e)) = (start, end)
                && s < e
                && let Ok(v) = serde_json::from_str::<Value>(&unfenced[s..=e])
            {
                return Ok(v);
            }
            Err(first.to_string())
        }
    }
}

/// What is wrong with an answer, if anything: `Err((is_json_error, message))`.
pub(super) fn judge(text: &str, req: &AgentRequest) -> Result<Value, (bool, String)> {
    let value = parse_json_answer(text).map_err(|e| (true, e))?;
    if let Some(schema) = &req.schema {
        let errors = schema::validate(schema, &value);
        if !errors.is_empty() {
            return Err((false, errors.join("; ")));
        }
    }
    Ok(value)
}

/// Runs `profile` on `req` through `router`, streaming into `sink`.
pub async fn run_agent(
    router: &Router,
    profile: &AgentProfile,
    req: AgentRequest,
    sink: &mut (dyn FnMut(AgentEvent) + Send),
) -> Result<AgentResult, AgentError> {
    let started = Instant::now();
    if let Some(s) = &req.schema {
        schema::check_schema(s).map_err(AgentError::BadSchema)?;
    }
    let format = match (&req.output, &req.schema) {
        (OutputFormat::Text, _) => ResponseFormat::Text,
        (OutputFormat::Json, None) => ResponseFormat::Json,
        (OutputFormat::Json, Some(s)) => ResponseFormat::JsonSchema(s.clone()),
    };
    let mut chat = ChatRequest {
        system: Some(system_prompt(profile, &req)),
        messages: vec![Message::user(req.prompt.clone())],
        model: None,
        temperature: req.temperature.or(profile.temperature),
        max_tokens: req.max_tokens.or(profile.max_tokens),
        stop: Vec::new(),
        format,
        stream: true,
        tools: Vec::new(),
    };
    let route = Route {
        provider: req.provider.clone().or_else(|| profile.provider.clone()),
        model: req.model.clone().or_else(|| profile.model.clone()),
    };

    let first = router.chat(&route, &chat, sink).await?;
    let mut tokens_in = first.usage.input_tokens;
    let mut tokens_out = first.usage.output_tokens;
    let mut cost = super::act::turn_cost(router, &first);
    let finish =
        |resp: crate::providers::ChatResponse, output: Value, tin, tout, calls, cost| AgentResult {
            output,
            text: resp.text,
            provider: resp.provider,
            model: resp.model,
            tokens_in: tin,
            tokens_out: tout,
            latency_ms: millis(started.elapsed()),
            calls,
            tool_calls: 0,
            cost_usd: cost,
        };
    if req.output == OutputFormat::Text {
        let text = Value::String(first.text.clone());
        return Ok(finish(first, text, tokens_in, tokens_out, 1, cost));
    }
    let problem = match judge(&first.text, &req) {
        Ok(value) => return Ok(finish(first, value, tokens_in, tokens_out, 1, cost)),
        Err(p) => p,
    };

    // One repair turn, on the provider that answered, with the reasons.
    let (is_json, why) = &problem;
    let complaint = if *is_json {
        format!("answer is not valid JSON ({why})")
    } else {
        format!("answer did not match the schema: {why}")
    };
    let note = format!("{complaint}; asking {} again", first.provider);
    tracing::info!(target: "baton::agents", "{note}");
    sink(RouteEvent::Note(note));
    sink(RouteEvent::Restart {
        provider: first.provider.clone(),
        reason: complaint.clone(),
    });
    chat.messages.push(Message::assistant(first.text.clone()));
    chat.messages.push(Message::user(format!(
        "Your {complaint}. Reply again with only the corrected JSON value."
    )));
    let repair_route = Route {
        model: if route.provider.as_deref() == Some(first.provider.as_str())
            || route.provider.is_none()
        {
            Some(first.model.clone())
        } else {
            None
        },
        provider: Some(first.provider.clone()),
    };
    let second = router.chat(&repair_route, &chat, sink).await?;
    tokens_in += second.usage.input_tokens;
    tokens_out += second.usage.output_tokens;
    cost = cost
        .zip(super::act::turn_cost(router, &second))
        .map(|(a, b)| a + b);
    match judge(&second.text, &req) {
        Ok(value) => Ok(finish(second, value, tokens_in, tokens_out, 2, cost)),
        Err((true, why)) => Err(AgentError::NotJson(why)),
        Err((false, why)) => Err(AgentError::SchemaMismatch(why)),
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_answers_may_come_fenced_or_wrapped_in_a_sentence() {
        assert_eq!(parse_json_answer(" {\"a\":1} ").unwrap(), json!({"a":1}));
        assert_eq!(
            parse_json_answer("```json\n{\"a\":1}\n```").unwrap(),
            json!({"a":1})
        );
        assert_eq!(
            parse_json_answer("Here it is: [1,2].").unwrap(),
            json!([1, 2])
        );
        assert!(parse_json_answer("no json here").is_err());
    }

    #[test]
    fn the_system_prompt_asks_for_json_and_shows_the_schema() {
        let profile = crate::agents::AgentCatalog::builtin()
            .get("security")
            .unwrap()
            .clone();
        let req = AgentRequest {
            output: OutputFormat::Json,
            schema: Some(json!({"type":"object","required":["risk"]})),
            ..AgentRequest::default()
        };
        let s = system_prompt(&profile, &req);
        assert!(s.starts_with(&profile.system));
        assert!(s.contains("single JSON value") && s.contains("\"required\""));
        let text = AgentRequest::default();
        assert_eq!(system_prompt(&profile, &text), profile.system);
    }
}
