//! Every step kind, shorthand and AutomatosX spelling parses to the documented typed model.

use std::path::Path;
use std::time::Duration;

use baton::spec::{
    self, HttpBody, OnTimeout, OutputFormat, RetryPolicy, StepKind, TransformSpec, Workflow,
};
use serde_json::json;

fn parse(text: &str) -> Workflow {
    match spec::parse_str(text, Path::new("shapes.yaml")) {
        Ok(wf) => wf,
        Err(d) => panic!("expected a valid workflow, got:\n{d}"),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn run_steps_take_shell_and_cwd() {
    let wf = parse("name: t\nsteps:\n  - id: a\n    run: make\n    shell: bash\n    cwd: ./app\n");
    let StepKind::Run(r) = &wf.steps[0].kind else {
        panic!("not run")
    };
    assert_eq!(r.command, "make");
    assert_eq!(r.shell.as_deref(), Some("bash"));
    assert_eq!(r.cwd.as_deref(), Some("./app"));
    assert_eq!(wf.source.as_deref(), Some(Path::new("shapes.yaml")));
    assert!(wf.steps[0].idempotent, "idempotent defaults to true");
}

#[test]
fn http_steps_read_the_full_form_and_the_url_shorthand() {
    let wf = parse(
        r#"name: t
steps:
  - id: a
    http: https://example.com
  - id: b
    http:
      method: post
      url: https://example.com/x
      headers: { Accept: application/json }
      body: { n: 1, s: "{{ params.p }}" }
      expect: [200, 201]
  - id: c
    http: { url: https://example.com, body: "raw text", expect: 204 }
params: { p: 1 }
"#,
    );
    let StepKind::Http(a) = &wf.steps[0].kind else {
        panic!()
    };
    assert_eq!(
        (a.method.as_str(), a.url.as_str()),
        ("GET", "https://example.com")
    );
    assert!(a.expect.is_empty());
    let StepKind::Http(b) = &wf.steps[1].kind else {
        panic!()
    };
    assert_eq!(b.method, "POST");
    assert_eq!(b.headers["Accept"], "application/json");
    assert_eq!(
        b.body,
        Some(HttpBody::Json(json!({"n": 1, "s": "{{ params.p }}"})))
    );
    assert_eq!(b.expect, vec![200, 201]);
    let StepKind::Http(c) = &wf.steps[2].kind else {
        panic!()
    };
    assert_eq!(c.body, Some(HttpBody::Text("raw text".into())));
    assert_eq!(c.expect, vec![204]);
}

#[test]
fn agent_steps_read_every_option_and_a_schema_implies_json() {
    let wf = parse(
        r#"name: t
steps:
  - id: a
    agent: security
    prompt: Rate it
    provider: anthropic
    model: claude
    temperature: 0.3
    max_tokens: 500
    schema: { type: object }
  - id: b
    agent: writer
    prompt: Write
"#,
    );
    let StepKind::Agent(a) = &wf.steps[0].kind else {
        panic!()
    };
    assert_eq!(a.agent, "security");
    assert_eq!(a.prompt, "Rate it");
    assert_eq!(a.provider.as_deref(), Some("anthropic"));
    assert_eq!(a.model.as_deref(), Some("claude"));
    assert_eq!(a.temperature, Some(0.3));
    assert_eq!(a.max_tokens, Some(500));
    assert_eq!(a.output, OutputFormat::Json);
    assert_eq!(a.schema, Some(json!({"type": "object"})));
    let StepKind::Agent(b) = &wf.steps[1].kind else {
        panic!()
    };
    assert_eq!(b.output, OutputFormat::Text);
}

#[test]
fn approvals_read_the_full_form_and_the_question_shorthand() {
    let wf = parse(
        r#"name: t
steps:
  - id: a
    approval: Deploy?
  - id: b
    approval:
      prompt: Go?
      inputs:
        reason: { default: ok, description: Why, enum: [ok, urgent] }
        note: fine
      timeout: 1h
      on_timeout: approve
"#,
    );
    let StepKind::Approval(a) = &wf.steps[0].kind else {
        panic!()
    };
    assert_eq!(a.prompt, "Deploy?");
    assert_eq!(a.on_timeout, OnTimeout::Reject);
    let StepKind::Approval(b) = &wf.steps[1].kind else {
        panic!()
    };
    assert_eq!(b.timeout.map(|d| d.get()), Some(secs(3600)));
    assert_eq!(b.on_timeout, OnTimeout::Approve);
    assert_eq!(b.inputs["reason"].default.as_deref(), Some("ok"));
    assert_eq!(
        b.inputs["reason"].r#enum,
        Some(vec!["ok".to_string(), "urgent".to_string()])
    );
    assert_eq!(b.inputs["note"].default.as_deref(), Some("fine"));
}

#[test]
fn transforms_sleeps_and_sub_workflows_read_every_form() {
    let wf = parse(
        r#"name: t
steps:
  - { id: a, transform: "{{ 1 + 1 }}" }
  - { id: b, transform: { template: "x" } }
  - { id: c, transform: { expr: "[1, 2] | length" } }
  - { id: d, transform: { value: { k: [1, "{{ 2 }}"] } } }
  - { id: e, sleep: 1h30m }
  - { id: f, workflow: ./other.yaml }
  - { id: g, workflow: { path: ./other.yaml, params: { env: prod, n: 2 } } }
"#,
    );
    let kinds: Vec<&StepKind> = wf.steps.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds[0],
        &StepKind::Transform(TransformSpec::Template("{{ 1 + 1 }}".into()))
    );
    assert_eq!(
        kinds[1],
        &StepKind::Transform(TransformSpec::Template("x".into()))
    );
    assert_eq!(
        kinds[2],
        &StepKind::Transform(TransformSpec::Expr("[1, 2] | length".into()))
    );
    assert_eq!(
        kinds[3],
        &StepKind::Transform(TransformSpec::Value(json!({"k": [1, "{{ 2 }}"]})))
    );
    assert_eq!(kinds[4], &StepKind::Sleep(spec::Dur(secs(5400))));
    let StepKind::Workflow(f) = kinds[5] else {
        panic!()
    };
    assert_eq!(f.path, "./other.yaml");
    let StepKind::Workflow(g) = kinds[6] else {
        panic!()
    };
    assert_eq!(g.params["env"], json!("prod"));
    assert_eq!(g.params["n"], json!(2));
}

#[test]
fn common_fields_read_shorthands_and_full_maps() {
    let wf = parse(
        r#"name: t
params: { env: { default: staging } }
defaults:
  timeout: 10m
  retry: { max_attempts: 2, initial: 2s, max: 1m, multiplier: 3, jitter: false }
steps:
  - id: a
    run: echo
    retry: 4
    cache: true
    rate_limit: 10/1m
    approve: true
    idempotent: false
    continue_on_error: true
    lock: "deploy-{{ params.env }}"
    env: { A: "1", B: 2 }
    outputs: { v: "{{ stdout | trim }}" }
  - id: b
    run: echo
    depends_on: a
    when: steps.a.status == "succeeded"
    timeout: 30s
    retry: { on_exit_codes: [1, 2] }
    cache: { key: "k-{{ params.env }}", ttl: 1h }
    rate_limit: { key: api, max: 5, per: 1s }
  - id: c
    run: echo
    cache: false
"#,
    );
    let (a, b, c) = (&wf.steps[0], &wf.steps[1], &wf.steps[2]);
    let base = RetryPolicy {
        max_attempts: 2,
        initial: spec::Dur(secs(2)),
        max: spec::Dur(secs(60)),
        multiplier: 3.0,
        jitter: false,
        on_exit_codes: vec![],
    };
    // `retry: 4` is 4 attempts in all, the rest from the workflow's default policy.
    assert_eq!(
        a.retry.as_deref(),
        Some(&RetryPolicy {
            max_attempts: 4,
            ..base.clone()
        })
    );
    assert_eq!(
        b.retry.as_deref(),
        Some(&RetryPolicy {
            on_exit_codes: vec![1, 2],
            ..base.clone()
        })
    );
    assert_eq!(wf.effective_retry(c), base);
    assert_eq!(wf.effective_timeout(a), Some(secs(600)));
    assert_eq!(wf.effective_timeout(b), Some(secs(30)));
    assert!(a.approve && !a.idempotent && a.continue_on_error);
    assert_eq!(a.lock.as_deref(), Some("deploy-{{ params.env }}"));
    assert_eq!(a.env["B"], "2");
    assert_eq!(a.outputs["v"], "{{ stdout | trim }}");
    let rl = a.rate_limit.as_ref().unwrap();
    assert_eq!(
        (rl.key.as_deref(), rl.max, rl.per.get()),
        (None, 10, secs(60))
    );
    let rl = b.rate_limit.as_ref().unwrap();
    assert_eq!(
        (rl.key.as_deref(), rl.max, rl.per.get()),
        (Some("api"), 5, secs(1))
    );
    assert_eq!(
        a.cache.as_ref().map(|c| (c.key.clone(), c.ttl)),
        Some((None, None))
    );
    assert_eq!(
        b.cache.as_ref().and_then(|c| c.key.clone()).as_deref(),
        Some("k-{{ params.env }}")
    );
    assert!(c.cache.is_none());
    assert_eq!(b.depends_on, vec![spec::StepId::from("a")]);
    assert_eq!(b.when.as_deref(), Some("steps.a.status == \"succeeded\""));
}

#[test]
fn automatosx_spellings_mean_the_same_as_the_snake_case_keys() {
    let wf = parse(
        r#"name: deploy-microservice
version: 1.0.0
steps:
  - key: security-scan
    agent: security
    action: scan-vulnerabilities
    continueOnError: true
    provider: openai
    model: gpt-4o
  - key: run-tests
    agent: testing
    action: run-test-suite
    dependsOn: [security-scan]
    maxRetries: 2
    timeoutMs: 1500
"#,
    );
    assert_eq!(wf.version.as_deref(), Some("1.0.0"));
    let (a, b) = (&wf.steps[0], &wf.steps[1]);
    assert_eq!(a.id.as_str(), "security-scan");
    assert!(a.continue_on_error);
    let StepKind::Agent(agent) = &a.kind else {
        panic!()
    };
    assert_eq!(
        agent.prompt, "scan-vulnerabilities",
        "the action is the task"
    );
    assert_eq!(agent.provider.as_deref(), Some("openai"));
    assert_eq!(agent.model.as_deref(), Some("gpt-4o"));
    assert_eq!(b.depends_on, vec![spec::StepId::from("security-scan")]);
    // maxRetries counts retries: 2 retries is 3 attempts in all.
    assert_eq!(b.retry.as_ref().map(|r| r.max_attempts), Some(3));
    assert_eq!(
        b.timeout.map(|d| d.get()),
        Some(Duration::from_millis(1500))
    );
}

#[test]
fn json_files_read_like_yaml() {
    let text = r#"{
	"name": "j",
	"params": {"env": {"default": "staging", "enum": ["staging", "prod"]}},
	"steps": [
		{"id": "a", "run": "echo {{ params.env }}"},
		{"id": "b", "dependsOn": ["a"], "http": "https://example.com"}
	]
}"#;
    let wf = match spec::parse_str(text, Path::new("wf.json")) {
        Ok(wf) => wf,
        Err(d) => panic!("{d}"),
    };
    assert_eq!(wf.steps.len(), 2);
    assert_eq!(wf.steps[1].pos.depends_on[0].line, 6);
}

#[test]
fn positions_are_recorded_for_ids_dependencies_when_and_bodies() {
    let wf = parse(
        "name: t\nsteps:\n  - id: a\n    run: echo\n  - id: b\n    depends_on: [a]\n    when: 'true'\n    run: echo {{ steps.a.stdout }}\n",
    );
    let b = &wf.steps[1];
    assert_eq!((b.pos.id.line, b.pos.id.col), (5, 9));
    assert_eq!((b.pos.depends_on[0].line, b.pos.depends_on[0].col), (6, 18));
    assert_eq!((b.pos.when.line, b.pos.when.col), (7, 11));
    assert_eq!((b.pos.body.line, b.pos.body.col), (8, 10));
}

#[test]
fn the_name_defaults_to_the_file_stem() {
    let wf = spec::parse_str(
        "steps: [{ id: a, run: echo }]\n",
        Path::new("dir/nightly.yaml"),
    )
    .unwrap();
    assert_eq!(wf.name, "nightly");
}

/// Validation records which steps' results each step's templates read, so the engine hands a
/// step only those (`None`: it reads `steps` as a whole).
#[test]
fn validation_records_the_steps_each_step_reads() {
    let wf = spec::parse_str(
        r#"
name: reads
steps:
  - id: a
    run: echo a
  - id: b
    run: "echo {{ steps.a.stdout }} {{ steps['a'].output }}"
    when: "steps.a.status == 'succeeded'"
    depends_on: [a]
  - id: c
    transform: { expr: "steps | length" }
    depends_on: [b]
  - id: d
    approval: { prompt: "ok {{ steps.b.output }}?" }
    depends_on: [b]
  - id: e
    run: "echo {{ steps.b.stdout }} {{ steps.b.output }}"
    when: "steps.a.status == 'succeeded'"
    env: { X: "{{ steps.b.stdout }}", Y: "{{ steps.a.stdout }}" }
    depends_on: [b]
"#,
        Path::new("reads.yaml"),
    )
    .unwrap();
    let reads: Vec<Option<Vec<&str>>> = wf
        .steps
        .iter()
        .map(|s| {
            s.reads
                .as_ref()
                .map(|r| r.iter().map(String::as_str).collect())
        })
        .collect();
    assert_eq!(
        reads,
        [
            Some(vec![]),
            Some(vec!["a"]),
            None,
            Some(vec!["b"]),
            // Sorted, each once, whatever the order and number of the reads.
            Some(vec!["a", "b"]),
        ]
    );
}
