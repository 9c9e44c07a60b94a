//! Delivering one notice to one target: the request or command, its retries with backoff,
//! and the log line when it gives up. Errors never carry the target's URL.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Notice;
use super::sign;
use crate::engine::machine::retry::backoff_delay;
use crate::engine::policy::Jitter;
use crate::secrets::Redactor;
use crate::spec::notify::{NotifyKind, NotifyTarget, SecretSource, Url};
use crate::spec::{Dur, RetryPolicy};

/// Attempts per delivery, the first included.
const ATTEMPTS: u32 = 4;
/// Time limit of one attempt (request or command).
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);

/// One delivery.
pub(super) struct Job {
    /// 1-based place of the target in `notify:`, for log lines.
    pub number: usize,
    pub target: NotifyTarget,
    pub notice: Arc<Notice>,
    pub base: Option<PathBuf>,
}

/// `notice` with the run's secrets masked in every text it carries.
pub(super) fn masked(notice: Notice, redactor: &Redactor) -> Notice {
    let body = serde_json::to_string(&notice.body)
        .ok()
        .map(|s| redactor.redact(&s).into_owned())
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    Notice {
        event: notice.event,
        body,
        text: redactor.redact(&notice.text).into_owned(),
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: ATTEMPTS,
        initial: Dur(Duration::from_millis(500)),
        max: Dur(Duration::from_secs(8)),
        multiplier: 2.0,
        jitter: true,
        on_exit_codes: Vec::new(),
    }
}

/// Sends, retrying with backoff; logs what finally failed.
pub(super) async fn deliver(job: Job) {
    let policy = policy();
    let mut jitter = Jitter::from_entropy();
    let what = describe(&job.target);
    for attempt in 1..=ATTEMPTS {
        let sent = tokio::time::timeout(ATTEMPT_LIMIT, send_once(&job)).await;
        let error = match sent {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {}s", ATTEMPT_LIMIT.as_secs()),
        };
        if attempt == ATTEMPTS {
            tracing::warn!(
                "notify: target #{} ({what}) was not told `{}` after {ATTEMPTS} attempts: {error}",
                job.number,
                job.notice.event.name()
            );
            return;
        }
        tracing::info!(
            "notify: target #{} ({what}), attempt {attempt} failed: {error}; retrying",
            job.number
        );
        tokio::time::sleep(backoff_delay(&policy, attempt + 1, jitter.next_unit())).await;
    }
}

fn describe(target: &NotifyTarget) -> &'static str {
    match target.kind {
        NotifyKind::Webhook { .. } => "webhook",
        NotifyKind::Slack { .. } => "slack",
        NotifyKind::Command { .. } => "command",
    }
}

async fn send_once(job: &Job) -> Result<(), String> {
    let notice = &job.notice;
    match &job.target.kind {
        NotifyKind::Webhook { url, secret } => {
            let body = serde_json::to_vec(&notice.body).map_err(|e| e.to_string())?;
            let signature = match secret {
                Some(s) => Some(sign::signature(
                    &read_secret(s, job.base.as_deref())?,
                    &body,
                )?),
                None => None,
            };
            post(url, body, signature).await
        }
        NotifyKind::Slack { url } => {
            let body =
                serde_json::to_vec(&json!({ "text": notice.text })).map_err(|e| e.to_string())?;
            post(url, body, None).await
        }
        NotifyKind::Command { command } => run_command(command, notice).await,
    }
}

async fn post(url: &Url, body: Vec<u8>, signature: Option<String>) -> Result<(), String> {
    let url = match url {
        Url::Literal(u) => u.clone(),
        Url::Env(name) => std::env::var(name).map_err(|_| {
            format!("the environment variable `{name}` that holds the URL is not set")
        })?,
    };
    let client = crate::providers::client::http_client(Some(Duration::from_secs(10)))?;
    let mut request = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(sig) = signature {
        request = request.header(sign::HEADER, sig);
    }
    let answer = request
        .send()
        .await
        .map_err(|e| crate::providers::client::error_chain(&e.without_url()))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the server answered {status}"))
    }
}

/// The signing key, read now (never kept): a file's content without its trailing newline, or an
/// environment variable of the owner.
fn read_secret(source: &SecretSource, base: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    match source {
        SecretSource::Env(name) => std::env::var(name)
            .map(String::into_bytes)
            .map_err(|_| format!("the signing key's variable `{name}` is not set")),
        SecretSource::File(path) => {
            let path = match base {
                Some(dir) => dir.join(path),
                None => PathBuf::from(path),
            };
            let mut key = std::fs::read(&path)
                .map_err(|e| format!("cannot read the signing key file {}: {e}", path.display()))?;
            while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                key.pop();
            }
            Ok(key)
        }
    }
}

/// `sh -c COMMAND` with the notice's JSON on its standard input; a non-zero exit fails.
async fn run_command(command: &str, notice: &Notice) -> Result<(), String> {
    let body = serde_json::to_vec(&notice.body).map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("BATON_EVENT", notice.event.name())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `sh`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine: a closed pipe is not a failure.
        let _ = stdin.write_all(&body).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("waiting for the command: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the command ended with {status}"))
    }
}
