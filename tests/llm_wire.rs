//! Each provider family against the fake server on 127.0.0.1: whole and streamed answers,
//! token usage, structured-output request shapes, and the failures a stream can end in.

#[path = "support/fake_llm.rs"]
mod fake_llm;

use baton::providers::{
    ChatRequest, ErrorKind, ProviderClient, ProviderConfig, ProviderKind, ResponseFormat,
};
use fake_llm::{FakeLlm, Reply};
use serde_json::json;

const KINDS: [ProviderKind; 4] = [
    ProviderKind::Openai,
    ProviderKind::Anthropic,
    ProviderKind::Gemini,
    ProviderKind::Ollama,
];

fn client(cfg: ProviderConfig) -> ProviderClient {
    let env = |name: &str| (name == "FAKE_KEY").then(|| "sk-fake-key-0123456789".to_string());
    ProviderClient::new(cfg, &env).unwrap()
}

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        stream,
        max_tokens: Some(50),
        ..ChatRequest::new(Some("Be terse.".into()), "Say hello")
    }
}

#[tokio::test]
async fn every_family_answers_whole_and_streamed_with_usage() {
    let fake = FakeLlm::start().await;
    fake.set_default(Reply::Text("Hello there, wörld — ünïcode ✓".into()));
    for kind in KINDS {
        let c = client(fake.provider("p", kind));
        for stream in [false, true] {
            let mut pieces = Vec::new();
            let resp = c
                .chat(&request(stream), &mut |t| pieces.push(t.to_string()))
                .await
                .unwrap_or_else(|e| panic!("{kind} stream={stream}: {e}"));
            assert_eq!(
                resp.text, "Hello there, wörld — ünïcode ✓",
                "{kind} stream={stream}"
            );
            assert_eq!(pieces.concat(), resp.text, "{kind} stream={stream}");
            if stream {
                assert!(pieces.len() > 1, "{kind}: streamed in pieces");
            }
            assert_eq!(resp.usage.output_tokens, 6, "{kind} stream={stream}");
            assert!(resp.usage.input_tokens > 0, "{kind} stream={stream}");
            assert_eq!(resp.provider, "p");
        }
    }
}

#[tokio::test]
async fn keys_are_sent_in_each_familys_header() {
    let fake = FakeLlm::start().await;
    for kind in KINDS {
        let mut cfg = fake.provider("p", kind);
        cfg.api_key_env = Some("FAKE_KEY".into());
        client(cfg)
            .chat(&request(false), &mut |_| {})
            .await
            .unwrap();
    }
    let reqs = fake.requests();
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer sk-fake-key-0123456789")
    );
    assert_eq!(reqs[1].header("x-api-key"), Some("sk-fake-key-0123456789"));
    assert_eq!(reqs[1].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        reqs[2].header("x-goog-api-key"),
        Some("sk-fake-key-0123456789")
    );
    assert_eq!(
        reqs[3].header("authorization"),
        Some("Bearer sk-fake-key-0123456789")
    );
}

