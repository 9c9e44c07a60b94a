//! Provider errors and their classification: which ones are retried on the same provider,
//! which ones fall back to the next, and which ones fail the call everywhere.
//!
//! The rules follow the official SDKs (see `reference/llm-wire-protocols.md` §5): an
//! `x-should-retry` header wins; 408, 409, 429, 5xx and 529 are retried, as are timeouts and
//! cut connections; quota and billing exhaustion, auth failures and unknown models go straight
//! to the next provider; a 400-class validation error fails everywhere, so it is not retried
//! anywhere.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::config::ProviderKind;

/// What went wrong, in terms of what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 429 that is a rate limit (retry later).
    RateLimited,
    /// 529, 503 or an `overloaded_error` (retry later).
    Overloaded,
    /// Any other 5xx, or an error event without a more specific type.
    Server,
    /// 408 or a local timeout.
    Timeout,
    /// 409 conflict (the SDKs retry it).
    Conflict,
    /// The connection could not be opened.
    Connect,
    /// The connection broke, or the stream ended before its terminator.
    Transport,
    /// Quota or billing exhausted: will not clear soon.
    Quota,
    /// The key was refused, or is not set.
    Auth,
    /// The model (or the endpoint) does not exist on this provider.
    ModelNotFound,
    /// The request itself is invalid (400, 413, 422): it would fail everywhere.
    BadRequest,
    /// The answer could not be understood.
    Decode,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Worth another attempt on the same provider.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::Server
                | ErrorKind::Timeout
                | ErrorKind::Conflict
                | ErrorKind::Connect
                | ErrorKind::Transport
        )
    }

    /// Another provider may succeed where this one failed.
    pub fn falls_back(self) -> bool {
        self != ErrorKind::BadRequest
    }

    /// A short label for messages.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Server => "server error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Connect => "connection failed",
            ErrorKind::Transport => "connection broken",
            ErrorKind::Quota => "quota exhausted",
            ErrorKind::Auth => "authentication failed",
            ErrorKind::ModelNotFound => "model not found",
            ErrorKind::BadRequest => "request rejected",
            ErrorKind::Decode => "unreadable answer",
            ErrorKind::Other => "failed",
        }
    }
}

/// One failed attempt on one provider. Messages are redacted of the provider's key before they
/// are stored here.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError {
    /// The provider's configured name.
    pub provider: String,
    /// The class of failure.
    pub kind: ErrorKind,
    /// HTTP status, when the server answered.
    pub status: Option<u16>,
    /// The provider's own words (or ours for local failures).
    pub message: String,
    /// The server's retry hint (`retry-after-ms`, `retry-after`, Gemini `RetryInfo`).
    pub retry_after: Option<Duration>,
    /// The `x-should-retry` header, which overrides the status rules.
    pub should_retry: Option<bool>,
    /// Some answer text had already been delivered when it failed.
    pub output_began: bool,
    /// The server's request id, for support tickets.
    pub request_id: Option<String>,
}

impl ProviderError {
    /// An error that did not come from an HTTP status.
    pub fn local(provider: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            provider: provider.to_string(),
            kind,
            status: None,
            message: message.into(),
            retry_after: None,
            should_retry: None,
            output_began: false,
            request_id: None,
        }
    }

    /// Worth another attempt on the same provider (headers first, then the kind).
    pub fn is_retryable(&self) -> bool {
        if self.output_began {
            return false;
        }
        self.should_retry
            .unwrap_or_else(|| self.kind.is_retryable())
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.provider)?;
        if let Some(status) = self.status {
            write!(f, "HTTP {status} ")?;
        }
        write!(f, "{}", self.kind.label())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {}

