//! `agent:` an LLM call through the provider router, its tokens streamed into the step's log.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use tokio::time::Instant;

use tokio::sync::watch;

use super::agent_clock::{TimedHost, out_of_time};
use super::{Attempt, AttemptResult, Failure, PausableDeadline, Success};
use crate::agents::stream::{AnswerLines, LiveLine};
use crate::agents::{
    ActEvent, ActHost, AgentCatalog, AgentError, AgentRequest, AgentResult, act, run_agent,
};
use crate::providers::price::show_cost;
use crate::providers::{RouteEvent, Router};
use crate::spec::{AgentSpec, McpServerSpec};
use crate::store::{LogStream, StepMetrics};

/// What agent steps need: the router and the profiles. Built once per engine.
pub struct LlmRuntime {
    /// The router, or why there is none (no provider configured, a bad entry).
    pub router: Result<Router, String>,
    /// Built-in and user profiles (a workflow's own are added per run).
    pub catalog: AgentCatalog,
    /// The config file's MCP servers (a workflow's own are added per run).
    pub mcp_servers: IndexMap<String, McpServerSpec>,
}

impl std::fmt::Debug for LlmRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmRuntime")
            .field("router", &self.router.as_ref().map(|_| "ready"))
            .finish_non_exhaustive()
    }
}

/// Where an agent step's tools run and what run they belong to.
pub struct Place<'h> {
    /// The run's working directory (baton's own when the run has none).
    pub workdir: Option<PathBuf>,
    /// The step's environment (the workflow's and step's `env`, `BATON_*`), for `shell`.
    pub env: IndexMap<String, String>,
    /// Approvals and the journal of the conversation.
    pub host: &'h dyn ActHost,
    /// The workflow's MCP servers, started when the step names their tools.
    pub mcp_servers: &'h IndexMap<String, McpServerSpec>,
    /// Where `remember` keeps notes (none: the memory tools are not available).
    pub notes: Option<Arc<crate::agents::memory::Notebook>>,
    /// Where the answer's unfinished line is shown as it streams (never stored).
    pub live: Option<Arc<dyn LiveLine>>,
}

/// Runs one attempt of an agent step with an already rendered prompt. With `tools:`, the
/// model may call them in a loop (see [`mod@crate::agents::act`]), in the run's working directory
/// with the step's environment.
pub async fn run(
    llm: Option<Arc<LlmRuntime>>,
    catalog: &AgentCatalog,
    spec: &AgentSpec,
    prompt: String,
    mut attempt: Attempt,
    place: Place<'_>,
) -> AttemptResult {
    let Some(llm) = llm else {
        return Err(Failure::fatal(no_provider_hint(
            "no LLM runtime in this engine",
        )));
    };
    let router = match &llm.router {
        Ok(r) => r,
        Err(e) => return Err(Failure::fatal(no_provider_hint(e))),
    };
    let profile = catalog.get(&spec.agent).map_err(Failure::fatal)?;
    let request = AgentRequest::from_spec(spec, prompt);
    let log = attempt.log.clone();
    let mut lines = AnswerLines::new(place.live.clone());
    let started = Instant::now();
    // A step's own tools and budgets win over its profile's.
    let tools = if spec.tools.is_empty() {
        &profile.tools
    } else {
        &spec.tools
    };
    let limits = spec.limits.or(profile.limits);
    let (clock, clock_rx) = watch::channel(PausableDeadline::start(attempt.timeout, started));
    let timed = TimedHost {
        inner: place.host,
        clock: &clock,
    };
    let place = Place {
        host: &timed,
        ..place
    };
    let toolbox = super::agent_tools::StepToolbox::new(&llm, catalog, &place, &attempt)?;
    let kit = toolbox
        .kit(router, profile, tools, spec, limits, place, &attempt)
        .await?;
    let call = async {
        let mut sink = |event: ActEvent| match event {
            ActEvent::Route(RouteEvent::Text(t)) => lines.push(&t, log.as_ref()),
            ActEvent::Route(RouteEvent::Note(n)) => log(LogStream::System, &n),
            ActEvent::Route(RouteEvent::Restart { provider, reason }) => {
                lines.discard();
                log(
                    LogStream::System,
                    &format!(
                        "{provider} failed after its answer began ({reason}); its partial answer above is discarded"
                    ),
                );
            }
            ActEvent::Turn(note) | ActEvent::Call(note) | ActEvent::Result(note) => {
                lines.finish(log.as_ref());
                log(LogStream::System, &note);
            }
        };
        match kit {
            Some(kit) => act(router, profile, request, kit, &mut sink).await,
            None => run_agent(router, profile, request, &mut |e| sink(ActEvent::Route(e))).await,
        }
    };
    let timeout = attempt.timeout;
    let outcome = tokio::select! {
        r = call => Ok(r),
        _ = super::wait_cancelled(&mut attempt.control) => Err(Failure::cancelled()),
        _ = out_of_time(clock_rx) => {
            let mut f = Failure::retryable(format!(
                "timed out after {}",
                crate::time::format_duration(timeout.unwrap_or_default())
            ));
            f.timed_out = true;
            Err(f)
        }
    };
    // What the model had written of its line when it stopped is kept too.
    lines.finish(attempt.log.as_ref());
    let result = outcome?;
    match result {
        Ok(answer) => Ok(success(answer, started, &attempt)),
        Err(AgentError::Cancelled) => Err(Failure::cancelled()),
        Err(e @ (AgentError::Budget(_) | AgentError::BadTools(_) | AgentError::Journal(_))) => {
            Err(Failure::fatal(e.to_string()))
        }
        Err(e) => Err(Failure::retryable(e.to_string())),
    }
}

fn success(answer: AgentResult, started: Instant, attempt: &Attempt) -> Success {
    let tools = if answer.tool_calls > 0 || answer.calls > 1 {
        format!(
            " over {} turns and {} tool calls",
            answer.calls, answer.tool_calls
        )
    } else {
        String::new()
    };
    attempt.log.as_ref()(
        LogStream::System,
        &format!(
            "answered by {}/{} in {} ms, {} → {} tokens{tools}, cost {}",
            answer.provider,
            answer.model,
            answer.latency_ms,
            answer.tokens_in,
            answer.tokens_out,
            show_cost(answer.cost_usd)
        ),
    );
    Success {
        output: answer.output,
        stdout: answer.text,
        stderr: String::new(),
        exit_code: None,
        metrics: StepMetrics {
            provider: Some(answer.provider),
            model: Some(answer.model),
            tokens_in: Some(answer.tokens_in),
            tokens_out: Some(answer.tokens_out),
            latency_ms: Some(started.elapsed().as_millis() as u64),
            cost_usd: answer.cost_usd,
        },
    }
}

fn no_provider_hint(why: &str) -> String {
    format!(
        "cannot call a model: {why}. Set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or \
         OLLAMA_HOST, or add [[providers]] to config.toml (see `baton providers`)"
    )
}
