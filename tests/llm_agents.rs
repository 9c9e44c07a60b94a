//! Agent calls end to end against fake providers on 127.0.0.1: streaming into the sink,
//! metrics, JSON output with schema repair and schema failure, profile preferences, and no API
//! key in any log line, event, Debug print or error message.

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::io::Write;
use std::sync::{Arc, Mutex};

use baton::agents::{AgentCatalog, AgentError, AgentEvent, AgentRequest, run_agent};
use baton::providers::report::providers_table;
use baton::providers::{ProviderConfig, ProviderKind, RouteEvent, Router};
use baton::spec::{AgentProfileSpec, OutputFormat};
use fake_llm::{FakeLlm, Reply};
use indexmap::IndexMap;
use serde_json::{Value, json};

fn risk_schema() -> Value {
    json!({"type":"object","required":["risk"],"properties":{"risk":{"enum":["low","medium","high"]}}})
}

fn json_request(prompt: &str) -> AgentRequest {
    AgentRequest {
        prompt: prompt.into(),
        output: OutputFormat::Json,
        schema: Some(risk_schema()),
        ..AgentRequest::default()
    }
}

async fn run(
    router: &Router,
    agent: &str,
    req: AgentRequest,
) -> (
    Result<baton::agents::AgentResult, AgentError>,
    Vec<AgentEvent>,
) {
    let profile = AgentCatalog::builtin().get(agent).unwrap().clone();
    let mut events = Vec::new();
    let result = run_agent(router, &profile, req, &mut |e| events.push(e)).await;
    (result, events)
}

fn texts(events: &[AgentEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            RouteEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_text_agent_streams_its_answer_and_reports_metrics() {
    let fake = FakeLlm::start().await;
    fake.set_default(Reply::Text("The diff looks fine to me.".into()));
    let router = Router::new(&[fake.provider("local", ProviderKind::Ollama)], &|_| None).unwrap();
    let req = AgentRequest {
        prompt: "Review this".into(),
        temperature: Some(0.7),
        max_tokens: Some(64),
        ..AgentRequest::default()
    };
    let (result, events) = run(&router, "quality", req).await;
    let r = result.unwrap();
    assert_eq!(r.output, json!("The diff looks fine to me."));
    assert_eq!(texts(&events), r.text);
    assert_eq!(
        (r.provider.as_str(), r.model.as_str()),
        ("local", "fake-model")
    );
    assert_eq!(r.tokens_out, 6);
    assert!(r.tokens_in > 0);
    assert_eq!(r.calls, 1);
    let body = &fake.requests()[0].body;
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("quality engineer")
    );
    assert_eq!(body["messages"][1]["content"], "Review this");
    assert_eq!(body["options"]["temperature"], 0.7);
    assert_eq!(body["options"]["num_predict"], 64);
}

#[tokio::test]
async fn a_non_matching_json_answer_is_repaired_once_with_the_validation_error() {
    for kind in [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::Ollama,
    ] {
        let fake = FakeLlm::start().await;
        fake.push(Reply::Text(r#"{"risk":"severe"}"#.into()));
        fake.push(Reply::Text(r#"{"risk":"high"}"#.into()));
        let router = Router::new(&[fake.provider("p", kind)], &|_| None).unwrap();
        let (result, events) = run(&router, "security", json_request("Rate this diff")).await;
        let r = result.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(r.output, json!({"risk":"high"}), "{kind}");
        assert_eq!(
            r.text, r#"{"risk":"high"}"#,
            "{kind}: only the accepted answer"
        );
        assert_eq!(r.calls, 2);
        assert_eq!(r.tokens_out, 2, "{kind}: both calls counted");
        assert!(events.contains(&RouteEvent::Note(
            r#"answer did not match the schema: $.risk: "severe" is not one of "low", "medium" or "high"; asking p again"#.into()
        )), "{kind}: {events:?}");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, RouteEvent::Restart { .. })),
            "{kind}"
        );
        let repair = fake.requests()[1].body.to_string();
        assert!(
            repair.contains("severe"),
            "{kind}: the first answer is in the conversation"
        );
        assert!(
            repair.contains(r#"$.risk: \"severe\" is not one of \"low\", \"medium\" or \"high\""#),
            "{kind}: {repair}"
        );
    }
}

#[tokio::test]
async fn an_answer_still_wrong_after_the_repair_fails_clearly() {
    let fake = FakeLlm::start().await;
    fake.set_default(Reply::Text(r#"{"risk":"catastrophic"}"#.into()));
    let router = Router::new(&[fake.provider("p", ProviderKind::Openai)], &|_| None).unwrap();
    let (result, _) = run(&router, "security", json_request("Rate")).await;
    let e = result.unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"answer did not match the schema: $.risk: "catastrophic" is not one of "low", "medium" or "high""#
    );
    assert_eq!(fake.hits(), 2, "exactly one repair");
}

#[tokio::test]
async fn invalid_json_is_repaired_and_persistent_invalid_json_fails() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::Text("I think the risk is low.".into()));
    fake.push(Reply::Text("```json\n{\"risk\": \"low\"}\n```".into()));
    let router = Router::new(&[fake.provider("p", ProviderKind::Anthropic)], &|_| None).unwrap();
    let (result, events) = run(&router, "security", json_request("Rate")).await;
    assert_eq!(result.unwrap().output, json!({"risk":"low"}));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RouteEvent::Note(n) if n.starts_with("answer is not valid JSON"))),
        "{events:?}"
    );
    fake.set_default(Reply::Text("still prose".into()));
    let (result, _) = run(&router, "security", json_request("Rate")).await;
    assert!(matches!(result.unwrap_err(), AgentError::NotJson(_)));
}