/// The error a non-2xx HTTP answer stands for.
pub fn from_http(
    provider: &str,
    kind: ProviderKind,
    status: u16,
    headers: &HeaderMap,
    body: &str,
) -> ProviderError {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let detail = json
        .as_ref()
        .map(|v| error_detail(kind, v))
        .unwrap_or_default();
    let message = if let Some(m) = detail.message.clone().filter(|m| !m.is_empty()) {
        m
    } else {
        let text = body.trim();
        if text.is_empty() {
            "(empty body)".to_string()
        } else {
            text.chars().take(500).collect()
        }
    };
    let mut class = match status {
        400 | 413 | 422 => ErrorKind::BadRequest,
        401 | 403 => ErrorKind::Auth,
        402 => ErrorKind::Quota,
        404 => ErrorKind::ModelNotFound,
        408 => ErrorKind::Timeout,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        500..=599 => ErrorKind::Server,
        _ => ErrorKind::Other,
    };
    if let Some(typed) = detail.typed_kind {
        // The body's error type is more precise than the status (a 400 API_KEY_INVALID is an
        // auth failure; a 429 insufficient_quota is not a rate limit).
        if !(class == ErrorKind::Server && typed == ErrorKind::BadRequest) {
            class = typed;
        }
    }
    let retry_after = retry_after_header(headers).or(detail.retry_delay);
    ProviderError {
        provider: provider.to_string(),
        kind: class,
        status: Some(status),
        message,
        retry_after,
        should_retry: should_retry_header(headers),
        output_began: false,
        request_id: request_id(headers),
    }
}

/// What an error body says, per family.
#[derive(Debug, Default)]
pub(crate) struct ErrorDetail {
    pub message: Option<String>,
    pub typed_kind: Option<ErrorKind>,
    pub retry_delay: Option<Duration>,
}

/// Reads an error object in any of the four families' shapes (also used for errors sent
/// inside a stream after HTTP 200).
pub(crate) fn error_detail(kind: ProviderKind, v: &Value) -> ErrorDetail {
    let mut d = ErrorDetail::default();
    let err = v.get("error").unwrap_or(v);
    match err {
        Value::String(s) => d.message = Some(s.clone()),
        Value::Object(_) => {
            d.message = err
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        _ => {}
    }
    let type_of = |key: &str| err.get(key).and_then(Value::as_str).unwrap_or("");
    let typed = |t: &str| -> Option<ErrorKind> {
        Some(match t {
            "insufficient_quota" | "billing_error" | "billing_not_active" => ErrorKind::Quota,
            "rate_limit_error" | "rate_limit_exceeded" => ErrorKind::RateLimited,
            "overloaded_error" | "unavailable_error" => ErrorKind::Overloaded,
            "api_error" | "server_error" => ErrorKind::Server,
            "timeout_error" => ErrorKind::Timeout,
            "authentication_error" | "permission_error" | "invalid_api_key" => ErrorKind::Auth,
            "not_found_error" | "model_not_found" => ErrorKind::ModelNotFound,
            "invalid_request_error" | "request_too_large" => ErrorKind::BadRequest,
            _ => return None,
        })
    };
    match kind {
        ProviderKind::Openai | ProviderKind::Anthropic | ProviderKind::Ollama => {
            d.typed_kind = typed(type_of("code"))
                .or_else(|| typed(type_of("type")))
                .filter(|k| *k != ErrorKind::BadRequest || kind == ProviderKind::Anthropic);
        }
        ProviderKind::Gemini => {
            let details = err.get("details").and_then(Value::as_array);
            for item in details.into_iter().flatten() {
                let at = item.get("@type").and_then(Value::as_str).unwrap_or("");
                if at.ends_with("RetryInfo") {
                    d.retry_delay = item
                        .get("retryDelay")
                        .and_then(Value::as_str)
                        .and_then(parse_seconds);
                }
                if at.ends_with("QuotaFailure") && item.to_string().contains("PerDay") {
                    d.typed_kind = Some(ErrorKind::Quota);
                }
                if item.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID") {
                    d.typed_kind = Some(ErrorKind::Auth);
                }
            }
            if d.typed_kind.is_none() {
                d.typed_kind = match type_of("status") {
                    "UNAUTHENTICATED" | "PERMISSION_DENIED" => Some(ErrorKind::Auth),
                    "NOT_FOUND" => Some(ErrorKind::ModelNotFound),
                    "UNAVAILABLE" => Some(ErrorKind::Overloaded),
                    "DEADLINE_EXCEEDED" => Some(ErrorKind::Timeout),
                    _ => None,
                };
            }
        }
    }
    d
}

