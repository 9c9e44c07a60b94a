//! A whole-program agent run against the fake provider: a directory with a config naming only
//! the fake (Anthropic family), `baton` commands run there, and waits on what they show.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use super::bin;
use super::fake_llm::{FakeLlm, Reply};
use super::harness::{PATIENCE, eventually};
use serde_json::Value;

/// A directory with a config pointing at the fake (Anthropic family), a data dir and files.
pub struct Place {
    _dir: tempfile::TempDir,
    /// The directory.
    pub root: PathBuf,
    /// Where `baton` runs (the directory, unless set).
    pub cwd: PathBuf,
}

impl Place {
    pub fn new(fake: &FakeLlm, workflow: &str) -> Place {
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
        Place {
            _dir: dir,
            cwd: root.clone(),
            root,
        }
    }

    /// `baton --data-dir DATA ARGS…` in the directory, with only the fake configured.
    pub fn baton(&self, args: &[&str]) -> Command {
        let mut c = bin::baton(&self.root.join("data"));
        c.current_dir(&self.cwd)
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

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.baton(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// The only run's id, once there is one.
    pub fn run_id(&self) -> String {
        let mut id = String::new();
        eventually(PATIENCE, "the run to be listed", || {
            let runs = self.json(&["ls", "--json"]);
            id = runs[0]["id"].as_str().unwrap_or_default().to_string();
            !id.is_empty()
        });
        id
    }

    /// Waits until the run's first step waits at a gate showing `action`; returns the gate.
    pub fn gate_showing(&self, id: &str, action: &str) -> Value {
        self.gate_showing_at(id, 0, action)
    }

    /// Waits until step number `step` waits at a gate showing `action`; returns the gate.
    pub fn gate_showing_at(&self, id: &str, step: usize, action: &str) -> Value {
        let mut gate = Value::Null;
        eventually(PATIENCE, &format!("a gate showing {action:?}"), || {
            let detail = self.json(&["show", id, "--json"]);
            gate = detail["approvals"][0].clone();
            detail["steps"][step]["record"]["status"] == "waiting_approval"
                && gate["action"] == action
                && gate["decision"].is_null()
        });
        gate
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

pub fn calls(calls: &[(&str, Value)]) -> Reply {
    Reply::Calls {
        text: String::new(),
        calls: calls
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect(),
    }
}

/// Tool results in an Anthropic request body, in order.
pub fn results(body: &Value) -> Vec<String> {
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

pub fn decide(place: &Place, args: &[&str]) -> String {
    let out = place.baton(args).output().unwrap();
    let t = bin::text(&out);
    assert!(out.status.success(), "{args:?}: {t}");
    t
}
