//! OpenTelemetry traces of runs and steps, sent over OTLP/HTTP (JSON) to the collector that
//! `[otel] endpoint` names: a trace per run, a span per step (attempt, exit code, status, LLM
//! tokens and cost) and per fan-out item ([`spans`]).
//!
//! Every process that runs workflows (a console, `baton serve`, `baton run`) exports the spans
//! of what it ran: a thread of its own follows the engine's Events, batches the spans of steps
//! and runs as they end, and posts them every `interval`, or at once when a run ends. A
//! collector that is down or refuses costs a warning in baton's own log and a retry; the spans
//! wait (up to [`MAX_WAITING`], the oldest dropped first) and never hold up a run. At exit,
//! [`flush_at_exit`] gives the last ones up to 5 s to go (1 s when the collector was failing
//! already).

pub mod spans;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use crate::engine::Engine;
use crate::providers::client::error_chain;
use crate::store::{Event, EventKind, RunId, Store};
use crate::time::Dur;
use spans::Span;

/// Spans kept while the collector cannot take them.
pub const MAX_WAITING: usize = 8_192;
/// Spans per request.
const BATCH: usize = 512;
/// How long one export may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the process waits for its last spans to go at exit.
const EXIT_PATIENCE: Duration = Duration::from_secs(5);
/// The last try at exit when the collector was failing already: a collector that cannot be
/// reached costs a command about this much, not `EXIT_PATIENCE`.
const LAST_TRY_WHEN_FAILING: Duration = Duration::from_secs(1);

/// `[otel]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtelSection {
    /// The collector's OTLP/HTTP address (`http://127.0.0.1:4318`; `/v1/traces` is added) or
    /// its full traces URL. Unset: no traces.
    pub endpoint: Option<String>,
    /// `service.name` of the spans (default `baton`).
    pub service_name: Option<String>,
    /// A file of `Name: value` header lines sent with each export (an API key), private to
    /// you; relative to the config file's directory. Its values never reach a log.
    pub headers_file: Option<PathBuf>,
    /// The longest time a finished step's span waits before it is sent (default 2s).
    pub interval: Option<Dur>,
}

/// Where spans go, checked.
#[derive(Debug, Clone)]
pub struct Target {
    url: reqwest::Url,
    service: String,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    interval: Duration,
}

impl OtelSection {
    /// The target, `None` without an endpoint; an error naming the key and what to fix.
    pub fn target(&self, config_dir: &Path) -> anyhow::Result<Option<Target>> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(None);
        };
        let mut url = reqwest::Url::parse(endpoint.trim()).map_err(|e| {
            anyhow!("[otel] endpoint `{endpoint}` is not a URL ({e}): give one like http://127.0.0.1:4318")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("[otel] endpoint `{endpoint}` must be http:// or https:// (OTLP over HTTP)");
        }
        let path = url.path().trim_end_matches('/').to_string();
        if path.ends_with("/v1/traces") {
            url.set_path(&path);
        } else {
            url.set_path(&format!("{path}/v1/traces"));
        }
        let headers = match &self.headers_file {
            Some(file) => read_headers(&config_dir.join(file))?,
            None => Vec::new(),
        };
        Ok(Some(Target {
            url,
            service: self.service_name.clone().unwrap_or_else(|| "baton".into()),
            headers,
            interval: self
                .interval
                .map_or(Duration::from_secs(2), |d| d.0)
                .max(Duration::from_millis(10)),
        }))
    }
}

/// The headers of a private file of `Name: value` lines (`#` comments).
fn read_headers(
    path: &Path,
) -> anyhow::Result<Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>> {
    let what = || format!("[otel] headers_file {}", path.display());
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read the {}", what()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "the {} may be read by others (mode {mode:03o}); it holds secrets, so it must be \
             private to you: run `chmod 600 {}`",
            what(),
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the {}", what()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = || format!("{}:{}", path.display(), i + 1);
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| anyhow!("{}: expected `Name: value`", place()))?;
        let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| anyhow!("{}: `{}` is not a header name", place(), name.trim()))?;
        // The value is a secret: the error does not repeat it.
        let mut value = reqwest::header::HeaderValue::from_str(value.trim())
            .map_err(|_| anyhow!("{}: the value of `{name}` is not a header value", place()))?;
        value.set_sensitive(true);
        out.push((name, value));
    }
    Ok(out)
}

