//! Agents that act, against fake providers of all four wire families on 127.0.0.1: a loop
//! with several tool calls in a turn, `max_turns`, bounded tool results, risky calls asking an
//! operator, a conversation moving to another provider between turns, and the `tools:` key of
//! the workflow language.

#[path = "support/act_host.rs"]
mod act_host;
#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use act_host::MemoryHost;
use baton::agents::approve::grant;
use baton::agents::{ActEvent, AgentCatalog, AgentError, AgentRequest, AgentResult, Kit, act};
use baton::providers::{ProviderKind, Router};
use baton::spec::{self, AgentLimits, CallApproval, StepKind, ToolUse};
use baton::steps::shell::ProcessGroups;
use baton::steps::{Attempt, Directive};
use baton::tools::{ToolContext, builtin};
use fake_llm::{FakeLlm, Reply};
use serde_json::{Value, json};

const KINDS: [ProviderKind; 4] = [
    ProviderKind::Openai,
    ProviderKind::Anthropic,
    ProviderKind::Gemini,
    ProviderKind::Ollama,
];

fn tool(name: &str) -> ToolUse {
    ToolUse {
        name: name.into(),
        approve: None,
    }
}

fn unattended(name: &str) -> ToolUse {
    ToolUse {
        name: name.into(),
        approve: Some(false),
    }
}

fn calls(text: &str, calls: &[(&str, Value)]) -> Reply {
    Reply::Calls {
        text: text.into(),
        calls: calls
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect(),
    }
}

/// A tool context in `dir` whose log lines are collected, and the run's control (a dropped
/// control sender reads as a cancel, so the caller keeps it).
fn context(
    dir: &Path,
    limit: usize,
) -> (
    ToolContext,
    Arc<Mutex<Vec<String>>>,
    tokio::sync::watch::Sender<Directive>,
) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let (tx, control) = tokio::sync::watch::channel(Directive::Running);
    let attempt = Attempt {
        log: Arc::new(move |_, line: &str| sink.lock().unwrap().push(line.to_string())),
        control,
        timeout: None,
        grace: Duration::from_secs(1),
        max_line: 4096,
        groups: Arc::new(ProcessGroups::default()),
        spawned: Arc::new(|_| {}),
    };
    let ctx = ToolContext {
        cwd: dir.to_path_buf(),
        env: Default::default(),
        attempt,
        limit,
    };
    (ctx, lines, tx)
}

async fn run(
    router: &Router,
    dir: &Path,
    tools: &[ToolUse],
    limits: AgentLimits,
) -> (Result<AgentResult, AgentError>, Vec<ActEvent>, Vec<String>) {
    run_with(router, dir, tools, limits, &MemoryHost::default()).await
}

/// [`run`] with `host` as the run around the loop.
async fn run_with(
    router: &Router,
    dir: &Path,
    tools: &[ToolUse],
    limits: AgentLimits,
    host: &MemoryHost,
) -> (Result<AgentResult, AgentError>, Vec<ActEvent>, Vec<String>) {
    let profile = AgentCatalog::builtin().get("devops").unwrap().clone();
    let req = AgentRequest {
        prompt: "Why is / nearly full on this host?".into(),
        ..AgentRequest::default()
    };
    let limit = limits.max_tool_output.map_or(16 * 1024, |n| n as usize);
    let (ctx, lines, _control) = context(dir, limit);
    let find = |n: &str| builtin(n).map(|t| vec![t]).ok_or(format!("no `{n}`"));
    let kit = Kit {
        tools: grant(tools, &CallApproval::Default, &find).unwrap(),
        limits,
        ctx,
        host,
        team: None,
    };
    let mut events = Vec::new();
    let result = act(router, &profile, req, kit, &mut |e| events.push(e)).await;
    let lines = lines.lock().unwrap().clone();
    (result, events, lines)
}

