//! The router against fake providers on 127.0.0.1: fallback order, the SDK retry rules,
//! retry-after on paused time, the circuit breaker and its half-open probe, client rate limits,
//! and restarts that never splice two providers' output.

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::providers::{
    ChatRequest, Clock, ProviderConfig, ProviderKind, Route, RouteError, RouteEvent, Router,
    RouterPolicy,
};
use fake_llm::{FakeLlm, Reply};
use tokio::time::Instant;

fn router(configs: &[ProviderConfig]) -> Router {
    Router::new(configs, &|_| None).unwrap()
}

fn prioritised(fake: &FakeLlm, name: &str, kind: ProviderKind, priority: i32) -> ProviderConfig {
    let mut p = fake.provider(name, kind);
    p.priority = priority;
    p
}

fn req() -> ChatRequest {
    ChatRequest {
        stream: true,
        ..ChatRequest::new(Some("sys".into()), "question")
    }
}

/// Runs one routed call and returns its result with every event the sink saw.
async fn call(r: &Router, route: &Route) -> (Result<String, RouteError>, Vec<RouteEvent>) {
    let mut events = Vec::new();
    let result = r
        .chat(route, &req(), &mut |e| events.push(e))
        .await
        .map(|resp| format!("{}: {}", resp.provider, resp.text));
    (result, events)
}

fn notes(events: &[RouteEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RouteEvent::Note(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn quota_body() -> Reply {
    Reply::Status {
        status: 429,
        headers: vec![],
        body: r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#.into(),
    }
}

#[tokio::test(start_paused = true)]
async fn fallback_follows_priority_after_retries_and_skips_retries_on_quota() {
    let (a, b, c) = (
        FakeLlm::start().await,
        FakeLlm::start().await,
        FakeLlm::start().await,
    );
    a.set_default(Reply::ServerError);
    b.set_default(quota_body());
    c.set_default(Reply::Text("from c".into()));
    // Given out of order: priority decides.
    let r = router(&[
        prioritised(&c, "c", ProviderKind::Ollama, 3),
        prioritised(&a, "a", ProviderKind::Openai, 1),
        prioritised(&b, "b", ProviderKind::Openai, 2),
    ]);
    let (result, events) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "c: from c");
    assert_eq!(
        (a.hits(), b.hits(), c.hits()),
        (3, 1, 1),
        "a: 1 + 2 retries; b: quota is final"
    );
    let n = notes(&events);
    assert!(n[0].starts_with("retrying a in "), "{n:?}");
    assert!(n[1].starts_with("retrying a in "), "{n:?}");
    assert_eq!(
        n[2],
        "a: HTTP 500 server error: The server had an error while processing your request \
         (request id req_fake) after 3 attempts; falling back to b"
    );
    assert!(
        n[3].starts_with("b: HTTP 429 quota exhausted: You exceeded your current quota"),
        "{n:?}"
    );
    assert!(n[3].ends_with("; falling back to c"), "{n:?}");
    assert_eq!(n.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_before_retrying_the_same_provider() {
    let a = FakeLlm::start().await;
    a.push(Reply::RateLimited {
        retry_after: "7".into(),
    });
    a.set_default(Reply::Text("after the wait".into()));
    let r = router(&[a.provider("a", ProviderKind::Anthropic)]);
    let (result, events) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "a: after the wait");
    assert_eq!(
        notes(&events),
        ["retrying a in 7s after HTTP 429 (rate limited)"]
    );
    let reqs = a.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].at - reqs[0].at >= Duration::from_secs(7),
        "waited the server's 7s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_gives_up_on_the_provider_at_once() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    a.set_default(Reply::RateLimited {
        retry_after: "3600".into(),
    });
    let r = router(&[
        prioritised(&a, "a", ProviderKind::Gemini, 1),
        prioritised(&b, "b", ProviderKind::Gemini, 2),
    ]);
    let (result, events) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "b: ok");
    assert_eq!(a.hits(), 1);
    assert_eq!(
        notes(&events),
        ["a asked to wait 1h, longer than the 1m cap; falling back to b"]
    );
}