/// The exporting thread of this process, for [`flush_at_exit`].
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

struct Running {
    flush: mpsc::UnboundedSender<std::sync::mpsc::Sender<()>>,
}

/// Starts exporting the spans of what `engine` runs to `target`, on a thread of its own.
pub fn start(engine: &Engine, target: Target) -> anyhow::Result<()> {
    let events = engine.live_events();
    let store = engine.store().clone();
    let (flush, flushes) = mpsc::unbounded_channel();
    let client = crate::providers::client::http_client(Some(REQUEST_TIMEOUT))
        .map_err(|e| anyhow!("cannot make the OTLP client: {e}"))?;
    std::thread::Builder::new()
        .name("baton-otel".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return tracing::warn!("otel: cannot start its runtime: {e}"),
            };
            let exporter = Exporter {
                target,
                client,
                store,
                host: crate::identity::host_name(),
                waiting: Vec::new(),
                dropped: 0,
                failing: false,
            };
            rt.block_on(exporter.follow(events, flushes));
        })
        .context("cannot start the OTLP exporter's thread")?;
    if let Ok(mut running) = RUNNING.lock() {
        *running = Some(Running { flush });
    }
    Ok(())
}

/// Sends the spans still waiting, giving them `EXIT_PATIENCE`; at the end of every command.
pub fn flush_at_exit() {
    let Some(running) = RUNNING.lock().ok().and_then(|mut r| r.take()) else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    if running.flush.send(tx).is_ok() {
        let _ = rx.recv_timeout(EXIT_PATIENCE);
    }
}

struct Exporter {
    target: Target,
    client: reqwest::Client,
    store: Store,
    host: String,
    waiting: Vec<Span>,
    dropped: u64,
    /// The last export failed (said once until one succeeds).
    failing: bool,
}