#[tokio::test]
async fn paths_and_structured_output_modes_match_each_family() {
    let fake = FakeLlm::start().await;
    fake.set_default(Reply::Text(r#"{"risk":"low"}"#.into()));
    let schema =
        json!({"type":"object","required":["risk"],"properties":{"risk":{"enum":["low","high"]}}});
    for kind in KINDS {
        let req = ChatRequest {
            format: ResponseFormat::JsonSchema(schema.clone()),
            ..request(true)
        };
        let resp = client(fake.provider("p", kind))
            .chat(&req, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&resp.text).unwrap(),
            json!({"risk":"low"}),
            "{kind}"
        );
    }
    let r = fake.requests();
    assert_eq!(r[0].path, "/v1/chat/completions");
    assert_eq!(r[0].body["response_format"]["type"], "json_schema");
    assert_eq!(
        r[0].body["response_format"]["json_schema"]["schema"],
        schema
    );
    assert_eq!(r[1].path, "/v1/messages");
    assert_eq!(
        r[1].body["tool_choice"],
        json!({"type":"tool","name":"emit"})
    );
    assert_eq!(r[1].body["tools"][0]["input_schema"], schema);
    assert_eq!(
        r[2].path,
        "/v1beta/models/fake-model:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        r[2].body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(r[2].body["generationConfig"]["responseJsonSchema"], schema);
    assert_eq!(r[3].path, "/api/chat");
    assert_eq!(r[3].body["format"], schema);
    assert_eq!(r[3].body["stream"], true);
}

#[tokio::test]
async fn a_mid_stream_error_event_is_an_error_after_output_began() {
    let fake = FakeLlm::start().await;
    for kind in KINDS {
        fake.push(Reply::MidStreamError {
            before: "partial answer".into(),
        });
        let mut seen = String::new();
        let e = client(fake.provider("p", kind))
            .chat(&request(true), &mut |t| seen.push_str(t))
            .await
            .unwrap_err();
        assert_eq!(seen, "partial answer", "{kind}");
        assert!(e.output_began, "{kind}");
        assert!(
            !e.is_retryable(),
            "{kind}: not retried on the same provider once output began"
        );
        assert!(
            matches!(e.kind, ErrorKind::Server | ErrorKind::Overloaded),
            "{kind}: {e}"
        );
    }
}

#[tokio::test]
async fn an_error_event_before_any_text_is_retryable() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::MidStreamError {
        before: String::new(),
    });
    let e = client(fake.provider("p", ProviderKind::Anthropic))
        .chat(&request(true), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert!(!e.output_began);
    assert!(e.is_retryable());
    assert!(e.to_string().contains("Overloaded"), "{e}");
}

#[tokio::test]
async fn a_cut_connection_mid_stream_is_a_transport_error() {
    let fake = FakeLlm::start().await;
    for kind in KINDS {
        fake.push(Reply::Cut {
            before: "half of it".into(),
        });
        let e = client(fake.provider("p", kind))
            .chat(&request(true), &mut |_| {})
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transport, "{kind}: {e}");
        assert!(e.output_began, "{kind}");
    }
}

#[tokio::test]
async fn a_stream_ending_without_its_terminator_is_an_early_eof() {
    let fake = FakeLlm::start().await;
    for kind in KINDS {
        fake.push(Reply::NoTerminator {
            before: "some text".into(),
        });
        let e = client(fake.provider("p", kind))
            .chat(&request(true), &mut |_| {})
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transport, "{kind}: {e}");
        assert!(
            e.message.contains("ended before its terminator"),
            "{kind}: {e}"
        );
    }
}

#[tokio::test]
async fn a_truncated_whole_answer_is_an_error_not_a_short_answer() {
    let fake = FakeLlm::start().await;
    for kind in KINDS {
        fake.push(Reply::Cut {
            before: "whole answer text".into(),
        });
        let e = client(fake.provider("p", kind))
            .chat(&request(false), &mut |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::Transport | ErrorKind::Decode),
            "{kind}: {e}"
        );
    }
}

#[tokio::test]
async fn http_errors_carry_the_providers_exact_words_and_retry_hint() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::RateLimited {
        retry_after: "7".into(),
    });
    let e = client(fake.provider("p", ProviderKind::Anthropic))
        .chat(&request(false), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(429));
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(7)));
    assert_eq!(
        e.to_string(),
        "p: HTTP 429 rate limited: Rate limit reached; try again later (request id req_fake)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_byte_times_out_when_a_limit_is_set() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::SlowFirstByte {
        delay: std::time::Duration::from_secs(3600),
        text: "late".into(),
    });
    let mut cfg = fake.provider("p", ProviderKind::Openai);
    cfg.first_byte_timeout = Some(std::time::Duration::from_secs(10).into());
    let e = client(cfg)
        .chat(&request(true), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(e.message.contains("first_byte_timeout"), "{e}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_missing_key_is_reported_with_the_variable_name_when_called() {
    let fake = FakeLlm::start().await;
    let mut cfg = fake.provider("p", ProviderKind::Openai);
    cfg.api_key_env = Some("NOT_SET_ANYWHERE".into());
    let e = client(cfg)
        .chat(&request(false), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.message.contains("$NOT_SET_ANYWHERE"), "{e}");
    assert_eq!(fake.hits(), 0, "nothing was sent");
}
