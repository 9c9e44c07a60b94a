//! The router: picks providers by priority, retries each by the SDKs' rules, falls back to the
//! next, tracks health and rate limits, and makes sure a stream that breaks after output began
//! is restarted elsewhere without splicing two answers together.
//!
//! Time for health and rate limits comes from a [`Clock`] (tokio's by default, a manual one in
//! tests); waiting uses `tokio::time::sleep`, so tests run on paused time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::client::{ProviderClient, show};
use super::config::{Env, ProviderConfig, ProviderKind};
use super::error::{ErrorKind, ProviderError};
use super::health::{Admission, Health, HealthPolicy, HealthSnapshot, LastCall};
use super::health_file::HealthFile;
use super::ratelimit::TokenBucket;
use super::types::{ChatRequest, ChatResponse};

/// Where the router reads the time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// tokio's clock (follows paused time in tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Retry and health settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterPolicy {
    /// Breaker and window settings.
    pub health: HealthPolicy,
    /// First backoff delay (the SDKs' `INITIAL_RETRY_DELAY`).
    pub initial_retry_delay: Duration,
    /// Backoff cap (the SDKs' `MAX_RETRY_DELAY`).
    pub max_retry_delay: Duration,
    /// A server's retry hint up to this long is honoured; a longer one means give up on the
    /// provider for this call.
    pub max_retry_after: Duration,
}

impl Default for RouterPolicy {
    fn default() -> Self {
        RouterPolicy {
            health: HealthPolicy::default(),
            initial_retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What the router tells the caller while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteEvent {
    /// A piece of the answer.
    Text(String),
    /// A line for the step's log: a retry, a fallback, a wait, a restart.
    Note(String),
    /// Everything sent as [`RouteEvent::Text`] so far is void: `provider` failed after its
    /// output began; a fresh answer from another provider may follow.
    Restart {
        /// The provider whose partial answer is discarded.
        provider: String,
        /// Why it failed.
        reason: String,
    },
}

/// Which provider and model the caller prefers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Route {
    /// Tried first (the others remain fallbacks, by priority).
    pub provider: Option<String>,
    /// Model for the first provider tried (fallbacks use their configured models, since model
    /// names do not carry across providers).
    pub model: Option<String>,
}

/// Why the router gave up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    /// Nothing is configured.
    #[error(
        "no LLM provider is configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY or \
         OLLAMA_HOST, or add a [[providers]] entry to the config file"
    )]
    NoProviders,
    /// The requested provider does not exist.
    #[error("no provider named `{name}`; configured: {known}")]
    UnknownProvider {
        /// The requested name.
        name: String,
        /// The configured names, comma-separated.
        known: String,
    },
    /// The request itself was refused (it would fail on every provider).
    #[error("{0}")]
    Rejected(ProviderError),
    /// Every provider failed or was unavailable.
    #[error("every provider failed: {}", .0.join("; "))]
    Exhausted(Vec<String>),
}

/// One provider's entry in a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderStatus {
    /// Configured name.
    pub name: String,
    /// Wire protocol.
    pub kind: ProviderKind,
    /// Model in effect.
    pub model: String,
    /// Base URL in effect.
    pub base_url: String,
    /// Priority (lower first).
    pub priority: i32,
    /// The variable holding the key, if any (never the value).
    pub key_env: Option<String>,
    /// Why the provider cannot be called, when it cannot (a key that is not set).
    pub problem: Option<String>,
    /// Health now.
    pub health: HealthSnapshot,
    /// The last call any process made to it, as remembered (see [`Router::remembering`]).
    pub last_call: Option<LastCall>,
}

struct SlotState {
    health: Health,
    rpm: Option<TokenBucket>,
    tpm: Option<TokenBucket>,
}