#[tokio::test(start_paused = true)]
async fn overloaded_529_is_retried_then_falls_back() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    a.set_default(Reply::Overloaded);
    let r = router(&[
        prioritised(&a, "a", ProviderKind::Anthropic, 1),
        prioritised(&b, "b", ProviderKind::Openai, 2),
    ]);
    let (result, _) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "b: ok");
    assert_eq!(a.hits(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_request_is_neither_retried_nor_sent_elsewhere() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    a.set_default(Reply::Status {
        status: 400,
        headers: vec![],
        body: r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: must be positive"}}"#.into(),
    });
    let r = router(&[
        prioritised(&a, "a", ProviderKind::Anthropic, 1),
        prioritised(&b, "b", ProviderKind::Openai, 2),
    ]);
    let (result, _) = call(&r, &Route::default()).await;
    let e = result.unwrap_err();
    assert!(matches!(e, RouteError::Rejected(_)), "{e}");
    assert_eq!(
        e.to_string(),
        "a: HTTP 400 request rejected: max_tokens: must be positive (request id req_fake)"
    );
    assert_eq!((a.hits(), b.hits()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_breaks_after_output_began_restarts_on_the_next_provider_unspliced() {
    for (first, second) in [
        (ProviderKind::Openai, ProviderKind::Anthropic),
        (ProviderKind::Anthropic, ProviderKind::Gemini),
        (ProviderKind::Gemini, ProviderKind::Ollama),
        (ProviderKind::Ollama, ProviderKind::Openai),
    ] {
        for broken in [
            Reply::Cut {
                before: "AAA partial from a".into(),
            },
            Reply::MidStreamError {
                before: "AAA partial from a".into(),
            },
        ] {
            let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
            a.push(broken.clone());
            b.set_default(Reply::Text("BBB whole answer from b".into()));
            let r = router(&[
                prioritised(&a, "a", first, 1),
                prioritised(&b, "b", second, 2),
            ]);
            let (result, events) = call(&r, &Route::default()).await;
            let case = format!("{first}->{second} {broken:?}");
            assert_eq!(result.unwrap(), "b: BBB whole answer from b", "{case}");
            assert_eq!(a.hits(), 1, "{case}: output began, so no retry on a");

            let restart = events
                .iter()
                .position(|e| matches!(e, RouteEvent::Restart { provider, .. } if provider == "a"))
                .unwrap_or_else(|| panic!("{case}: no restart event in {events:?}"));
            let text_of = |evs: &[RouteEvent]| -> String {
                evs.iter()
                    .filter_map(|e| match e {
                        RouteEvent::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect()
            };
            assert_eq!(text_of(&events[..restart]), "AAA partial from a", "{case}");
            assert_eq!(
                text_of(&events[restart..]),
                "BBB whole answer from b",
                "{case}"
            );
            assert!(
                notes(&events)
                    .contains(&"a failed after output began; restarting on b".to_string()),
                "{case}: {events:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_byte_falls_back_to_the_next_provider() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    a.set_default(Reply::SlowFirstByte {
        delay: Duration::from_secs(3600),
        text: "too late".into(),
    });
    let mut slow = prioritised(&a, "a", ProviderKind::Openai, 1);
    slow.first_byte_timeout = Some(Duration::from_secs(20).into());
    slow.max_retries = Some(0);
    let r = router(&[slow, prioritised(&b, "b", ProviderKind::Openai, 2)]);
    let (result, events) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "b: ok");
    assert_eq!(
        notes(&events),
        ["a: timed out: no response within 20s (first_byte_timeout); falling back to b"]
    );
}

/// A clock the test moves by hand.
struct ManualClock(Mutex<Instant>);

impl ManualClock {
    fn advance(&self, d: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_failures_and_recovers_through_a_probe() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    a.set_default(Reply::ServerError);
    b.set_default(Reply::Text("from b".into()));
    let mut flaky = prioritised(&a, "a", ProviderKind::Openai, 1);
    flaky.max_retries = Some(0);
    let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
    let r = Router::with_policy(
        &[flaky, prioritised(&b, "b", ProviderKind::Openai, 2)],
        &|_| None,
        RouterPolicy::default(),
        clock.clone(),
    )
    .unwrap();

    for _ in 0..3 {
        assert_eq!(call(&r, &Route::default()).await.0.unwrap(), "b: from b");
    }
    assert_eq!(a.hits(), 3);
    assert_eq!(r.statuses()[0].health.state, "open");

    clock.advance(Duration::from_secs(10));
    let (result, events) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "b: from b");
    assert_eq!(a.hits(), 3, "an open breaker skips the provider");
    assert_eq!(
        notes(&events)[0],
        "skipping a: circuit open after repeated failures (next probe in 20s)"
    );

    // After open_for, one probe goes; it fails, so the breaker opens again.
    clock.advance(Duration::from_secs(20));
    let (_, events) = call(&r, &Route::default()).await;
    assert_eq!(a.hits(), 4);
    assert_eq!(
        notes(&events)[0],
        "probing a: its circuit was open; one attempt decides"
    );
    let (_, _) = call(&r, &Route::default()).await;
    assert_eq!(a.hits(), 4, "open again after the failed probe");

    // The provider recovers: the next probe succeeds and closes the breaker.
    a.set_default(Reply::Text("a is back".into()));
    clock.advance(Duration::from_secs(30));
    let (result, events) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "a: a is back");
    assert!(notes(&events).contains(&"a answered the probe; circuit closed".to_string()));
    assert_eq!(r.statuses()[0].health.state, "closed");
    assert_eq!(call(&r, &Route::default()).await.0.unwrap(), "a: a is back");
}

#[tokio::test(start_paused = true)]
async fn the_requests_per_minute_limit_makes_a_call_wait_for_the_bucket() {
    let a = FakeLlm::start().await;
    let mut limited = a.provider("a", ProviderKind::Ollama);
    limited.rpm = Some(1);
    let r = router(&[limited]);
    assert_eq!(call(&r, &Route::default()).await.0.unwrap(), "a: ok");
    let (result, events) = call(&r, &Route::default()).await;
    assert_eq!(result.unwrap(), "a: ok");
    assert_eq!(notes(&events), ["a: client rate limit reached; waiting 1m"]);
    let reqs = a.requests();
    assert!(reqs[1].at - reqs[0].at >= Duration::from_secs(59));
}

#[tokio::test]
async fn a_preferred_provider_goes_first_with_its_model_and_others_keep_theirs() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    b.set_default(quota_body());
    let r = router(&[
        prioritised(&a, "a", ProviderKind::Openai, 1),
        prioritised(&b, "b", ProviderKind::Openai, 2),
    ]);
    let route = Route {
        provider: Some("b".into()),
        model: Some("big-model".into()),
    };
    let (result, _) = call(&r, &route).await;
    assert_eq!(result.unwrap(), "a: ok");
    assert_eq!(b.requests()[0].body["model"], "big-model");
    assert_eq!(a.requests()[0].body["model"], "fake-model");
}

#[tokio::test(start_paused = true)]
async fn when_every_provider_fails_the_error_lists_each_one() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    a.set_default(quota_body());
    b.set_default(Reply::Status {
        status: 404,
        headers: vec![],
        body: r#"{"error":"model 'fake-model' not found"}"#.into(),
    });
    let r = router(&[
        prioritised(&a, "a", ProviderKind::Openai, 1),
        prioritised(&b, "b", ProviderKind::Ollama, 2),
    ]);
    let e = call(&r, &Route::default()).await.0.unwrap_err().to_string();
    assert_eq!(
        e,
        "every provider failed: a: HTTP 429 quota exhausted: You exceeded your current quota \
         (request id req_fake); b: HTTP 404 model not found: model 'fake-model' not found \
         (request id req_fake)"
    );
    assert_eq!((a.hits(), b.hits()), (1, 1));
}

#[tokio::test]
async fn no_providers_and_unknown_providers_say_what_to_do() {
    let r = router(&[]);
    let e = call(&r, &Route::default()).await.0.unwrap_err().to_string();
    assert!(
        e.contains("OPENAI_API_KEY") && e.contains("[[providers]]"),
        "{e}"
    );
    let a = FakeLlm::start().await;
    let r = router(&[a.provider("a", ProviderKind::Openai)]);
    let route = Route {
        provider: Some("claude".into()),
        model: None,
    };
    let e = call(&r, &route).await.0.unwrap_err().to_string();
    assert_eq!(e, "no provider named `claude`; configured: a");
}

#[tokio::test]
async fn the_listing_shows_health_and_the_test_reports_latency_or_the_exact_error() {
    use baton::providers::report::{probe_table, providers_table, test_providers};
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    b.set_default(Reply::Overloaded);
    let mut pa = prioritised(&a, "a", ProviderKind::Openai, 1);
    pa.api_key_env = Some("A_KEY".into());
    let pb = prioritised(&b, "b", ProviderKind::Anthropic, 2);
    let env = |name: &str| (name == "A_KEY").then(|| "sk-listing-secret-42".to_string());
    let r = Router::from_config(&[pa, pb], &env).unwrap();

    let before = providers_table(&r.statuses());
    assert!(before.starts_with("NAME  KIND"), "{before}");
    assert!(
        before.contains("$A_KEY") && before.contains("closed (no calls yet)"),
        "{before}"
    );

    let outcomes = test_providers(&r, &[]).await;
    let table = probe_table(&outcomes);
    assert!(outcomes[0].result.is_ok(), "{table}");
    assert_eq!(
        outcomes[1].result,
        Err("b: HTTP 529 overloaded: Overloaded (request id req_fake)".to_string())
    );
    assert!(
        table.contains("a     ok in ") && table.contains("(fake-model): \"ok\""),
        "{table}"
    );
    assert_eq!(
        (a.hits(), b.hits()),
        (1, 1),
        "a test is one attempt, no retries"
    );

    let after = providers_table(&r.statuses());
    assert!(after.contains("closed, 0% errors of 1"), "{after}");
    assert!(after.contains("closed, 100% errors of 1"), "{after}");
    assert!(!after.contains("sk-listing-secret-42") && !table.contains("sk-listing-secret-42"));
}

/// Health outlives the process: the next router starts from the last calls an earlier one
/// made (a breaker still open is still open), and `baton providers` shows them.
#[tokio::test]
async fn health_is_remembered_in_the_data_dir_for_the_next_process() {
    use baton::providers::HealthFile;
    use baton::providers::report::{providers_table, test_providers};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.json");
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    a.set_default(Reply::ServerError);
    b.set_default(Reply::Text("from b".into()));
    let configs = [
        prioritised(&a, "a", ProviderKind::Openai, 1),
        prioritised(&b, "b", ProviderKind::Openai, 2),
    ];

    // The first process: three failed probes of `a` open its breaker; `b` answers.
    {
        let first = Router::new(&configs, &|_| None)
            .unwrap()
            .remembering(HealthFile::new(&file));
        for _ in 0..3 {
            test_providers(&first, &["a".to_string()]).await;
        }
        test_providers(&first, &["b".to_string()]).await;
    }
    let hits_on_a = a.hits();
    assert_eq!(hits_on_a, 3);

    // The next process starts with `a` open: a chat goes straight to `b`.
    let next = Router::new(&configs, &|_| None)
        .unwrap()
        .remembering(HealthFile::new(&file));
    let table = providers_table(&next.statuses());
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {table}"))
            .to_string()
    };
    assert!(line("a ").contains("open"), "{table}");
    assert!(
        line("a ").contains("failed 3 times in a row, last ")
            && line("a ").contains(" ago: HTTP 500 (server error)"),
        "{table}"
    );
    assert!(
        line("b ").contains("closed") && line("b ").contains("ok "),
        "{table}"
    );
    assert!(!table.contains("no calls yet"), "{table}");
    let (result, _) = call(&next, &Route::default()).await;
    assert_eq!(result.unwrap(), "b: from b");
    assert_eq!(
        a.hits(),
        hits_on_a,
        "the open breaker kept `a` from being called"
    );

    // Without a file, nothing is remembered.
    let fresh = Router::new(&configs, &|_| None).unwrap();
    assert!(providers_table(&fresh.statuses()).contains("closed (no calls yet)"));
}
