//! What `baton providers` and `baton providers test` print: a table of the providers with
//! their health (never a key), and the outcome of a tiny request to each.

use std::time::Duration;

use super::client::show;
use super::router::{ProviderStatus, Router};
use super::types::ChatRequest;

/// The tiny request `providers test` sends.
pub fn probe_request() -> ChatRequest {
    ChatRequest {
        max_tokens: Some(16),
        ..ChatRequest::new(None, "Reply with the single word: ok")
    }
}

/// Lays out rows as columns separated by two spaces.
fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn health_cell(s: &ProviderStatus) -> String {
    if let Some(problem) = &s.problem {
        return format!("unusable: {problem}");
    }
    let h = &s.health;
    if h.samples == 0 {
        return if s.last_call.is_some() {
            h.state.to_string()
        } else {
            format!("{} (no calls yet)", h.state)
        };
    }
    let latency = h
        .latency
        .map(|l| format!(", {} avg", show(round_ms(l))))
        .unwrap_or_default();
    format!(
        "{}, {:.0}% errors of {}{latency}",
        h.state,
        h.error_rate * 100.0,
        h.samples
    )
}

/// The last call any process made, from the health file: `ok 2m05s ago`,
/// `failed 12s ago: HTTP 401 (auth)`, `failed 3 times in a row, last 4s ago: timed out`.
fn last_call_cell(s: &ProviderStatus) -> String {
    let Some(last) = &s.last_call else {
        return "-".to_string();
    };
    let ago =
        crate::time::format_elapsed_ms(crate::time::Timestamp::now().0.saturating_sub(last.at));
    match (&last.error, last.consecutive_failures) {
        (None, _) => format!("ok {ago} ago"),
        (Some(e), n) if n > 1 => format!("failed {n} times in a row, last {ago} ago: {e}"),
        (Some(e), _) => format!("failed {ago} ago: {e}"),
    }
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// The `baton providers` table.
pub fn providers_table(statuses: &[ProviderStatus]) -> String {
    if statuses.is_empty() {
        return "no providers: set OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY (or \
                GOOGLE_API_KEY) or OLLAMA_HOST, or add [[providers]] entries to the config file\n"
            .to_string();
    }
    let mut rows = vec![vec![
        "NAME".to_string(),
        "KIND".into(),
        "MODEL".into(),
        "BASE URL".into(),
        "PRIORITY".into(),
        "KEY".into(),
        "HEALTH".into(),
        "LAST CALL".into(),
    ]];
    for s in statuses {
        rows.push(vec![
            s.name.clone(),
            s.kind.to_string(),
            s.model.clone(),
            s.base_url.clone(),
            s.priority.to_string(),
            s.key_env
                .as_ref()
                .map_or("-".to_string(), |v| format!("${v}")),
            health_cell(s),
            last_call_cell(s),
        ]);
    }
    columns(&rows)
}

/// The outcome of one provider's test request.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// Provider name.
    pub name: String,
    /// Latency, model and the first words of the answer; or the exact error.
    pub result: Result<(Duration, String, String), String>,
}

/// Sends the tiny request to each provider (all, or those named in `only`), one after another.
pub async fn test_providers(router: &Router, only: &[String]) -> Vec<ProbeOutcome> {
    let req = probe_request();
    let mut out = Vec::new();
    for client in router.clients() {
        let name = client.name().to_string();
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let result = router
            .probe(&name, &req)
            .await
            .map(|r| {
                let words: String = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
                let words: String = words.chars().take(40).collect();
                (r.latency, r.model, words)
            })
            .map_err(|e| e.to_string());
        out.push(ProbeOutcome { name, result });
    }
    out
}

/// The `baton providers test` table.
pub fn probe_table(outcomes: &[ProbeOutcome]) -> String {
    let mut rows = vec![vec!["NAME".to_string(), "RESULT".into()]];
    for o in outcomes {
        let cell = match &o.result {
            Ok((latency, model, words)) => {
                format!("ok in {} ({model}): {words:?}", show(round_ms(*latency)))
            }
            Err(e) => format!("FAILED: {e}"),
        };
        rows.push(vec![o.name.clone(), cell]);
    }
    columns(&rows)
}
