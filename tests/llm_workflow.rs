//! The example code-review workflow, end to end through the real binary, against a fake
//! provider server on loopback; and no key in any stored byte or printed line.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/fake_llm.rs"]
mod fake_llm;

use std::path::Path;

use fake_llm::{FakeLlm, Reply};

const KEY: &str = "sk-test-secret-9f8e7d6c5b4a";

fn all_bytes_under(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_bytes_under(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_review_example_runs_end_to_end_against_a_fake_provider() {
    let fake = FakeLlm::start().await;
    fake.set_default(Reply::Text(
        r#"{"risk": "high", "findings": ["SQL injection in login"]}"#.into(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "[[providers]]\nname = \"fake\"\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"fake-model\"\napi_key_env = \"BATON_TEST_KEY\"\n",
            fake.url()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let workflow = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/code-review.yaml");
    let (data2, config2) = (data.clone(), config_dir.clone());
    let run = move |args: &[&str]| {
        let (data, config_dir) = (&data2, &config2);
        let mut c = bin::baton(data);
        c.args(args)
            .env("BATON_CONFIG_DIR", config_dir)
            .env("BATON_TEST_KEY", KEY);
        for var in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "OLLAMA_HOST",
        ] {
            c.env_remove(var);
        }
        c.output().unwrap()
    };
    let wf = workflow.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        let out = run(&["run", &wf, "--approve-all"]);
        let show = run(&["show", "r", "--json"]);
        let ls = run(&["ls", "--json"]);
        (out, show, ls)
    })
    .await
    .unwrap();
    let (out, show, ls) = out;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("answered by fake/fake-model"), "{printed}");
    assert!(!printed.contains(KEY), "the key was printed");

    let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(runs[0]["state"], "succeeded");
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let detail: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let step = |id: &str| {
        detail["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["record"]["step"] == id)
            .cloned()
            .unwrap()
    };
    let security = step("security");
    assert_eq!(security["output"]["risk"], "high");
    assert_eq!(security["record"]["metrics"]["provider"], "fake");
    assert!(security["record"]["metrics"]["tokens_in"].is_u64());
    assert_eq!(step("gate")["record"]["status"], "succeeded");
    assert_eq!(step("report")["output"]["risk"], "high");

    // The key went to the provider, and nowhere else.
    let requests = fake.requests();
    assert!(requests.len() >= 2);
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {KEY}"))),
        "the key was not sent"
    );
    let mut files = Vec::new();
    all_bytes_under(&data, &mut files);
    assert!(!files.is_empty());
    // The provider's health is remembered for the next process, without the key.
    let remembered = files
        .iter()
        .find(|(path, _)| path.ends_with("providers.json"))
        .expect("the provider health file");
    let health: serde_json::Value = serde_json::from_slice(&remembered.1).unwrap();
    assert_eq!(health["providers"]["fake"]["ok"], true, "{health}");
    for (path, bytes) in files {
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the key is stored in {path}"
        );
    }
}