/// `"36s"` or `"1.5s"` (protobuf Duration JSON form).
fn parse_seconds(s: &str) -> Option<Duration> {
    let n: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| Duration::from_secs_f64(n))
}

/// `retry-after-ms`, then `retry-after` in seconds or as an HTTP date.
pub fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = parse_http_date(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

fn should_retry_header(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// The request id header of any family.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "request-id", "x-goog-request-id"]
        .iter()
        .find_map(|h| headers.get(*h)?.to_str().ok().map(str::to_string))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to seconds since the epoch.
fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<u64> = parts[4]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn classify(kind: ProviderKind, status: u16, body: &str) -> ProviderError {
        from_http("p", kind, status, &HeaderMap::new(), body)
    }

    #[test]
    fn statuses_map_to_the_sdk_retry_rules() {
        for s in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(classify(ProviderKind::Openai, s, "").is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422, 402] {
            assert!(!classify(ProviderKind::Openai, s, "").is_retryable(), "{s}");
        }
        assert!(!classify(ProviderKind::Openai, 400, "").kind.falls_back());
        assert!(classify(ProviderKind::Openai, 404, "").kind.falls_back());
    }

    #[test]
    fn openai_insufficient_quota_is_not_retried_but_falls_back() {
        let e = classify(
            ProviderKind::Openai,
            429,
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Quota);
        assert!(!e.is_retryable());
        assert!(e.kind.falls_back());
        assert_eq!(e.message, "You exceeded your current quota");
    }

    #[test]
    fn anthropic_error_types_are_read() {
        let e = classify(
            ProviderKind::Anthropic,
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Overloaded, "Overloaded")
        );
        let e = classify(
            ProviderKind::Anthropic,
            400,
            r#"{"type":"error","error":{"type":"billing_error","message":"no credit"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Quota);
    }

    #[test]
    fn gemini_invalid_key_and_per_day_quota_and_retry_info_are_read() {
        let e = classify(
            ProviderKind::Gemini,
            400,
            r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        let e = classify(
            ProviderKind::Gemini,
            429,
            r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"36s"}]}}"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.retry_after, Some(Duration::from_secs(36)));
        let e = classify(
            ProviderKind::Gemini,
            429,
            r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProject"}]}]}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Quota);
    }

    #[test]
    fn ollama_and_vllm_flat_errors_are_read() {
        let e = classify(
            ProviderKind::Ollama,
            404,
            r#"{"error":"model 'x' not found"}"#,
        );
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::ModelNotFound, "model 'x' not found")
        );
        let e = classify(
            ProviderKind::Openai,
            400,
            r#"{"object":"error","message":"bad","type":"BadRequestError"}"#,
        );
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::BadRequest, "bad"));
    }

    #[test]
    fn retry_hints_prefer_milliseconds_then_seconds_then_dates() {
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(retry_after_header(&h), Some(Duration::from_millis(1500)));
        let h = headers(&[("retry-after", "7")]);
        assert_eq!(retry_after_header(&h), Some(Duration::from_secs(7)));
        let h = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(
            retry_after_header(&h),
            Some(Duration::ZERO),
            "a past date is now"
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(
            retry_after_header(&headers(&[("retry-after", "soon")])),
            None
        );
    }

    #[test]
    fn x_should_retry_overrides_the_status() {
        let h = headers(&[("x-should-retry", "false")]);
        assert!(!from_http("p", ProviderKind::Openai, 500, &h, "").is_retryable());
        let h = headers(&[("x-should-retry", "true")]);
        assert!(from_http("p", ProviderKind::Openai, 400, &h, "").is_retryable());
    }

    #[test]
    fn nothing_is_retried_on_the_same_provider_once_output_began() {
        let mut e = classify(ProviderKind::Openai, 500, "");
        e.output_began = true;
        assert!(!e.is_retryable());
    }
}