impl Exporter {
    async fn follow(
        mut self,
        mut events: broadcast::Receiver<Event>,
        mut flushes: mpsc::UnboundedReceiver<std::sync::mpsc::Sender<()>>,
    ) {
        let mut tick = tokio::time::interval(self.target.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) => {
                        if self.take(&event) {
                            self.export().await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(
                        "otel: {n} events went by unread; spans of steps that ended among them are missing"
                    ),
                    Err(broadcast::error::RecvError::Closed) => {
                        self.export().await;
                        return;
                    }
                },
                Some(done) = flushes.recv() => {
                    // The Events already announced come first (the end of the run that
                    // `baton run` waited for among them).
                    while let Ok(event) = events.try_recv() {
                        self.take(&event);
                    }
                    let patience = if self.failing {
                        LAST_TRY_WHEN_FAILING
                    } else {
                        EXIT_PATIENCE
                    };
                    let _ = tokio::time::timeout(patience, self.export()).await;
                    let _ = done.send(());
                }
                _ = tick.tick() => self.export().await,
            }
        }
    }

    /// Keeps the spans an Event ends; true when a run ended (send now).
    fn take(&mut self, event: &Event) -> bool {
        match &event.kind {
            EventKind::Step { record } => {
                let spans = spans::step_spans(event.run.as_str(), record);
                self.keep(spans);
                false
            }
            EventKind::RunState { state, .. } if state.is_terminal() => {
                match self.run_span(&event.run) {
                    Ok(Some(span)) => self.keep(vec![span]),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("otel: no span for run {}: {e:#}", event.run),
                }
                true
            }
            _ => false,
        }
    }

    fn run_span(&self, run: &RunId) -> anyhow::Result<Option<Span>> {
        let record = self
            .store
            .run(run)?
            .ok_or_else(|| anyhow!("the store has no run {run}"))?;
        Ok(spans::run_span(&record))
    }

    fn keep(&mut self, spans: Vec<Span>) {
        self.waiting.extend(spans);
        let over = self.waiting.len().saturating_sub(MAX_WAITING);
        if over > 0 {
            self.waiting.drain(..over);
            self.dropped += over as u64;
        }
    }

    /// Sends what waits, a batch at a time; on a failure the rest waits for the next time.
    async fn export(&mut self) {
        if self.dropped > 0 {
            tracing::warn!(
                "otel: {} span(s) dropped: {} could not take them in time",
                self.dropped,
                self.target.url
            );
            self.dropped = 0;
        }
        while !self.waiting.is_empty() {
            let n = self.waiting.len().min(BATCH);
            match self.send(&self.waiting[..n]).await {
                Ok(()) => {
                    self.waiting.drain(..n);
                    if self.failing {
                        tracing::info!("otel: {} takes spans again", self.target.url);
                        self.failing = false;
                    }
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(
                            "otel: cannot export spans: {e:#}; they wait for the next try"
                        );
                        self.failing = true;
                    }
                    return;
                }
            }
        }
    }

    async fn send(&self, batch: &[Span]) -> anyhow::Result<()> {
        let body = spans::export_body(&self.target.service, &self.host, batch);
        let mut request = (self.client.post(self.target.url.clone()))
            .timeout(REQUEST_TIMEOUT)
            .json(&body);
        for (name, value) in &self.target.headers {
            request = request.header(name, value);
        }
        let url = &self.target.url;
        let response = request
            .send()
            .await
            .map_err(|e| anyhow!("{url}: {}", error_chain(&e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            bail!(
                "{url} answered {status}: {}",
                crate::sanitize::escape(&text, false)
            );
        }
        Ok(())
    }
}

/// Starts exporting when `[otel]` names an endpoint; a bad section is an error at start.
pub fn start_configured(
    engine: &Engine,
    section: &OtelSection,
    config_file: &Path,
) -> anyhow::Result<()> {
    let dir = config_file.parent().unwrap_or(Path::new("."));
    match section.target(dir)? {
        Some(target) => start(engine, target),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_its_traces_path_and_a_bad_one_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let section = |endpoint: &str| OtelSection {
            endpoint: Some(endpoint.into()),
            ..Default::default()
        };
        let t = section("http://127.0.0.1:4318").target(dir.path()).unwrap();
        assert_eq!(t.unwrap().url.as_str(), "http://127.0.0.1:4318/v1/traces");
        let t = section("https://c.example/otlp/v1/traces/")
            .target(dir.path())
            .unwrap();
        assert_eq!(t.unwrap().url.as_str(), "https://c.example/otlp/v1/traces");
        let e = section("127.0.0.1:4318").target(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("[otel] endpoint"), "{e:#}");
        let e = section("grpc://c:4317").target(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("http://"), "{e:#}");
        assert!(OtelSection::default().target(dir.path()).unwrap().is_none());
    }

    #[test]
    fn a_headers_file_must_be_private_and_its_values_are_never_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("otel-headers");
        std::fs::write(
            &file,
            "# key\nx-api-key: s3cr3t-v4lue\nAuthorization: Bearer t0k\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let section = OtelSection {
            endpoint: Some("http://127.0.0.1:4318".into()),
            headers_file: Some("otel-headers".into()),
            ..Default::default()
        };
        let e = section.target(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("chmod 600"), "{e:#}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let t = section.target(dir.path()).unwrap().unwrap();
        assert_eq!(t.headers.len(), 2);
        assert!(t.headers.iter().all(|(_, v)| v.is_sensitive()));
        assert!(!format!("{t:?}").contains("s3cr3t"), "{t:?}");
        std::fs::write(&file, "x-api-key: bad\u{7f}s3cr3t\n").unwrap();
        let e = section.target(dir.path()).unwrap_err();
        assert!(
            format!("{e:#}").contains(":1: the value of `x-api-key`"),
            "{e:#}"
        );
        assert!(!format!("{e:#}").contains("s3cr3t"), "{e:#}");
    }
}
