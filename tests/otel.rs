//! Traces over OTLP/HTTP, as the whole program sends them: `baton run` with `[otel]` in its
//! config exports to a receiver on 127.0.0.1 that parses each request against the official
//! OTLP schema (`opentelemetry-proto`, provisioned by `tests/otel-proto.sh`). The receiver
//! refuses the first export, as a restarting collector would: the spans wait and go later.

#[path = "support/bin.rs"]
mod bin;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The venv's python with `opentelemetry-proto`, or a failure that says how to get it.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("BATON_OTEL_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/otel-venv"));
    let python = venv.join("bin/python");
    let has = Command::new(&python)
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has,
        "the OTLP schema is not installed in {}: run `tests/otel-proto.sh` (it installs \
         `opentelemetry-proto` into that venv), then run the tests again",
        venv.display()
    );
    python
}

struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    fn start(dir: &Path) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/otlp_receiver.py");
        let out = dir.join("exports.jsonl");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(&out)
            .arg("--refuse-first")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first.trim().parse().unwrap_or_else(|_| panic!("{first:?}"));
        Receiver { child, port, out }
    }

    /// Every export it took, parsed; a request it could not parse fails the test.
    fn exports(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                assert!(
                    v.get("error").is_none(),
                    "an export the schema refused: {v}"
                );
                v
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An attribute's value as the parsed request has it (`intValue` as a string).
fn attr(span: &Value, key: &str) -> Option<Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| a["value"].clone())
}

const WORKFLOW: &str = r#"
name: otel-demo
steps:
  - id: fetch
    run: echo fetched
  - id: flaky
    depends_on: [fetch]
    retry: { max_attempts: 2, initial: 10ms, jitter: false }
    run: |
      if [ ! -e tried ]; then touch tried; exit 4; fi
      echo second time lucky
  - id: fan
    depends_on: [flaky]
    for_each: [a, b]
    run: echo "{{ item }}"
  - id: deploy
    depends_on: [fan]
    run: exit 3
"#;

#[test]
fn a_run_is_a_trace_of_step_and_item_spans_that_waits_out_a_refusing_collector() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(dir.path());
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let headers = config.join("otel-headers");
    std::fs::write(&headers, "x-api-key: k3y-0tel-s3cret\n").unwrap();
    std::fs::set_permissions(&headers, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!(
            "[otel]\nendpoint = \"http://127.0.0.1:{}\"\nheaders_file = \"otel-headers\"\ninterval = \"20ms\"\nservice_name = \"ci-runner\"\n",
            receiver.port
        ),
    )
    .unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("wf.yaml"), WORKFLOW).unwrap();
    let data = dir.path().join("data");
    let out = bin::baton(&data)
        .current_dir(&work)
        .env("BATON_CONFIG_DIR", &config)
        .args(["run", "wf.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", bin::text(&out));

    // Everything was sent before `baton run` returned.
    let exports = receiver.exports();
    assert!(!exports.is_empty(), "nothing exported");
    for e in &exports {
        assert_eq!(e["headers"]["x-api-key"], "k3y-0tel-s3cret");
    }
    let resource = &exports[0]["request"]["resourceSpans"][0]["resource"];
    assert_eq!(
        attr(resource, "service.name").unwrap()["stringValue"],
        "ci-runner"
    );
    let spans: Vec<Value> = exports
        .iter()
        .flat_map(|e| {
            e["request"]["resourceSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .collect();
    let named = |name: &str| -> Value {
        let found: Vec<&Value> = spans.iter().filter(|s| s["name"] == name).collect();
        assert_eq!(found.len(), 1, "one span `{name}` in {spans:#?}");
        found[0].clone()
    };
    let run = named("run otel-demo");
    assert!(run.get("parentSpanId").is_none());
    assert_eq!(run["status"]["code"], "STATUS_CODE_ERROR", "{run}");
    let trace = run["traceId"].clone();
    assert!(
        spans.iter().all(|s| s["traceId"] == trace),
        "one trace: {spans:#?}"
    );

    let flaky = named("step flaky");
    assert_eq!(flaky["parentSpanId"], run["spanId"]);
    assert_eq!(attr(&flaky, "baton.step.attempt").unwrap()["intValue"], "2");
    assert_eq!(flaky["status"]["code"], "STATUS_CODE_OK");
    let deploy = named("step deploy");
    assert_eq!(
        attr(&deploy, "baton.step.exit_code").unwrap()["intValue"],
        "3"
    );
    assert_eq!(deploy["status"]["code"], "STATUS_CODE_ERROR");
    assert!(
        deploy["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains('3'),
        "{deploy}"
    );
    let fan = named("step fan");
    for key in ["item fan[0]", "item fan[1]"] {
        assert_eq!(named(key)["parentSpanId"], fan["spanId"]);
    }
    let start: u128 = run["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = run["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let step_end: u128 = deploy["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(start <= end && step_end <= end, "{run} {deploy}");

    // The refused export was said in baton's own log, without the header's value.
    let log = std::fs::read_dir(data.join("logs"))
        .map(|d| {
            d.flatten()
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect::<String>()
        })
        .unwrap_or_default();
    assert!(log.contains("503"), "{log}");
    assert!(!log.contains("k3y-0tel-s3cret"), "{log}");
}

#[test]
fn a_headers_file_others_can_read_stops_the_run_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let headers = config.join("otel-headers");
    std::fs::write(&headers, "x-api-key: k3y\n").unwrap();
    std::fs::set_permissions(&headers, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        config.join("config.toml"),
        "[otel]\nendpoint = \"http://127.0.0.1:9\"\nheaders_file = \"otel-headers\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wf.yaml"),
        "name: w\nsteps:\n  - id: a\n    run: touch ran\n",
    )
    .unwrap();
    let out = bin::baton(&dir.path().join("data"))
        .current_dir(dir.path())
        .env("BATON_CONFIG_DIR", &config)
        .args(["run", "wf.yaml"])
        .output()
        .unwrap();
    let said = bin::text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("chmod 600") && said.contains("otel-headers"),
        "{said}"
    );
    assert!(!dir.path().join("ran").exists());
}
