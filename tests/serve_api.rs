//! The HTTP API of a real `baton serve --listen 127.0.0.1:0` process: tokens, runs, gates,
//! signed webhooks, the unix socket, and `/metrics` read by a strict exposition parser.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/engine.rs"]
mod harness;
#[path = "support/prometheus.rs"]
mod prometheus;

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use harness::{PATIENCE, eventually};
use hmac::Mac;
use serde_json::{Value, json};

const TOKEN: &str = "tok-3f9a1c";
const HOOK_SECRET: &str = "hook-secret-77";

const HELLO: &str = "name: hello\nparams:\n  who: { default: world }\nsteps:\n  - id: greet\n    run: echo hello {{ params.who }}\n";
const GATED: &str = "name: gated\nsteps:\n  - id: gate\n    approval: \"Ship it?\"\n  - id: after\n    run: echo shipped\n    depends_on: [gate]\n";

/// A `baton serve --listen` process over its own data, config and workflows; stopped on drop.
struct Server {
    dir: tempfile::TempDir,
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn setup(dir: &Path) {
    let flows = dir.join("work/workflows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("hello.yaml"), HELLO).unwrap();
    std::fs::write(flows.join("gated.yaml"), GATED).unwrap();
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let secret = config.join("push.secret");
    std::fs::write(&secret, format!("{HOOK_SECRET}\n")).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[serve]\ntoken_name = \"ci-bot\"\n\n[hooks.push]\nworkflow = \"hello\"\nsecret_file = \"{}\"\nparams = {{ who = \"{{{{ body.pusher }}}}\" }}\n",
            secret.display()
        ),
    )
    .unwrap();
}

fn command(dir: &Path) -> std::process::Command {
    let mut c = bin::baton(&dir.join("data"));
    c.current_dir(dir.join("work"))
        .env("BATON_CONFIG_DIR", dir.join("config"))
        .env_remove("BATON_API_TOKEN");
    c
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path());
        let mut child = command(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("BATON_API_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("no address on stdout: {line:?}"))
            .to_string();
        Server { dir, child, addr }
    }

    fn socket(&self) -> PathBuf {
        baton::control::socket_path(&self.dir.path().join("data/store"))
    }

    /// A request over TCP with `token` (if any); the status and the JSON (or text) body.
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n"));
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let stream = std::net::TcpStream::connect(&self.addr).unwrap();
        exchange(
            stream,
            method,
            path,
            auth.as_deref().unwrap_or(""),
            body.as_bytes(),
        )
    }

    fn with_token(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call(method, path, Some(TOKEN), body)
    }

    fn runs(&self) -> Vec<Value> {
        let (status, body) = self.with_token("GET", "/v1/runs", None);
        assert_eq!(status, 200, "{body}");
        body["runs"].as_array().cloned().unwrap_or_default()
    }

    fn run(&self, id: &str) -> Value {
        let (status, body) = self.with_token("GET", &format!("/v1/runs/{id}"), None);
        assert_eq!(status, 200, "{body}");
        body
    }

    fn wait_state(&self, id: &str, state: &str) -> Value {
        let mut last = Value::Null;
        eventually(PATIENCE, &format!("run {id} to be {state}"), || {
            last = self.run(id);
            last["run"]["state"] == state
        });
        last
    }

    fn step_status(&self, id: &str, step: &str) -> Value {
        let run = self.run(id);
        let steps = run["steps"].as_array().cloned().unwrap_or_default();
        steps
            .into_iter()
            .find(|s| s["step"] == step)
            .map(|s| s["status"].clone())
            .unwrap_or(Value::Null)
    }
}

