//! `http:` one request; the output is the parsed body.

use std::sync::OnceLock;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;
use tokio::time::Instant;

use super::{Attempt, AttemptResult, Failure, Success, output_value, wait_cancelled};
use crate::store::LogStream;

/// Body lines copied into the step's log.
const LOGGED_BODY_LINES: usize = 200;

/// A rendered request, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// GET, POST, ...
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers.
    pub headers: IndexMap<String, String>,
    /// JSON body.
    pub json: Option<Value>,
    /// Text body.
    pub text: Option<String>,
    /// Accepted statuses (empty: any 2xx).
    pub expect: Vec<u16>,
}

/// One HTTP client for the whole process (connection reuse; TLS set up once).
pub fn client() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| format!("cannot set up the HTTP client: {e}"))
        })
        .clone()
}

/// Sends the request; a status outside `expect` fails the attempt.
pub async fn run(req: HttpRequest, mut attempt: Attempt) -> AttemptResult {
    let client = client().map_err(Failure::fatal)?;
    let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| Failure::fatal(format!("`{}` is not an HTTP method", req.method)))?;
    let mut builder = client.request(method.clone(), &req.url);
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(json) = &req.json {
        builder = builder.json(json);
    } else if let Some(text) = &req.text {
        builder = builder.body(text.clone());
    }
    if let Some(t) = attempt.timeout {
        builder = builder.timeout(t);
    }
    let started = Instant::now();
    (attempt.log)(LogStream::System, &format!("{method} {}", req.url));
    let send = async {
        let response = builder.send().await?;
        let status = response.status();
        let body = response.text().await?;
        Ok::<_, reqwest::Error>((status, body))
    };
    let outcome = tokio::select! {
        r = send => r,
        _ = wait_cancelled(&mut attempt.control) => return Err(Failure::cancelled()),
    };
    let (status, body) = outcome.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            format!("cannot connect: {}", root_cause(&e))
        } else {
            root_cause(&e)
        };
        let mut f = Failure::retryable(format!("{method} {}: {what}", req.url));
        f.timed_out = e.is_timeout();
        f
    })?;
    let elapsed = started.elapsed().as_millis();
    (attempt.log)(
        LogStream::System,
        &format!("→ {} ({elapsed} ms, {} bytes)", status.as_u16(), body.len()),
    );
    for line in body.lines().take(LOGGED_BODY_LINES) {
        (attempt.log)(LogStream::Stdout, line);
    }
    let ok = if req.expect.is_empty() {
        status.is_success()
    } else {
        req.expect.contains(&status.as_u16())
    };
    if !ok {
        let expected = if req.expect.is_empty() {
            "a 2xx status".to_string()
        } else {
            req.expect
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        };
        return Err(Failure {
            error: format!(
                "{method} {} answered {}, expected {expected}",
                req.url,
                status.as_u16()
            ),
            retryable: true,
            stdout: body,
            ..Failure::default()
        });
    }
    Ok(Success {
        output: output_value(&body),
        stdout: body,
        exit_code: None,
        ..Success::default()
    })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
