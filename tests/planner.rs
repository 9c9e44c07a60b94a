//! `baton plan` against a fake provider on loopback: a good plan, a plan repaired in a second
//! round (the second request carries the validation errors), one still invalid after the
//! rounds reported with its problems, and a plan run with `--run`; plan versions listed.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::path::PathBuf;
use std::process::Output;

use fake_llm::{FakeLlm, Reply};
use serde_json::json;

/// A data dir, a config naming the fake provider, and an empty working directory.
struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    work: PathBuf,
}

fn setup(fake: &FakeLlm) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[[providers]]\nname = \"fake\"\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"fake-model\"\napi_key_env = \"BATON_TEST_KEY\"\n",
            fake.url()
        ),
    )
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    Setup {
        data: dir.path().join("data"),
        config,
        work,
        _dir: dir,
    }
}

impl Setup {
    async fn baton(&self, args: &[&str]) -> Output {
        let mut c = bin::baton(&self.data);
        c.args(args)
            .current_dir(&self.work)
            .env("BATON_CONFIG_DIR", &self.config)
            .env("BATON_TEST_KEY", "sk-test");
        for var in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "OLLAMA_HOST",
        ] {
            c.env_remove(var);
        }
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }
}

fn answer(yaml: &str) -> Reply {
    Reply::Text(json!({ "yaml": yaml, "summary": "says hello" }).to_string())
}

const GOOD: &str =
    "name: hello\ndescription: Say hello\nsteps:\n  - id: hello\n    run: echo hello > hello.txt\n";
const BAD: &str =
    "name: hello\nsteps:\n  - id: hello\n    run: echo hello\n    depnds_on: [nothing]\n";

