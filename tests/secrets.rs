//! Secrets from any source never reach the store, the live files or the screen: a provider key
//! only in the environment (no config file), a workflow's `secrets:` and its `env_file:` are
//! printed whole, split across writes, across lines and across the reader's 64 KiB line split,
//! transformed by `outputs:`, base64- and URL-encoded, and sent as an http URL's user-info;
//! then every byte under the data dir and everything printed is searched for each of them.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/http_server.rs"]
mod http_server;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use baton::encoding::{base64, percent};
use fake_llm::{FakeLlm, Reply};

/// A provider key found only in the environment.
const OPENAI_KEY: &str = "sk-proj-zeroconfig-4f9a2c7e1b";
/// Named under `secrets:`; characters that URL-encoding changes, long enough for `base64` to
/// wrap its encoding over two lines.
const DEPLOY_TOKEN: &str = "dep/loy+tok en=with&chars-and-a-long-tail-0123456789-abcdef";
/// From the `env_file:`.
const FILE_TOKEN: &str = "file-secret-9d8c7b6a5f4e";

const WORKFLOW: &str = r#"name: leaky
secrets: [DEPLOY_TOKEN]
env_file: secrets.env
steps:
  - id: leak
    env:
      DEPLOY: "{{ secrets.DEPLOY_TOKEN }}"
      FROM_FILE: "{{ secrets.FILE_TOKEN }}"
    run: |
      echo "whole $OPENAI_API_KEY $DEPLOY $FROM_FILE"
      echo "to stderr $DEPLOY" >&2
      printf 'writes %s' "$(printf %s "$FROM_FILE" | cut -c1-9)"; printf '%s end\n' "$(printf %s "$FROM_FILE" | cut -c10-)"
      printf 'lines %s\n%s end\n' "$(printf %s "$DEPLOY" | cut -c1-20)" "$(printf %s "$DEPLOY" | cut -c21-)"
      printf %s "$DEPLOY" | base64
      printf 'x%s' "$OPENAI_API_KEY" | base64
      printf 'xy%s' "$FROM_FILE" | base64
      echo "url $DEPLOY_URLENCODED"
      head -c 65530 /dev/zero | tr '\0' a; printf '%s\n' "$OPENAI_API_KEY"
    outputs:
      shout: "{{ stdout | upper }}"
  - id: call
    http:
      url: "http://deploy:{{ secrets.FILE_TOKEN }}@HOST/echo?t={{ secrets.FILE_TOKEN }}"
    depends_on: [leak]
"#;

struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new(host: &str) -> Place {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(dir.path().join("config")).expect("a config dir");
        let wf = WORKFLOW.replace("HOST", host);
        std::fs::write(dir.path().join("leaky.yaml"), wf).expect("the workflow");
        let env = dir.path().join("secrets.env");
        std::fs::write(&env, format!("# deploy\nFILE_TOKEN='{FILE_TOKEN}'\n")).expect("env file");
        std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        Place { dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `baton ARGS` with the secrets in its environment and no config file.
    fn baton(&self, args: &[&str]) -> Output {
        bin::baton(&self.data())
            .args(args)
            .env("BATON_CONFIG_DIR", self.dir.path().join("config"))
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("DEPLOY_TOKEN", DEPLOY_TOKEN)
            .env("DEPLOY_URLENCODED", percent(DEPLOY_TOKEN, false))
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("GEMINI_API_KEY")
            .env_remove("GOOGLE_API_KEY")
            .current_dir(self.dir.path())
            .output()
            .expect("baton runs")
    }

    fn file(&self) -> String {
        self.dir.path().join("leaky.yaml").display().to_string()
    }
}

/// What must not be found: each secret, its upper-case form, its halves, and the parts of its
/// base64 (at each alignment) and URL encodings that depend on it alone.
fn needles() -> Vec<String> {
    let mut out = Vec::new();
    for s in [OPENAI_KEY, DEPLOY_TOKEN, FILE_TOKEN] {
        out.push(s.to_string());
        out.push(s.to_uppercase());
        out.push(s[..s.len() / 2].to_string());
        out.push(s[s.len() / 2..].to_string());
        out.push(percent(s, false));
        for prefix in ["", "x", "xy"] {
            let encoded = base64(format!("{prefix}{s}").as_bytes());
            out.push(encoded[4..encoded.len() - 4].to_string());
        }
    }
    out
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Finds each needle in `bytes` as it is and with line breaks removed (a wrapped encoding).
fn assert_clean(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    let joined: String = text.chars().filter(|c| *c != '\n').collect();
    for needle in needles() {
        assert!(
            !text.contains(&needle) && !joined.contains(&needle),
            "{what} holds `{needle}`"
        );
    }
}

#[test]
fn secrets_from_any_source_never_reach_the_store_the_files_or_the_screen() {
    let server = http_server::serve(|_, path, _| (200, format!("you asked for {path}\n")));
    let host = server.base.trim_start_matches("http://").to_string();
    let place = Place::new(&host);
    let run = place.baton(&["run", &place.file()]);
    let screen = String::from_utf8_lossy(&run.stdout).into_owned();
    let end = screen.lines().rev().take(4).collect::<Vec<_>>();
    assert!(run.status.success(), "the run: {end:?} {:?}", run.stderr);
    let id = screen
        .split_whitespace()
        .nth(1)
        .expect("the run id")
        .to_string();
    // The masks are there, the text around them too.
    assert!(screen.contains("whole *** *** ***"), "{screen}");
    assert!(screen.contains("GET http://***@"), "{screen}");
    let seen = server.seen.lock().expect("requests").clone();
    assert_eq!(seen.len(), 1, "the http step ran: {seen:?}");

    let mut printed = vec![run.stdout, run.stderr];
    for args in [
        vec!["logs", id.as_str()],
        vec!["logs", id.as_str(), "--raw"],
        vec!["show", id.as_str()],
        vec!["show", id.as_str(), "--json", "--events"],
    ] {
        let out = place.baton(&args);
        assert!(out.status.success(), "baton {args:?}: {:?}", out.stderr);
        printed.push(out.stdout);
        printed.push(out.stderr);
    }
    for (i, bytes) in printed.iter().enumerate() {
        assert_clean(bytes, &format!("printed output #{i}"));
    }
    let shown = String::from_utf8_lossy(&printed[8]);
    assert!(shown.contains("\"shout\": \"WHOLE *** *** ***"), "{shown}");

    let mut all = Vec::new();
    files(&place.data(), &mut all);
    assert!(
        all.iter().any(|p| p.to_string_lossy().ends_with(".chunks")),
        "{all:?}"
    );
    for path in all {
        let bytes = std::fs::read(&path).expect("a readable file");
        assert_clean(&bytes, &path.display().to_string());
    }
}

#[test]
fn an_env_file_others_can_read_is_refused_with_the_fix() {
    let place = Place::new("127.0.0.1:9");
    let env = place.dir.path().join("secrets.env");
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = place.baton(&["run", &place.file()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("leaky.yaml:3:11"), "{err}");
    assert!(
        err.contains(&format!("chmod 600 {}", env.display())),
        "{err}"
    );
}

#[test]
fn a_secret_missing_from_the_environment_stops_the_run_before_it_starts() {
    let place = Place::new("127.0.0.1:9");
    let out = bin::baton(&place.data())
        .args(["run", &place.file()])
        .env("BATON_CONFIG_DIR", place.dir.path().join("config"))
        .env_remove("DEPLOY_TOKEN")
        .output()
        .expect("baton runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("leaky.yaml:2:11"), "{err}");
    assert!(err.contains("`DEPLOY_TOKEN` is not set"), "{err}");
    let ls = place.baton(&["ls", "--json"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "[]");
}

const AGENT_WORKFLOW: &str = r#"name: agentic
env_file: secrets.env
steps:
  - id: ask
    agent: devops
    prompt: "Deploy with {{ secrets.FILE_TOKEN }} and report."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answer_holding_secrets_is_masked_with_a_key_only_in_the_environment() {
    let fake = FakeLlm::start().await;
    let (a, b) = FILE_TOKEN.split_at(8);
    fake.set_default(Reply::Text(format!(
        "used {OPENAI_KEY} and {a}\n{b}; encoded {}",
        base64(format!("key={OPENAI_KEY}").as_bytes())
    )));
    let place = Place::new("127.0.0.1:9");
    std::fs::write(place.dir.path().join("agentic.yaml"), AGENT_WORKFLOW).expect("a workflow");
    let file = place.dir.path().join("agentic.yaml").display().to_string();
    let base = format!("{}/v1", fake.url());
    let (data, config) = (place.data(), place.dir.path().join("config"));
    let run = move |args: Vec<String>| {
        bin::baton(&data)
            .args(&args)
            .env("BATON_CONFIG_DIR", &config)
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("OPENAI_BASE_URL", &base)
            .env("DEPLOY_TOKEN", DEPLOY_TOKEN)
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("GEMINI_API_KEY")
            .env_remove("GOOGLE_API_KEY")
            .env_remove("OLLAMA_HOST")
            .output()
            .expect("baton runs")
    };
    let outs = tokio::task::spawn_blocking(move || {
        let out = run(vec!["run".into(), file]);
        let show = run(vec!["show".into(), "r".into(), "--json".into()]);
        let logs = run(vec!["logs".into(), "r".into()]);
        vec![out, show, logs]
    })
    .await
    .expect("baton ran");
    assert!(
        outs[0].status.success(),
        "{:?}",
        String::from_utf8_lossy(&outs[0].stderr)
    );
    assert_eq!(fake.hits(), 1, "the agent asked the provider once");
    let shown = String::from_utf8_lossy(&outs[1].stdout);
    assert!(shown.contains("used *** and ***"), "{shown}");
    for (i, out) in outs.iter().enumerate() {
        assert_clean(&out.stdout, &format!("printed output #{i}"));
        assert_clean(&out.stderr, &format!("printed errors #{i}"));
    }
    let mut all = Vec::new();
    files(&place.data(), &mut all);
    for path in all {
        let bytes = std::fs::read(&path).expect("a readable file");
        assert_clean(&bytes, &path.display().to_string());
    }
}