/// The tool results a request carries, in the family's own shape: (call id or tool name, text).
fn results_in(kind: ProviderKind, body: &Value) -> Vec<(String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut out = Vec::new();
    match kind {
        ProviderKind::Openai | ProviderKind::Ollama => {
            for m in body["messages"].as_array().unwrap() {
                if m["role"] == "tool" {
                    let key = if kind == ProviderKind::Openai {
                        &m["tool_call_id"]
                    } else {
                        &m["tool_name"]
                    };
                    out.push((s(key), s(&m["content"])));
                }
            }
        }
        ProviderKind::Anthropic => {
            for m in body["messages"].as_array().unwrap() {
                for b in m["content"].as_array().into_iter().flatten() {
                    if b["type"] == "tool_result" {
                        out.push((s(&b["tool_use_id"]), s(&b["content"])));
                    }
                }
            }
        }
        ProviderKind::Gemini => {
            for c in body["contents"].as_array().unwrap() {
                for p in c["parts"].as_array().into_iter().flatten() {
                    if let Some(r) = p.get("functionResponse") {
                        out.push((s(&r["name"]), s(&r["response"]["result"])));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_turn_loop_with_several_calls_a_turn_runs_the_tools_on_every_family() {
    for kind in KINDS {
        let fake = FakeLlm::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello from notes").unwrap();
        fake.push(calls(
            "Let me look.",
            &[
                ("list_dir", json!({})),
                ("read_file", json!({"path": "notes.txt"})),
            ],
        ));
        fake.push(calls(
            "",
            &[(
                "shell",
                json!({"command": "echo made > made.txt; echo to-out; echo to-err >&2; exit 3"}),
            )],
        ));
        fake.push(Reply::Text("The disk is full of old logs.".into()));
        let router = Router::new(&[fake.provider("p", kind)], &|_| None).unwrap();
        let tools = [tool("list_dir"), tool("read_file"), unattended("shell")];
        let (result, events, log) = run(&router, dir.path(), &tools, AgentLimits::default()).await;
        let answer = result.unwrap_or_else(|e| panic!("{kind:?}: {e}\n{events:?}"));
        assert_eq!(answer.text, "The disk is full of old logs.", "{kind:?}");
        assert_eq!((answer.calls, answer.tool_calls), (3, 3), "{kind:?}");
        assert!(
            dir.path().join("made.txt").exists(),
            "{kind:?}: shell did not run"
        );
        // The command ran as a `run:` step runs one: its lines stream into the step's log.
        assert!(log.iter().any(|l| l == "to-err"), "{kind:?}: {log:?}");
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 3, "{kind:?}");
        assert!(
            reqs[0].body.to_string().contains("\"read_file\""),
            "{kind:?}: tools not offered"
        );
        let second = results_in(kind, &reqs[1].body);
        assert_eq!(second.len(), 2, "{kind:?}: {second:?}");
        assert!(second[0].1.contains("notes.txt"), "{kind:?}: {second:?}");
        assert_eq!(second[1].1, "hello from notes", "{kind:?}");
        let third = results_in(kind, &reqs[2].body);
        assert_eq!(third.len(), 3, "{kind:?}: the history keeps every result");
        let shell = &third[2].1;
        assert!(
            shell.contains("exit code: 3") && shell.contains("to-out") && shell.contains("to-err"),
            "{kind:?}: {shell}"
        );
        // Results answer their calls: by id where the family has ids, else by tool name.
        let keys: Vec<&str> = third.iter().map(|(k, _)| k.as_str()).collect();
        let expected: Vec<&str> = match kind {
            ProviderKind::Openai => vec!["call_fake0", "call_fake1", "call_fake0_t2"],
            ProviderKind::Anthropic => vec!["toolu_fake0", "toolu_fake1", "toolu_fake0_t2"],
            _ => vec!["list_dir", "read_file", "shell"],
        };
        assert_eq!(keys, expected, "{kind:?}");
        let turns = events
            .iter()
            .filter(|e| matches!(e, ActEvent::Turn(_)))
            .count();
        assert_eq!(turns, 3, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_fails_clearly_when_max_turns_is_reached_with_a_call_pending() {
    for kind in KINDS {
        let fake = FakeLlm::start().await;
        fake.set_default(calls("", &[("list_dir", json!({}))]));
        let dir = tempfile::tempdir().unwrap();
        let router = Router::new(&[fake.provider("p", kind)], &|_| None).unwrap();
        let limits = AgentLimits {
            max_turns: Some(3),
            ..AgentLimits::default()
        };
        let (result, _, _) = run(&router, dir.path(), &[tool("list_dir")], limits).await;
        let err = result.unwrap_err();
        assert!(matches!(err, AgentError::Budget(_)), "{kind:?}: {err:?}");
        assert_eq!(
            err.to_string(),
            "reached max_turns (3) with a tool call pending: raise max_turns or narrow the prompt"
        );
        assert_eq!(fake.hits(), 3, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tool_calls_and_max_tokens_total_stop_the_loop() {
    let fake = FakeLlm::start().await;
    fake.set_default(calls(
        "",
        &[("list_dir", json!({})), ("list_dir", json!({}))],
    ));
    let dir = tempfile::tempdir().unwrap();
    let router = Router::new(&[fake.provider("p", ProviderKind::Openai)], &|_| None).unwrap();
    let limits = AgentLimits {
        max_tool_calls: Some(3),
        ..AgentLimits::default()
    };
    let (result, _, _) = run(&router, dir.path(), &[tool("list_dir")], limits).await;
    let err = result.unwrap_err().to_string();
    assert!(
        err.starts_with("reached max_tool_calls (3) with `list_dir` pending"),
        "{err}"
    );
    assert_eq!(fake.hits(), 2);
    let limits = AgentLimits {
        max_tokens_total: Some(1),
        ..AgentLimits::default()
    };
    let (result, _, _) = run(&router, dir.path(), &[tool("list_dir")], limits).await;
    let err = result.unwrap_err().to_string();
    assert!(err.contains("more than max_tokens_total (1)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_tool_result_is_cut_to_the_limit_before_the_model_sees_it() {
    for kind in [ProviderKind::Anthropic, ProviderKind::Gemini] {
        let fake = FakeLlm::start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.log"), "x".repeat(100_000)).unwrap();
        fake.push(calls(
            "",
            &[
                ("read_file", json!({"path": "big.log"})),
                ("shell", json!({"command": "seq 1 20000"})),
            ],
        ));
        fake.push(Reply::Text("done".into()));
        let router = Router::new(&[fake.provider("p", kind)], &|_| None).unwrap();
        let limits = AgentLimits {
            max_tool_output: Some(300),
            ..AgentLimits::default()
        };
        let tools = [tool("read_file"), unattended("shell")];
        let (result, _, _) = run(&router, dir.path(), &tools, limits).await;
        result.unwrap();
        let results = results_in(kind, &fake.requests()[1].body);
        let (read, shell) = (&results[0].1, &results[1].1);
        assert!(
            read.starts_with(&"x".repeat(300)) && !read.contains(&"x".repeat(301)),
            "{kind:?}"
        );
        assert!(
            read.contains("call read_file again with offset 300"),
            "{read}"
        );
        assert!(
            shell.contains("earlier bytes cut") && shell.contains("\n20000\n"),
            "{shell}"
        );
        assert!(shell.len() < 600, "{kind:?}: {} bytes", shell.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risky_calls_ask_the_operator_and_a_rejection_is_told_to_the_model_with_the_note() {
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push(calls(
        "",
        &[
            ("shell", json!({"command": "touch pwned"})),
            ("write_file", json!({"path": "w.txt", "content": "x"})),
            ("read_file", json!({"path": "w.txt"})),
        ],
    ));
    fake.push(Reply::Text("Wrote w.txt; did not run the command.".into()));
    let router = Router::new(&[fake.provider("p", ProviderKind::Ollama)], &|_| None).unwrap();
    let tools = [tool("shell"), tool("write_file"), tool("read_file")];
    let host = MemoryHost::answering(&[false, true], "not on prod");
    let limits = AgentLimits::default();
    let (result, _, _) = run_with(&router, dir.path(), &tools, limits, &host).await;
    assert_eq!(
        result.unwrap().text,
        "Wrote w.txt; did not run the command."
    );
    assert!(
        !dir.path().join("pwned").exists(),
        "the rejected call did not run"
    );
    assert!(dir.path().join("w.txt").exists(), "the approved call ran");
    let asked: Vec<String> = host.asked().into_iter().map(|q| q.action).collect();
    assert_eq!(
        asked,
        ["shell: $ touch pwned", "write_file: w.txt (1 bytes)\n\nx"],
        "read_file did not ask"
    );
    let results = results_in(ProviderKind::Ollama, &fake.requests()[1].body);
    assert!(
        results[0]
            .1
            .contains("The operator (ann) refused this call")
            && results[0].1.contains("not on prod"),
        "{results:?}"
    );
    assert_eq!(results[2].1, "x");
}

/// The arguments of the tool calls an assistant turn of a request asked for, in the family's
/// own shape.
fn calls_in(kind: ProviderKind, body: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    match kind {
        ProviderKind::Openai | ProviderKind::Ollama => {
            for m in body["messages"].as_array().unwrap() {
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    let args = &c["function"]["arguments"];
                    out.push(match args.as_str() {
                        Some(text) => serde_json::from_str(text).unwrap(),
                        None => args.clone(),
                    });
                }
            }
        }
        ProviderKind::Anthropic => {
            for m in body["messages"].as_array().unwrap() {
                for b in m["content"].as_array().into_iter().flatten() {
                    if b["type"] == "tool_use" {
                        out.push(b["input"].clone());
                    }
                }
            }
        }
        ProviderKind::Gemini => {
            for c in body["contents"].as_array().unwrap() {
                for p in c["parts"].as_array().into_iter().flatten() {
                    if let Some(f) = p.get("functionCall") {
                        out.push(f["args"].clone());
                    }
                }
            }
        }
    }
    out
}

/// The operator edits the command at the gate: the edited command is the one that runs, the
/// model's next turn sees the call as it ran (with a note saying who changed it), and the
/// conversation records the edit and who made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_call_runs_as_edited_and_the_model_sees_the_edit_on_every_family() {
    for kind in KINDS {
        let fake = FakeLlm::start().await;
        let dir = tempfile::tempdir().unwrap();
        fake.push(calls(
            "",
            &[("shell", json!({"command": "echo model >> out.txt"}))],
        ));
        fake.push(Reply::Text("Done.".into()));
        let router = Router::new(&[fake.provider("p", kind)], &|_| None).unwrap();
        let host = MemoryHost::editing(r#"{"command": "echo operator >> out.txt"}"#);
        let limits = AgentLimits::default();
        let (result, _, _) = run_with(&router, dir.path(), &[tool("shell")], limits, &host).await;
        assert_eq!(result.unwrap().text, "Done.", "{kind:?}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
            "operator\n",
            "{kind:?}: the edited command ran, and only it"
        );
        let asked = host.asked();
        assert_eq!(asked[0].tool, "shell");
        assert_eq!(
            serde_json::from_str::<Value>(&asked[0].arguments).unwrap(),
            json!({"command": "echo model >> out.txt"}),
            "{kind:?}: the gate offered the model's arguments to edit"
        );
        let next = &fake.requests()[1].body;
        assert_eq!(
            calls_in(kind, next),
            [json!({"command": "echo operator >> out.txt"})],
            "{kind:?}: the history shows the call as it ran"
        );
        let told = &results_in(kind, next)[0].1;
        assert!(
            told.contains("The operator (ann) edited this call's arguments"),
            "{kind:?}: {told}"
        );
        let entries = host.entries.lock().unwrap().clone();
        assert!(
            entries.iter().any(|e| matches!(e,
                baton::store::AgentEntry::CallEdited { by, arguments, .. }
                    if by == "ann" && arguments["command"] == "echo operator >> out.txt")),
            "{kind:?}: {entries:?}"
        );
    }
}

/// Edited arguments that are not a JSON object do not run: the operator is asked again,
/// told what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_arguments_that_are_not_an_object_are_asked_about_again() {
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    fake.push(calls("", &[("shell", json!({"command": "touch ran"}))]));
    fake.push(Reply::Text("Refused.".into()));
    let router = Router::new(&[fake.provider("p", ProviderKind::Openai)], &|_| None).unwrap();
    let host = MemoryHost::editing(r#"{"command": "touch ran""#);
    let (result, _, _) = run_with(
        &router,
        dir.path(),
        &[tool("shell")],
        AgentLimits::default(),
        &host,
    )
    .await;
    // The script has no second answer: nobody decides, and the step stops.
    assert!(matches!(result, Err(AgentError::Cancelled)), "{result:?}");
    assert!(!dir.path().join("ran").exists());
    let asked = host.asked();
    assert_eq!(asked.len(), 2, "asked again");
    assert!(
        asked[1].prompt.contains("not valid JSON (line 1, column"),
        "{}",
        asked[1].prompt
    );
}

/// A host whose conversation stopped with `call` begun and no result (baton was killed).
fn cut_off(call: Value, name: &str, answers: &[bool], note: &str) -> MemoryHost {
    use baton::store::{AgentCall, AgentEntry};
    let host = MemoryHost::answering(answers, note);
    *host.entries.lock().unwrap() = vec![
        AgentEntry::Turn {
            provider: "p".into(),
            model: "fake-model".into(),
            text: String::new(),
            calls: vec![AgentCall {
                id: "c1".into(),
                name: name.into(),
                arguments: call,
            }],
            tokens_in: 1,
            tokens_out: 1,
            cost_usd: None,
        },
        AgentEntry::CallStarted { id: "c1".into() },
    ];
    host
}

/// Resumed after a crash: a cut-off call that only reads runs again without asking; one
/// that could have changed things waits for the operator even when the step trusts its tool,
/// and rejected it does not run: the model is told it was interrupted, with the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_call_runs_again_only_if_it_reads_else_the_operator_decides() {
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "a note").unwrap();
    let router = Router::new(&[fake.provider("p", ProviderKind::Openai)], &|_| None).unwrap();
    let limits = AgentLimits::default();

    let reads = cut_off(json!({"path": "notes.txt"}), "read_file", &[], "");
    let (result, _, _) = run_with(&router, dir.path(), &[tool("read_file")], limits, &reads).await;
    assert_eq!(result.unwrap().text, "ok");
    assert!(reads.asked().is_empty(), "a read is not asked about");
    assert_eq!(
        results_in(ProviderKind::Openai, &fake.requests()[0].body)[0].1,
        "a note"
    );

    let command = json!({"command": "echo again >> ran.txt"});
    let shell = cut_off(command, "shell", &[false], "it already ran");
    let tools = [unattended("shell")];
    let (result, _, _) = run_with(&router, dir.path(), &tools, limits, &shell).await;
    assert_eq!(result.unwrap().text, "ok");
    assert!(!dir.path().join("ran.txt").exists(), "not run again");
    let asked = shell.asked();
    assert_eq!(asked.len(), 1, "the trusted tool's cut-off call asked");
    assert!(
        asked[0].prompt.contains("was running when baton stopped"),
        "{}",
        asked[0].prompt
    );
    let told = &results_in(ProviderKind::Openai, &fake.requests()[1].body)[0].1;
    assert!(
        told.contains("was interrupted") && told.contains("it already ran"),
        "{told}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_moves_to_another_family_between_turns_with_its_history() {
    let first = FakeLlm::start().await;
    let second = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "disk notes").unwrap();
    first.push(calls(
        "Reading.",
        &[("read_file", json!({"path": "notes.txt"}))],
    ));
    first.set_default(Reply::ServerError);
    second.set_default(Reply::Text("Answered after the move.".into()));
    let mut a = first.provider("a", ProviderKind::Openai);
    a.priority = 1;
    a.max_retries = Some(0);
    let mut b = second.provider("b", ProviderKind::Anthropic);
    b.priority = 2;
    let router = Router::new(&[a, b], &|_| None).unwrap();
    let (result, _, _) = run(
        &router,
        dir.path(),
        &[tool("read_file")],
        AgentLimits::default(),
    )
    .await;
    let answer = result.unwrap();
    assert_eq!(
        (answer.provider.as_str(), answer.text.as_str()),
        ("b", "Answered after the move.")
    );
    assert_eq!((first.hits(), second.hits()), (2, 1));
    // The second family got the first one's turn translated: its call as a tool_use block, the
    // result as a tool_result answering the same id.
    let body = &second.requests()[0].body;
    let turn = &body["messages"][1];
    assert_eq!(turn["role"], "assistant");
    assert_eq!(
        turn["content"][0],
        json!({"type": "text", "text": "Reading."})
    );
    assert_eq!(
        turn["content"][1],
        json!({"type": "tool_use", "id": "call_fake0", "name": "read_file", "input": {"path": "notes.txt"}})
    );
    assert_eq!(
        results_in(ProviderKind::Anthropic, body),
        [("call_fake0".to_string(), "disk notes".to_string())]
    );
}

#[test]
fn tools_and_budgets_are_read_from_an_agent_step_and_unknown_tools_are_errors() {
    let ok = "steps:\n  - id: look\n    agent: devops\n    prompt: Why is / nearly full?\n    tools: [read_file, {name: shell, approve: false}]\n    max_turns: 12\n    max_tool_calls: 30\n    max_tokens_total: 50000\n    max_tool_output: 4096\n";
    let wf = spec::parse_str(ok, Path::new("wf.yaml")).unwrap_or_else(|d| panic!("{d}"));
    let StepKind::Agent(agent) = &wf.steps[0].kind else {
        panic!("not an agent step");
    };
    assert_eq!(agent.tools, [tool("read_file"), unattended("shell")]);
    assert_eq!(
        agent.limits,
        AgentLimits {
            max_turns: Some(12),
            max_tool_calls: Some(30),
            max_tokens_total: Some(50000),
            max_tool_output: Some(4096),
        }
    );
    let bad = "steps:\n  - id: look\n    agent: devops\n    prompt: hi\n    tools: [read_fil, shell, shell, {approve: false}]\n    max_turns: 0\n";
    let diags = match spec::parse_str(bad, Path::new("wf.yaml")) {
        Ok(_) => panic!("expected problems"),
        Err(d) => d,
    };
    let find = |needle: &str| {
        diags
            .iter()
            .find(|d| d.message.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{diags}"))
    };
    let unknown = find("`read_fil` is not a tool");
    assert_eq!(unknown.location(), "wf.yaml:5:13");
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `read_file`?"));
    assert_eq!(find("listed twice").location(), "wf.yaml:5:30");
    find("has no `name`");
    find("max_turns");
}

/// Runs `workflow` with `baton run` in a fresh directory holding `files`, against `fake`
/// (Anthropic family, `fake-model` priced at $3/$15 per million tokens); the exit code and
/// everything printed.
async fn run_workflow(
    fake: &FakeLlm,
    workflow: &str,
    files: &[(&str, &str)],
) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "[[providers]]\nname = \"fake\"\nkind = \"anthropic\"\nbase_url = \"{}\"\nmodel = \"fake-model\"\nprices = {{ \"fake-model\" = {{ input = 3.0, output = 15.0 }} }}\n",
            fake.url()
        ),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("wf.yaml"), workflow).unwrap();
    let root = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_baton"));
        c.current_dir(&root)
            .arg("--data-dir")
            .arg(root.join("data"))
            .args(["run", "wf.yaml"])
            .env("BATON_CONFIG_DIR", root.join("config"))
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        for var in [
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "OLLAMA_HOST",
        ] {
            c.env_remove(var);
        }
        c.env("ANTHROPIC_API_KEY", "sk-ant-test");
        let out = c.output().unwrap();
        // What the store kept of the run, as `baton show` prints it.
        let show = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
            .arg("--data-dir")
            .arg(root.join("data"))
            .args(["show", "r"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        (out, show)
    })
    .await
    .unwrap();
    let (out, show) = out;
    let printed = format!(
        "{}{}\n--- baton show ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&show.stdout)
    );
    (out.status.code(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_agent_step_with_tools_runs_through_the_engine() {
    let fake = FakeLlm::start().await;
    fake.push(calls("", &[("read_file", json!({"path": "df.txt"}))]));
    fake.push(calls("", &[("shell", json!({"command": "echo checked"}))]));
    fake.push(Reply::Text("/var/log is 90% of the disk.".into()));
    let (code, printed) = run_workflow(
        &fake,
        "steps:\n  - id: look\n    agent: devops\n    prompt: Why is / nearly full on this host?\n    tools: [read_file, shell]\n    max_turns: 5\n",
        &[("df.txt", "/dev/sda1 100G 95G /")],
    )
    .await;
    assert_eq!(code, Some(0), "{printed}");
    assert!(
        printed.contains("over 3 turns and 2 tool calls"),
        "{printed}"
    );
    // The configured price gives each turn and the step a cost; `shell` asked, and with no
    // terminal to ask on, it was refused.
    assert!(printed.contains("tokens, cost $0.0"), "{printed}");
    let shown = printed.split("--- baton show ---").nth(1).unwrap_or("");
    assert!(
        shown.contains(", cost $0.0"),
        "the step's cost is stored: {shown}"
    );
    assert!(!printed.contains("unknown"), "{printed}");
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 3);
    let results = results_in(ProviderKind::Anthropic, &reqs[2].body);
    assert_eq!(results[0].1, "/dev/sda1 100G 95G /");
    assert!(
        results[1].1.contains("refused this call") && results[1].1.contains("--approve look"),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_gives_its_tools_and_budgets_to_steps_that_set_none() {
    let fake = FakeLlm::start().await;
    fake.set_default(calls("", &[("list_dir", json!({}))]));
    let (code, printed) = run_workflow(
        &fake,
        "agents:\n  sre:\n    system: You keep hosts healthy.\n    tools: [list_dir]\n    max_turns: 2\nsteps:\n  - id: look\n    agent: sre\n    prompt: What is here?\n",
        &[],
    )
    .await;
    assert_ne!(code, Some(0), "{printed}");
    assert!(
        printed.contains(
            "reached max_turns (2) with a tool call pending: raise max_turns or narrow the prompt"
        ),
        "{printed}"
    );
    assert_eq!(fake.hits(), 2);
    assert!(fake.requests()[0].body["tools"][0]["name"] == "list_dir");
}