struct Slot {
    client: ProviderClient,
    state: Mutex<SlotState>,
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, SlotState> {
        // The state holds plain numbers; a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Routes chat requests over the configured providers. Share it (`Arc<Router>`) between steps.
pub struct Router {
    slots: Vec<Slot>,
    policy: RouterPolicy,
    clock: Arc<dyn Clock>,
    seed: AtomicU64,
    /// Where health is remembered between processes, if anywhere.
    memory: Option<HealthFile>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field(
                "providers",
                &self.slots.iter().map(|s| &s.client).collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// A router over `providers` (sorted by priority, file order breaking ties), reading keys
    /// from `env`. Fails on duplicate names or unusable base URLs.
    pub fn new(providers: &[ProviderConfig], env: Env<'_>) -> Result<Router, String> {
        Self::with_policy(
            providers,
            env,
            RouterPolicy::default(),
            Arc::new(TokioClock),
        )
    }

    /// The router for a config file's `[[providers]]`: those entries when there are any,
    /// else the providers discovered from `env` (see [`super::config::effective`]).
    pub fn from_config(configured: &[ProviderConfig], env: Env<'_>) -> Result<Router, String> {
        Self::new(&super::config::effective(configured, env), env)
    }

    /// Like [`Router::new`] with explicit settings and clock.
    pub fn with_policy(
        providers: &[ProviderConfig],
        env: Env<'_>,
        policy: RouterPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Router, String> {
        let mut sorted = providers.to_vec();
        sorted.sort_by_key(|p| p.priority);
        let now = clock.now();
        let mut slots: Vec<Slot> = Vec::new();
        for config in sorted {
            if slots.iter().any(|s| s.client.name() == config.name) {
                return Err(format!(
                    "two [[providers]] entries are named `{}`; names must be unique",
                    config.name
                ));
            }
            let state = SlotState {
                health: Health::new(policy.health.clone()),
                rpm: config.rpm.map(|n| TokenBucket::per_minute(n, now)),
                tpm: config.tpm.map(|n| TokenBucket::per_minute(n, now)),
            };
            slots.push(Slot {
                client: ProviderClient::new(config, env)?,
                state: Mutex::new(state),
            });
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Ok(Router {
            slots,
            policy,
            clock,
            seed: AtomicU64::new(seed),
            memory: None,
        })
    }

    /// Remembers provider health in `file` between processes: each provider starts from what
    /// an earlier process saw last (its failures in a row, a breaker still open), and every
    /// call's outcome is written there.
    pub fn remembering(mut self, file: HealthFile) -> Router {
        let seen = file.read();
        let now = self.clock.now();
        let now_ms = wall_ms();
        for slot in &self.slots {
            if let Some(last) = seen.get(slot.client.name()) {
                slot.state().health.resume_from(last, now, now_ms);
            }
        }
        self.memory = Some(file);
        self
    }

    /// The clients, in priority order.
    pub fn clients(&self) -> impl Iterator<Item = &ProviderClient> {
        self.slots.iter().map(|s| &s.client)
    }

    /// The client named `name`.
    pub fn client(&self, name: &str) -> Option<&ProviderClient> {
        self.clients().find(|c| c.name() == name)
    }

    /// Key values in use, for redacting captured output.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.clients().filter_map(ProviderClient::secret) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        out
    }

    /// Every provider with its health, in priority order.
    pub fn statuses(&self) -> Vec<ProviderStatus> {
        let now = self.clock.now();
        let remembered = self
            .memory
            .as_ref()
            .map(HealthFile::read)
            .unwrap_or_default();
        self.slots
            .iter()
            .map(|s| {
                let c = s.client.config();
                ProviderStatus {
                    name: c.name.clone(),
                    kind: c.kind,
                    model: c.model().to_string(),
                    base_url: c.base_url(),
                    priority: c.priority,
                    key_env: c.key_env().map(str::to_string),
                    problem: s.client.key_problem().map(str::to_string),
                    health: s.state().health.snapshot(now),
                    last_call: remembered.get(c.name.as_str()).cloned(),
                }
            })
            .collect()
    }

    /// Sends one attempt straight to the named provider (no retry, no fallback) and records
    /// its outcome in the provider's health; for `baton providers test`.
    pub async fn probe(
        &self,
        name: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let Some(slot) = self.slots.iter().find(|s| s.client.name() == name) else {
            return Err(ProviderError::local(
                name,
                ErrorKind::Other,
                "no such provider",
            ));
        };
        let result = slot.client.chat(req, &mut |_| {}).await;
        self.record(slot, &result);
        result
    }

    fn record(&self, slot: &Slot, result: &Result<ChatResponse, ProviderError>) {
        let now = self.clock.now();
        let mut state = slot.state();
        let error = match result {
            Ok(resp) => {
                state.health.record_success(now, resp.latency);
                None
            }
            // The request's fault, not the provider's: its health is untouched.
            Err(e) if e.kind == ErrorKind::BadRequest => return,
            Err(e) => {
                state.health.record_failure(now);
                Some(brief(e))
            }
        };
        let last = state.health.last_call(now, wall_ms(), error);
        drop(state);
        if let Some(memory) = &self.memory {
            memory.record(slot.client.name(), last);
        }
    }

    fn candidates(&self, route: &Route) -> Result<Vec<usize>, RouteError> {
        if self.slots.is_empty() {
            return Err(RouteError::NoProviders);
        }
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        if let Some(name) = route.provider.as_deref().filter(|n| !n.is_empty()) {
            let Some(at) = self.slots.iter().position(|s| s.client.name() == name) else {
                return Err(RouteError::UnknownProvider {
                    name: name.to_string(),
                    known: self
                        .clients()
                        .map(|c| c.name().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            order.retain(|&i| i != at);
            order.insert(0, at);
        }
        Ok(order)
    }

    /// The backoff before retry number `attempt + 1`; None when the server asked for a wait
    /// longer than [`RouterPolicy::max_retry_after`].
    fn retry_delay(&self, e: &ProviderError, attempt: u32) -> Option<Duration> {
        if let Some(hint) = e.retry_after {
            if hint > self.policy.max_retry_after {
                return None;
            }
            if !hint.is_zero() {
                return Some(hint);
            }
        }
        let base = self
            .policy
            .initial_retry_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.policy.max_retry_delay);
        Some(base.mul_f64(1.0 - 0.25 * self.random()))
    }

    /// A number in [0, 1) for jitter (xorshift; quality does not matter here).
    fn random(&self) -> f64 {
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends `req` along `route`: providers in priority order (the route's provider first),
    /// each retried per the SDK rules, then the next. Text, notes and restarts go to `sink`.
    /// Dropping the future cancels the call.
    pub async fn chat(
        &self,
        route: &Route,
        req: &ChatRequest,
        sink: &mut (dyn FnMut(RouteEvent) + Send),
    ) -> Result<ChatResponse, RouteError> {
        let order = self.candidates(route)?;
        let mut failures: Vec<String> = Vec::new();
        let mut restart_from: Option<String> = None;
        let note = |sink: &mut (dyn FnMut(RouteEvent) + Send), text: String| {
            tracing::info!(target: "baton::providers", "{text}");
            sink(RouteEvent::Note(text));
        };

        for (pos, &index) in order.iter().enumerate() {
            let slot = &self.slots[index];
            let name = slot.client.name().to_string();
            let next = order
                .get(pos + 1)
                .map(|&i| self.slots[i].client.name().to_string());
            let onward = match &next {
                Some(n) => format!("falling back to {n}"),
                None => "no provider left".to_string(),
            };
            if let Some(problem) = slot.client.key_problem() {
                note(sink, format!("skipping {name}: {problem}"));
                failures.push(format!("{name}: {problem}"));
                continue;
            }
            let mut req = req.clone();
            req.model = if pos == 0 { route.model.clone() } else { None };
            let mut attempt: u32 = 0;
            loop {
                let admission = slot.state().health.admit(self.clock.now());
                let probe = match admission {
                    Admission::Allowed => false,
                    Admission::Probe => {
                        note(
                            sink,
                            format!("probing {name}: its circuit was open; one attempt decides"),
                        );
                        true
                    }
                    Admission::Refused { retry_in } => {
                        let why = format!(
                            "circuit open after repeated failures (next probe in {})",
                            show(round(retry_in))
                        );
                        note(sink, format!("skipping {name}: {why}"));
                        failures.push(format!("{name}: {why}"));
                        break;
                    }
                };

                let wait = self.reserve(slot, &req);
                if !wait.is_zero() {
                    note(
                        sink,
                        format!(
                            "{name}: client rate limit reached; waiting {}",
                            show(round(wait))
                        ),
                    );
                    tokio::time::sleep(wait).await;
                }
                if let Some(from) = restart_from.take() {
                    note(
                        sink,
                        format!("{from} failed after output began; restarting on {name}"),
                    );
                }

                let result = slot
                    .client
                    .chat(&req, &mut |text: &str| {
                        sink(RouteEvent::Text(text.to_string()))
                    })
                    .await;
                self.record(slot, &result);
                let e = match result {
                    Ok(resp) => {
                        self.settle_tokens(slot, &req, &resp);
                        if probe {
                            note(sink, format!("{name} answered the probe; circuit closed"));
                        }
                        return Ok(resp);
                    }
                    Err(e) => e,
                };

                if e.output_began {
                    let reason = e.to_string();
                    tracing::warn!(target: "baton::providers", "{reason}; partial output discarded");
                    sink(RouteEvent::Restart {
                        provider: name.clone(),
                        reason: reason.clone(),
                    });
                    failures.push(reason);
                    restart_from = Some(name.clone());
                    break;
                }
                if e.is_retryable() && attempt < slot.client.config().max_retries() && !probe {
                    match self.retry_delay(&e, attempt) {
                        Some(delay) => {
                            attempt += 1;
                            note(
                                sink,
                                format!(
                                    "retrying {name} in {} after {}",
                                    show(round(delay)),
                                    brief(&e)
                                ),
                            );
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        None => {
                            let hint = e.retry_after.map(show).unwrap_or_default();
                            note(
                                sink,
                                format!(
                                    "{name} asked to wait {hint}, longer than the {} cap; {onward}",
                                    show(self.policy.max_retry_after)
                                ),
                            );
                            failures.push(e.to_string());
                            break;
                        }
                    }
                }
                if !e.kind.falls_back() {
                    note(
                        sink,
                        format!("{e}; not retried (the request itself was refused)"),
                    );
                    return Err(RouteError::Rejected(e));
                }
                let tries = if attempt > 0 {
                    format!(" after {} attempts", attempt + 1)
                } else {
                    String::new()
                };
                note(sink, format!("{e}{tries}; {onward}"));
                failures.push(format!("{e}{tries}"));
                break;
            }
        }
        if let Some(from) = restart_from {
            note(
                sink,
                format!("{from} failed after output began and no provider is left to restart on"),
            );
        }
        Err(RouteError::Exhausted(failures))
    }

    fn reserve(&self, slot: &Slot, req: &ChatRequest) -> Duration {
        let now = self.clock.now();
        let mut state = slot.state();
        let mut wait = Duration::ZERO;
        if let Some(b) = state.rpm.as_mut() {
            wait = wait.max(b.reserve(1, now));
        }
        if let Some(b) = state.tpm.as_mut() {
            let tokens = req.estimated_prompt_tokens() + u64::from(req.max_tokens.unwrap_or(0));
            wait = wait.max(b.reserve(tokens, now));
        }
        wait
    }

    /// Charges the tokens bucket with the real cost once it is known.
    fn settle_tokens(&self, slot: &Slot, req: &ChatRequest, resp: &ChatResponse) {
        let now = self.clock.now();
        let mut state = slot.state();
        if let Some(b) = state.tpm.as_mut() {
            let estimated = req.estimated_prompt_tokens() + u64::from(req.max_tokens.unwrap_or(0));
            let actual = resp.usage.input_tokens + resp.usage.output_tokens;
            if actual > 0 {
                b.adjust(estimated as i64 - actual as i64, now);
            }
        }
    }
}

/// A delay rounded to milliseconds, for messages.
fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

/// Milliseconds since the Unix epoch, for what outlives this process.
fn wall_ms() -> u64 {
    crate::time::Timestamp::now().0
}

/// The short cause of a retry: `HTTP 429`, `timed out`, `overloaded`.
fn brief(e: &ProviderError) -> String {
    match e.status {
        Some(s) => format!("HTTP {s} ({})", e.kind.label()),
        None => e.kind.label().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let p = ProviderConfig::new("a", ProviderKind::Ollama);
        Router::new(&[p], &|_| None).unwrap()
    }

    fn err(retry_after: Option<Duration>) -> ProviderError {
        let mut e = ProviderError::local("a", ErrorKind::RateLimited, "x");
        e.retry_after = retry_after;
        e
    }

    #[test]
    fn a_retry_hint_within_the_cap_is_used_as_is() {
        assert_eq!(
            router().retry_delay(&err(Some(Duration::from_secs(7))), 0),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn a_retry_hint_beyond_the_cap_means_give_up_on_the_provider() {
        assert_eq!(
            router().retry_delay(&err(Some(Duration::from_secs(61))), 0),
            None
        );
    }

    #[test]
    fn backoff_doubles_from_half_a_second_capped_at_eight_with_up_to_a_quarter_jitter() {
        let r = router();
        for (attempt, full) in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)] {
            for _ in 0..50 {
                let d = r.retry_delay(&err(None), attempt).unwrap().as_secs_f64();
                assert!(d <= full && d >= full * 0.75, "attempt {attempt}: {d}");
            }
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let p = ProviderConfig::new("a", ProviderKind::Ollama);
        let e = Router::new(&[p.clone(), p], &|_| None).unwrap_err();
        assert!(e.contains("two [[providers]] entries are named `a`"), "{e}");
    }

    #[test]
    fn the_preferred_provider_goes_first_and_an_unknown_one_is_named() {
        let mut a = ProviderConfig::new("a", ProviderKind::Ollama);
        a.priority = 1;
        let b = ProviderConfig::new("b", ProviderKind::Ollama);
        let r = Router::new(&[b, a], &|_| None).unwrap();
        let route = |p: &str| Route {
            provider: Some(p.into()),
            model: None,
        };
        assert_eq!(r.candidates(&Route::default()).unwrap(), [0, 1]);
        assert_eq!(r.candidates(&route("b")).unwrap(), [1, 0]);
        let e = r.candidates(&route("c")).unwrap_err().to_string();
        assert_eq!(e, "no provider named `c`; configured: a, b");
    }
}
