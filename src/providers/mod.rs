//! LLM providers: clients for the four wire families (OpenAI-compatible, Anthropic, Gemini,
//! Ollama), incremental SSE/NDJSON decoding, configuration and discovery, and the [`Router`]
//! with priorities, retries, health, rate limits and fallback.
//!
//! Layering: `sse`/`ndjson` decode bytes; `openai`/`anthropic`/`gemini`/`ollama` translate one
//! family's JSON; `client` sends one attempt; `router` decides what to try next. Agent steps call
//! `crate::agents::run_agent`, which sits on top of the router.

mod anthropic;
pub mod client;
pub mod config;
pub mod error;
mod gemini;
pub mod health;
pub mod health_file;
pub mod ndjson;
mod ollama;
mod openai;
pub mod price;
pub mod ratelimit;
pub mod report;
pub mod router;
pub mod sse;
pub mod types;

pub use client::{ProviderClient, http_client};
pub use config::{
    ApiKey, Env, ProviderConfig, ProviderKind, discover, effective, process_env, redact, secrets,
};
pub use error::{ErrorKind, ProviderError};
pub use health::{Admission, Health, HealthPolicy, HealthSnapshot, LastCall};
pub use health_file::HealthFile;
pub use router::{
    Clock, ProviderStatus, Route, RouteError, RouteEvent, Router, RouterPolicy, TokioClock,
};
pub use types::{
    ChatRequest, ChatResponse, Message, ResponseFormat, Role, ToolCall, ToolCallRef, ToolDef, Usage,
};