/// The text of the user messages of a recorded OpenAI request.
fn user_text(body: &serde_json::Value) -> String {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_plan_is_printed_gated_valid_and_kept_as_a_version() {
    let fake = FakeLlm::start().await;
    fake.push(answer(GOOD));
    let s = setup(&fake);
    let out = s.baton(&["plan", "say hello into a file"]).await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("approve: true\n    id: hello"), "{stdout}");
    assert!(
        printed.contains("(fake/fake-model, 1 call(s))"),
        "{printed}"
    );
    // The request reached the model with the language reference and what is available.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let system = requests[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("depends_on") && system.contains("read_file"),
        "{system}"
    );
    assert!(user_text(&requests[0].body).contains("say hello into a file"));
    assert_eq!(requests[0].body["response_format"]["type"], "json_schema");

    // What was printed is what `baton validate` accepts.
    let file = s.work.join("hello.yaml");
    std::fs::write(&file, stdout.as_bytes()).unwrap();
    let valid = s.baton(&["validate", file.to_str().unwrap()]).await;
    assert_eq!(valid.status.code(), Some(0), "{}", bin::text(&valid));

    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");
    let v = &versions[0];
    assert_eq!(v["kind"], "draft");
    assert_eq!(v["request"], "say hello into a file");
    assert_eq!(v["provider"], "fake");
    assert_eq!(v["model"], "fake-model");
    assert!(v["author"]["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(v["yaml"].as_str().unwrap().trim_end(), stdout.trim_end());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_plan_goes_back_with_its_errors_and_the_second_draft_is_taken() {
    let fake = FakeLlm::start().await;
    fake.push(answer(BAD));
    fake.push(answer(GOOD));
    let s = setup(&fake);
    let out = s.baton(&["plan", "say hello", "-o", "hello.yaml"]).await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("1 of 2 repair rounds"), "{printed}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let second = user_text(&requests[1].body);
    assert!(
        second.contains("unknown key `depnds_on`") && second.contains("hello.yaml:5:5"),
        "the second request does not carry the errors: {second}"
    );
    assert!(!user_text(&requests[0].body).contains("depnds_on"));
    let written = std::fs::read_to_string(s.work.join("hello.yaml")).unwrap();
    assert!(written.contains("echo hello > hello.txt"), "{written}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_still_invalid_after_the_rounds_is_shown_with_its_errors_and_fails() {
    let fake = FakeLlm::start().await;
    fake.set_default(answer(BAD));
    let s = setup(&fake);
    let out = s.baton(&["plan", "say hello", "--rounds", "1"]).await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert_eq!(fake.requests().len(), 2, "one draft and one repair round");
    // The draft itself is printed, as the model wrote it, and its problem with its place.
    assert!(String::from_utf8_lossy(&out.stdout).contains("depnds_on: [nothing]"));
    assert!(printed.contains("unknown key `depnds_on`"), "{printed}");
    assert!(printed.contains("plan.yaml:5:5"), "{printed}");
    assert!(
        printed.contains("still invalid after 1 repair round(s)"),
        "{printed}"
    );
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(!versions[0]["problems"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_run_with_run_executes_and_its_version_names_the_run() {
    let fake = FakeLlm::start().await;
    fake.push(answer(GOOD));
    let s = setup(&fake);
    let out = s
        .baton(&[
            "plan",
            "say hello",
            "--run",
            "--approve-all",
            "-o",
            "hello.yaml",
        ])
        .await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert_eq!(
        std::fs::read_to_string(s.work.join("hello.txt")).unwrap(),
        "hello\n"
    );
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = versions[0]["id"].as_str().unwrap().to_string();
    let shown = s.baton(&["plans", "show", &id, "--json"]).await;
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let runs = shown["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{shown}");
    let ls = s.baton(&["ls", "--json"]).await;
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(ls[0]["id"], runs[0]);
    assert_eq!(ls[0]["state"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_diff_shows_what_a_revision_changed() {
    let fake = FakeLlm::start().await;
    fake.push(answer(GOOD));
    fake.push(answer(&GOOD.replace("echo hello", "echo bonjour")));
    let s = setup(&fake);
    let first = s.baton(&["plan", "say hello"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", bin::text(&first));
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let a = versions[0]["id"].as_str().unwrap().to_string();
    let second = s.baton(&["plan", "in French", "--revise", &a]).await;
    assert_eq!(second.status.code(), Some(0), "{}", bin::text(&second));
    // The revision went to the model with the earlier draft.
    assert!(user_text(&fake.requests()[1].body).contains("echo hello > hello.txt"));
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(versions[1]["parent"], a.as_str());
    let b = versions[1]["id"].as_str().unwrap().to_string();
    let diff = s.baton(&["plans", "diff", &a, &b]).await;
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.contains("-    run: echo hello > hello.txt"), "{text}");
    assert!(
        text.contains("+    run: echo bonjour > hello.txt"),
        "{text}"
    );
}

const FAILING: &str = "name: greet\nsteps:\n  - id: greet\n    run: echo boom; exit 3\n  - id: after\n    run: echo after > after.txt\n    depends_on: [greet]\n";

/// Runs the failing workflow to its failure; returns the run id.
async fn failed_run(s: &Setup) -> String {
    std::fs::write(s.work.join("greet.yaml"), FAILING).unwrap();
    let out = s.baton(&["run", "greet.yaml"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", bin::text(&out));
    let ls = s.baton(&["ls", "--json"]).await;
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(ls[0]["state"], "failed");
    ls[0]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_repair_continues_the_run_from_the_failed_step_to_the_end() {
    let fake = FakeLlm::start().await;
    let s = setup(&fake);
    let run = failed_run(&s).await;
    fake.push(answer(
        &FAILING.replace("echo boom; exit 3", "echo fixed > fixed.txt"),
    ));
    let out = s.baton(&["repair", &run, "greet", "--approve"]).await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    // The proposal was shown as a diff of the step.
    assert!(printed.contains("-    run: echo boom; exit 3"), "{printed}");
    assert!(
        printed.contains("+    run: echo fixed > fixed.txt"),
        "{printed}"
    );
    // The model was told what failed: the definition, exit code, error and output.
    let asked = user_text(&fake.requests()[0].body);
    for part in ["Step `greet`", "Exit code: 3", "boom", "echo boom; exit 3"] {
        assert!(asked.contains(part), "{part} missing from {asked}");
    }
    assert!(s.work.join("fixed.txt").exists());
    assert!(s.work.join("after.txt").exists());
    let ls = s.baton(&["ls", "--json"]).await;
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 1, "the same run continued");
    assert_eq!(ls[0]["state"], "succeeded");
    // The history says who approved it; the version holds the repaired text.
    let show = s.baton(&["show", &run, "--json", "--events"]).await;
    let shown = String::from_utf8_lossy(&show.stdout).to_string();
    let me = baton::identity::Operator::current().to_string();
    assert!(
        shown.contains(&format!("step `greet` repaired, approved by {me}")),
        "{shown}"
    );
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(versions[0]["kind"], "repair");
    assert_eq!(versions[0]["run"], run.as_str());
    assert!(versions[0]["yaml"].as_str().unwrap().contains("fixed.txt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_not_approved_changes_nothing() {
    let fake = FakeLlm::start().await;
    let s = setup(&fake);
    let run = failed_run(&s).await;
    let before = s.baton(&["show", &run, "--json"]).await;
    fake.push(answer(
        &FAILING.replace("echo boom; exit 3", "echo fixed > fixed.txt"),
    ));
    let out = s.baton(&["repair", &run, "greet"]).await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("+    run: echo fixed > fixed.txt"),
        "{printed}"
    );
    assert!(printed.contains("nothing changed"), "{printed}");
    let after = s.baton(&["show", &run, "--json"]).await;
    assert_eq!(before.stdout, after.stdout, "the run changed");
    assert!(!s.work.join("fixed.txt").exists() && !s.work.join("after.txt").exists());
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(versions.as_array().unwrap().is_empty(), "{versions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_that_changes_another_step_goes_back_and_is_refused() {
    let fake = FakeLlm::start().await;
    let s = setup(&fake);
    let run = failed_run(&s).await;
    fake.set_default(answer(
        &FAILING
            .replace("echo boom; exit 3", "true")
            .replace("echo after", "echo later"),
    ));
    let out = s
        .baton(&["repair", &run, "greet", "--approve", "--rounds", "1"])
        .await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("changes `after` too"), "{printed}");
    assert!(user_text(&fake.requests()[1].body).contains("changes `after` too"));
    assert!(!s.work.join("after.txt").exists());
}

/// `on_failure: { repair: true }`: the failed run drafts its own fix, says so in the failed
/// step's log and keeps it as a `proposal` version; nothing is applied until a person runs
/// `baton repair`, which shows the stored proposal without asking the model again and, once
/// approved, continues the run with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_proposes_its_own_repair_and_waits_for_a_person_to_apply_it() {
    let fake = FakeLlm::start().await;
    let s = setup(&fake);
    let wf = format!("{FAILING}on_failure:\n  repair: true\n");
    std::fs::write(s.work.join("greet.yaml"), &wf).unwrap();
    fake.push(answer(
        &wf.replace("echo boom; exit 3", "echo fixed > fixed.txt"),
    ));
    let out = s.baton(&["run", "greet.yaml"]).await;
    let printed = bin::text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run still failed: {printed}"
    );
    assert_eq!(fake.hits(), 1, "{printed}");
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(versions[0]["kind"], "proposal", "{versions}");
    let proposal = versions[0]["id"].as_str().unwrap().to_string();
    let ls = s.baton(&["ls", "--json"]).await;
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let run = ls[0]["id"].as_str().unwrap().to_string();
    assert_eq!(ls[0]["state"], "failed");
    assert_eq!(versions[0]["run"], run.as_str());
    let logs = bin::text(&s.baton(&["logs", &run, "greet"]).await);
    assert!(
        logs.contains(&format!("repair proposed as plan version {proposal}"))
            && logs.contains(&format!("`baton repair {run} greet`")),
        "{logs}"
    );
    assert!(!s.work.join("fixed.txt").exists(), "nothing was applied");

    let out = s.baton(&["repair", &run, "greet", "--approve"]).await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert_eq!(fake.hits(), 1, "the stored proposal was used: {printed}");
    assert!(
        printed.contains(&format!("plan version {proposal}"))
            && printed.contains("+    run: echo fixed > fixed.txt"),
        "{printed}"
    );
    assert!(s.work.join("fixed.txt").exists() && s.work.join("after.txt").exists());
    let listed = s.baton(&["plans", "--json"]).await;
    let versions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let applied = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kind"] == "repair")
        .expect("the approved repair is a version");
    assert_eq!(applied["parent"], proposal.as_str(), "{versions}");
}

/// Without a provider, the run says it could not propose anything, and how to get one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_proposal_without_a_provider_is_explained_in_the_step_log() {
    let fake = FakeLlm::start().await;
    let s = setup(&fake);
    std::fs::write(s.config.join("config.toml"), "").unwrap();
    let wf = format!("{FAILING}on_failure:\n  repair: true\n");
    std::fs::write(s.work.join("greet.yaml"), &wf).unwrap();
    let out = s.baton(&["run", "greet.yaml"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", bin::text(&out));
    let ls = s.baton(&["ls", "--json"]).await;
    let ls: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    let run = ls[0]["id"].as_str().unwrap().to_string();
    let logs = bin::text(&s.baton(&["logs", &run, "greet"]).await);
    assert!(
        logs.contains("no repair proposed") && logs.contains("no LLM provider is configured"),
        "{logs}"
    );
    assert_eq!(fake.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_failure_as_a_mapping_takes_repair_and_steps_only() {
    let fake = FakeLlm::start().await;
    let s = setup(&fake);
    let wf = format!(
        "{FAILING}on_failure:\n  repair: yes please\n  stpes:\n    - id: page\n      run: echo paged\n"
    );
    std::fs::write(s.work.join("greet.yaml"), &wf).unwrap();
    let out = s.baton(&["validate", "greet.yaml"]).await;
    let printed = bin::text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("greet.yaml:10:"), "{printed}");
    assert!(printed.contains("on_failure.repair"), "{printed}");
    assert!(
        printed.contains("unknown key `stpes` in `on_failure`")
            && printed.contains("did you mean `steps`"),
        "{printed}"
    );
}