#[tokio::test]
async fn a_bad_schema_is_refused_before_any_call() {
    let fake = FakeLlm::start().await;
    let router = Router::new(&[fake.provider("p", ProviderKind::Openai)], &|_| None).unwrap();
    let req = AgentRequest {
        schema: Some(json!({"type":"strin"})),
        ..json_request("x")
    };
    let e = run(&router, "security", req).await.0.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("the step's schema is not usable: the schema at $.type is not valid JSON Schema (draft 2020-12): \"strin\""),
        "{e}"
    );
    assert_eq!(fake.hits(), 0);
}

#[tokio::test]
async fn a_workflow_profile_prefers_its_provider_and_model() {
    let (a, b) = (FakeLlm::start().await, FakeLlm::start().await);
    let mut pa = a.provider("a", ProviderKind::Openai);
    pa.priority = 1;
    let mut pb = b.provider("b", ProviderKind::Gemini);
    pb.priority = 2;
    let router = Router::new(&[pa, pb], &|_| None).unwrap();
    let mut agents = IndexMap::new();
    agents.insert(
        "reviewer".to_string(),
        AgentProfileSpec {
            system: Some("You review diffs.".into()),
            provider: Some("b".into()),
            model: Some("gemini-pro-fake".into()),
            ..AgentProfileSpec::default()
        },
    );
    let catalog = AgentCatalog::builtin().with_workflow(&agents);
    let profile = catalog.get("reviewer").unwrap();
    let req = AgentRequest {
        prompt: "go".into(),
        ..AgentRequest::default()
    };
    let r = run_agent(&router, profile, req, &mut |_| {}).await.unwrap();
    assert_eq!(r.provider, "b");
    assert_eq!(a.hits(), 0);
    assert!(b.requests()[0].path.contains("/models/gemini-pro-fake:"));
    assert_eq!(
        b.requests()[0].body["systemInstruction"]["parts"][0]["text"],
        "You review diffs."
    );
}

/// Collects every formatted log line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn no_key_appears_in_logs_events_debug_output_or_errors() {
    const KEY: &str = "sk-SECRET-abcdef0123456789";
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (a, b, c) = (
        FakeLlm::start().await,
        FakeLlm::start().await,
        FakeLlm::start().await,
    );
    // a refuses the key and echoes it back, as some servers do.
    a.set_default(Reply::Status {
        status: 401,
        headers: vec![],
        body: format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","type":"invalid_request_error","code":"invalid_api_key"}}}}"#),
    });
    // b breaks mid-stream; c answers.
    b.push(Reply::Cut {
        before: "partial".into(),
    });
    c.set_default(Reply::Text(r#"{"risk":"low"}"#.into()));
    let configs: Vec<ProviderConfig> = [(&a, "a", 1), (&b, "b", 2), (&c, "c", 3)]
        .into_iter()
        .map(|(fake, name, priority)| {
            let mut p = fake.provider(name, ProviderKind::Openai);
            p.priority = priority;
            p.api_key_env = Some("TEST_LLM_KEY".into());
            p
        })
        .collect();
    let env = |name: &str| (name == "TEST_LLM_KEY").then(|| KEY.to_string());
    let router = Router::new(&configs, &env).unwrap();
    let (result, events) = run(&router, "security", json_request("Rate")).await;
    let ok = result.unwrap();

    // Everything fails now, to get error values too.
    for fake in [&b, &c] {
        fake.set_default(Reply::Status {
            status: 401,
            headers: vec![],
            body: format!(r#"{{"error":{{"message":"bad key {KEY}"}}}}"#),
        });
    }
    let (failed, more_events) = run(&router, "security", json_request("Rate")).await;
    let err = failed.unwrap_err();
    assert!(matches!(err, AgentError::Route(_)), "{err}");

    assert_eq!(
        a.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str()),
        "the key was really used"
    );
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("restarting on c"),
        "logs were captured: {logs}"
    );
    let everything = [
        logs,
        format!("{events:?}{more_events:?}"),
        format!("{ok:?}"),
        format!("{err} {err:?}"),
        format!("{router:?}"),
        format!("{configs:?}"),
        format!("{:?}", router.statuses()),
        providers_table(&router.statuses()),
    ];
    for (i, text) in everything.iter().enumerate() {
        assert!(!text.contains(KEY), "the key leaked in item {i}: {text}");
    }
    assert!(
        err.to_string().contains("Incorrect API key provided: ***"),
        "{err}"
    );
    assert_eq!(router.secrets(), vec![KEY.to_string()]);
}
