//! Agents that act, as the whole program runs them against a fake provider on 127.0.0.1: a
//! risky tool call waits at the step's gate showing the exact call until `baton approve` or
//! `baton reject` from another shell decides it, and a run killed with SIGKILL in the middle of
//! an agent's loop continues its conversation on `baton resume`.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use fake_llm::{FakeLlm, Reply};
use harness::{PATIENCE, eventually};
use serde_json::{Value, json};

/// A directory with a config pointing at the fake (Anthropic family), a data dir and files.
struct Place {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Place {
    fn new(fake: &FakeLlm, workflow: &str) -> Place {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::write(
            root.join("config/config.toml"),
            format!(
                "[[providers]]\nname = \"fake\"\nkind = \"anthropic\"\nbase_url = \"{}\"\nmodel = \"fake-model\"\n",
                fake.url()
            ),
        )
        .unwrap();
        std::fs::write(root.join("wf.yaml"), workflow).unwrap();
        Place { _dir: dir, root }
    }

    /// `baton --data-dir DATA ARGS…` in the directory, with only the fake configured.
    fn baton(&self, args: &[&str]) -> Command {
        let mut c = bin::baton(&self.root.join("data"));
        c.current_dir(&self.root)
            .args(args)
            .env("BATON_CONFIG_DIR", self.root.join("config"))
            .env("ANTHROPIC_API_KEY", "sk-ant-test");
        for var in [
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "OLLAMA_HOST",
        ] {
            c.env_remove(var);
        }
        c
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.baton(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// The only run's id, once there is one.
    fn run_id(&self) -> String {
        let mut id = String::new();
        eventually(PATIENCE, "the run to be listed", || {
            let runs = self.json(&["ls", "--json"]);
            id = runs[0]["id"].as_str().unwrap_or_default().to_string();
            !id.is_empty()
        });
        id
    }

    /// Waits until step `look` waits at a gate showing `action`; returns the gate's record.
    fn gate_showing(&self, id: &str, action: &str) -> Value {
        let mut gate = Value::Null;
        eventually(PATIENCE, &format!("a gate showing {action:?}"), || {
            let detail = self.json(&["show", id, "--json"]);
            gate = detail["approvals"][0].clone();
            detail["steps"][0]["record"]["status"] == "waiting_approval"
                && gate["action"] == action
                && gate["decision"].is_null()
        });
        gate
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

fn calls(calls: &[(&str, Value)]) -> Reply {
    Reply::Calls {
        text: String::new(),
        calls: calls
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect(),
    }
}

/// Tool results in an Anthropic request body, in order.
fn results(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_result" {
                out.push(b["content"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out
}

fn decide(place: &Place, args: &[&str]) -> String {
    let out = place.baton(args).output().unwrap();
    let t = bin::text(&out);
    assert!(out.status.success(), "{args:?}: {t}");
    t
}

const GATED: &str = "steps:\n  - id: look\n    agent: devops\n    prompt: Free some space.\n    tools: [shell, write_file, read_file]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_risky_call_waits_for_approve_or_reject_from_another_shell_and_the_agent_goes_on() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo cleaned > a.txt"}),
    )]));
    fake.push(calls(&[(
        "write_file",
        json!({"path": "w.txt", "content": "rm -rf /var/log\n"}),
    )]));
    fake.push(Reply::Text("Cleaned; the script was refused.".into()));
    let place = Place::new(&fake, GATED);
    let owner = place
        .baton(&["run", "--wait-for-gates", "wf.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = place.run_id();

    let gate = place.gate_showing(&id, "shell: $ echo cleaned > a.txt");
    assert!(
        gate["prompt"].as_str().unwrap().contains("`shell`"),
        "{gate}"
    );
    assert!(
        !place.path("a.txt").exists(),
        "nothing ran before the decision"
    );
    decide(&place, &["approve", &id, "look"]);

    place.gate_showing(&id, "write_file: w.txt (16 bytes)\n\nrm -rf /var/log");
    assert_eq!(
        std::fs::read_to_string(place.path("a.txt")).unwrap(),
        "cleaned\n"
    );
    let t = decide(&place, &["reject", &id, "look", "--note", "keep the logs"]);
    assert!(t.contains("rejected by"), "{t}");

    let out = owner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert!(
        !place.path("w.txt").exists(),
        "the rejected call did not run"
    );
    let told = results(&fake.requests()[2].body);
    assert!(
        told[0].contains("cleaned") || told[0].contains("exit code: 0"),
        "{told:?}"
    );
    assert!(
        told[1].contains("refused this call") && told[1].contains("keep the logs"),
        "{told:?}"
    );
    let events = bin::text(&place.baton(&["show", &id, "--events"]).output().unwrap());
    assert!(events.contains("look approved by "), "{events}");
    assert!(events.contains(": keep the logs"), "{events}");
    assert!(events.contains("look asked for shell"), "{events}");
}

/// kill -9 while the agent's second call (a trusted shell command) runs: the resumed run asks
/// the model once more, with the first call's recorded result and the second reported as
/// interrupted; neither call runs again, and no turn is asked twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_in_an_agents_loop_resumes_the_conversation_without_rerunning_calls() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[("read_file", json!({"path": "notes.txt"}))]));
    fake.push(calls(&[(
        "shell",
        json!({"command": "echo once >> ran.txt; [ -e resumed ] || sleep 600"}),
    )]));
    fake.push(Reply::Text("Done after the interruption.".into()));
    let place = Place::new(
        &fake,
        "steps:\n  - id: look\n    agent: devops\n    prompt: Look around.\n    tools: [read_file, {name: shell, approve: false}]\n",
    );
    std::fs::write(place.path("notes.txt"), "a note").unwrap();
    let run = place.baton(&["run", "--json", "wf.yaml"]);
    let mut owner = bin::wait_until_a_process_is_recorded(run, Some("look"));
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert_eq!(fake.hits(), 2);

    let id = place.run_id();
    // Were the call run again, it would end at once now.
    std::fs::write(place.path("resumed"), "").unwrap();
    let out = place.baton(&["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert_eq!(fake.hits(), 3, "the recorded turns were not asked again");
    assert_eq!(
        std::fs::read_to_string(place.path("ran.txt")).unwrap(),
        "once\n",
        "the interrupted shell call did not run again"
    );
    let told = results(&fake.requests()[2].body);
    assert_eq!(told[0], "a note", "{told:?}");
    assert!(told[1].contains("was interrupted"), "{told:?}");
    let detail = place.json(&["show", &id, "--json"]);
    assert_eq!(detail["run"]["state"], "succeeded", "{detail}");
}