/// Writes one HTTP/1.1 request and reads the whole answer (the connection closes after it).
fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, Value) {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: baton\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8(answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    (status, value)
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[test]
fn a_run_started_with_the_token_finishes_and_is_listed() {
    let s = Server::start();
    let (status, body) = s.with_token(
        "POST",
        "/v1/runs",
        Some(&json!({"workflow": "hello", "params": {"who": "api"}})),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let run = s.wait_state(&id, "succeeded");
    assert_eq!(run["run"]["params"]["who"], "api");
    assert!(s.runs().iter().any(|r| r["id"] == id.as_str()));
}

#[test]
fn requests_without_the_right_token_get_401_and_start_nothing() {
    let s = Server::start();
    let start = json!({"workflow": "hello"});
    for token in [None, Some("wrong"), Some("tok-3f9a1")] {
        let (status, body) = s.call("POST", "/v1/runs", token, Some(&start));
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    }
    assert_eq!(s.call("GET", "/v1/runs", None, None).0, 401);
    assert_eq!(s.call("GET", "/metrics", Some("wrong"), None).0, 401);
    // Bad requests name what is wrong, and start nothing either.
    let (status, body) = s.with_token("POST", "/v1/runs", Some(&json!({"workflow": "nope"})));
    assert_eq!(status, 404, "{body}");
    assert!(body["hint"].as_str().unwrap().contains("hello"), "{body}");
    let (status, body) = s.with_token(
        "POST",
        "/v1/runs",
        Some(&json!({"workflow": "hello", "params": {"whom": "x"}})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("whom"), "{body}");
    assert_eq!(s.with_token("GET", "/v1/runs/r-none", None).0, 404);
    assert_eq!(s.runs(), Vec::<Value>::new());
}

#[test]
fn a_signed_webhook_starts_its_workflow_and_a_forged_one_changes_nothing() {
    let s = Server::start();
    let body = br#"{"pusher": "octocat"}"#;
    let hook = |sig: &str| {
        let stream = std::net::TcpStream::connect(&s.addr).unwrap();
        exchange(
            stream,
            "POST",
            "/v1/hooks/push",
            &format!("X-Hub-Signature-256: {sig}\r\n"),
            body,
        )
    };
    for forged in [
        signature("not-the-secret", body),
        signature(HOOK_SECRET, b"{}"),
        "sha256=00".into(),
    ] {
        let (status, answer) = hook(&forged);
        assert_eq!(status, 401, "{answer}");
    }
    assert_eq!(s.runs(), Vec::<Value>::new());
    let (status, answer) = hook(&signature(HOOK_SECRET, body));
    assert_eq!(status, 201, "{answer}");
    let run = s.wait_state(answer["id"].as_str().unwrap(), "succeeded");
    assert_eq!(run["run"]["workflow"], "hello");
    assert_eq!(run["run"]["params"]["who"], "octocat");
}

#[test]
fn a_gate_is_approved_through_the_api_by_the_tokens_name() {
    let s = Server::start();
    let (status, body) = s.with_token("POST", "/v1/runs", Some(&json!({"workflow": "gated"})));
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    // Not waiting yet, or not a step at all.
    let (status, _) = s.with_token(
        "POST",
        &format!("/v1/runs/{id}/steps/nowhere/approve"),
        None,
    );
    assert_eq!(status, 404);
    eventually(PATIENCE, "the gate to open", || {
        s.step_status(&id, "gate") == "waiting_approval"
    });
    let (status, answer) = s.with_token(
        "POST",
        &format!("/v1/runs/{id}/steps/after/approve"),
        Some(&json!({})),
    );
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = s.with_token(
        "POST",
        &format!("/v1/runs/{id}/steps/gate/approve"),
        Some(&json!({"note": "ship"})),
    );
    assert_eq!(status, 200, "{answer}");
    let run = s.wait_state(&id, "succeeded");
    let decision = &run["approvals"][0]["decision"];
    assert!(decision.to_string().contains("ci-bot"), "{decision}");
    assert!(decision.to_string().contains("ship"), "{decision}");
    let (status, answer) = s.with_token("POST", &format!("/v1/runs/{id}/steps/gate/reject"), None);
    assert_eq!(status, 409, "{answer}");
}

/// The control socket speaks both protocols: HTTP without a token (the kernel vouches for the
/// user), and the line protocol other batons use, here through `baton ls`.
#[test]
fn the_api_answers_on_the_control_socket_to_its_own_user() {
    let s = Server::start();
    let (status, body) = s.with_token("POST", "/v1/runs", Some(&json!({"workflow": "hello"})));
    assert_eq!(status, 201, "{body}");
    let mode = std::fs::metadata(s.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stream = std::os::unix::net::UnixStream::connect(s.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let (status, runs) = exchange(stream, "GET", "/v1/runs", "", b"");
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs["runs"][0]["id"], body["id"]);
    let ls = command(s.dir.path()).args(["ls"]).output().unwrap();
    assert!(ls.status.success(), "{ls:?}");
    let listed = String::from_utf8_lossy(&ls.stdout);
    assert!(listed.contains(body["id"].as_str().unwrap()), "{listed}");
}

#[test]
fn metrics_are_a_valid_exposition_with_the_runs_figures() {
    let s = Server::start();
    let (_, body) = s.with_token("POST", "/v1/runs", Some(&json!({"workflow": "hello"})));
    s.wait_state(body["id"].as_str().unwrap(), "succeeded");
    let (status, text) = s.with_token("GET", "/metrics", None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap().to_string();
    let samples = prometheus::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let get = |name, labels: &[(&str, &str)]| prometheus::get(&samples, name, labels);
    assert_eq!(
        get(
            "baton_runs",
            &[("workflow", "hello"), ("state", "succeeded")]
        ),
        Some(1.0),
        "{text}"
    );
    let step = [("workflow", "hello"), ("kind", "run")];
    assert_eq!(
        get("baton_step_duration_seconds_count", &step),
        Some(1.0),
        "{text}"
    );
    assert!(
        get("baton_step_duration_seconds_sum", &step).is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert_eq!(get("baton_active_runs", &[]), Some(0.0), "{text}");
    assert_eq!(
        get("baton_steps_waiting_for_slot", &[]),
        Some(0.0),
        "{text}"
    );
    // The run was written to the store and flushed: at least its start and its end.
    let (commits, flushes) = (
        get("baton_store_journal_commits_total", &[]).unwrap_or(0.0),
        get("baton_store_flushes_total", &[]).unwrap_or(0.0),
    );
    assert!(commits >= 2.0 && flushes >= 1.0, "{text}");
}

#[test]
fn the_exposition_parser_rejects_malformed_text() {
    let good = "# TYPE a counter\na{x=\"1\"} 2\n";
    assert!(prometheus::parse(good).is_ok());
    for bad in [
        "a 1\n",                                   // no TYPE
        "# TYPE a counter\na{x=1} 2\n",            // unquoted label
        "# TYPE a counter\na{x=\"1\"} two\n",      // not a number
        "# TYPE a counter\na{x=\"1\"} 2",          // no final newline
        "# TYPE a counter\n# TYPE a gauge\na 1\n", // TYPE twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n", // falling buckets
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n", // no +Inf
    ] {
        assert!(prometheus::parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn listening_beyond_loopback_without_a_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let mut child = command(dir.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A baton that listened would say where on its first line; one that refused says nothing.
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if !line.is_empty() {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(line, "", "it listened without a token");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("without a token") && text.contains("BATON_API_TOKEN"),
        "{text}"
    );
}
