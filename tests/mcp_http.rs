//! MCP servers over streamable HTTP, declared in the config file: the example calendar server
//! (`examples/mcp/calendar.py --http`, a real Python process on 127.0.0.1) wants a bearer
//! token, which baton reads from the variable the config names and never stores or shows.

#[path = "support/agent_run.rs"]
mod agent_run;
#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use agent_run::{Place, calls, results};
use fake_llm::{FakeLlm, Reply};
use serde_json::json;

const TOKEN: &str = "cal-token-5e4d3c2b1a";

/// The calendar server over HTTP, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(calendar: &Path) -> Server {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mcp/calendar.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--http", "127.0.0.1:0"])
            .env("MCP_TOKEN", TOKEN)
            .env("CALENDAR_FILE", calendar)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().trim_start_matches("listening on ").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const WF: &str = "steps:\n  - id: schedule\n    agent: writer\n    prompt: Schedule the review.\n    tools: [cal.list_events, cal.create_event]\n";

fn configure(place: &Place, url: &str) {
    let path = place.path("config/config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[mcp_servers.cal]\nurl = \"{url}\"\nheaders = {{ X-Team = \"ops\" }}\nbearer_token_env = \"CAL_TOKEN\"\n"
    ));
    std::fs::write(path, config).unwrap();
}

/// Every file under `dir`, as bytes.
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_of_the_config_file_serves_its_tools_with_the_token_from_the_environment() {
    let fake = FakeLlm::start().await;
    let place = Place::new(&fake, WF);
    let calendar = place.path("calendar.json");
    let server = Server::start(&calendar);
    configure(&place, &server.url);

    let listed = place
        .baton(&["tools"])
        .env("CAL_TOKEN", TOKEN)
        .output()
        .unwrap();
    let t = bin::text(&listed);
    assert_eq!(listed.status.code(), Some(0), "{t}");
    let row = |name: &str| {
        t.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {t}"))
            .to_string()
    };
    assert!(row("cal.list_events").contains("no (read-only)"), "{t}");
    assert!(row("cal.create_event").contains("asks"), "{t}");

    fake.push(calls(&[("cal__list_events", json!({"month": "2026-12"}))]));
    let event = json!({"title": "Review of 2026-12", "date": "2027-01-04", "time": "10:00"});
    fake.push(calls(&[("cal__create_event", event)]));
    fake.push(Reply::Text("Scheduled.".into()));
    let out = place
        .baton(&["run", "--approve-all", "wf.yaml"])
        .env("CAL_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    let told = results(&fake.requests()[2].body);
    assert!(
        told[0].contains("Incident review: disk full on ci-3"),
        "{told:?}"
    );
    assert!(told[1].starts_with("Created: 2027-01-04 10:00"), "{told:?}");
    let stored = std::fs::read_to_string(&calendar).unwrap();
    assert!(stored.contains("Review of 2026-12"), "{stored}");

    let id = place.run_id();
    let logs = bin::text(&place.baton(&["logs", &id]).output().unwrap());
    assert!(!logs.contains(TOKEN), "{logs}");
    for (file, bytes) in all_bytes(&place.path("data")) {
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token reached {file}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_refused_token_fails_the_step_saying_which() {
    let fake = FakeLlm::start().await;
    let place = Place::new(&fake, WF);
    let server = Server::start(&place.path("calendar.json"));
    configure(&place, &server.url);
    let error = |token: Option<&str>| {
        let mut run = place.baton(&["run", "wf.yaml"]);
        run.env_remove("CAL_TOKEN");
        if let Some(t) = token {
            run.env("CAL_TOKEN", t);
        }
        let out = run.output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{}", bin::text(&out));
        let ls = place.json(&["ls", "--json"]);
        let id = ls[0]["id"].as_str().unwrap_or_default().to_string();
        let detail = place.json(&["show", &id, "--json"]);
        detail["steps"][0]["record"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let missing = error(None);
    assert!(
        missing
            .contains("the MCP server `cal` needs $CAL_TOKEN (its bearer token), which is not set"),
        "{missing}"
    );
    let refused = error(Some("wrong-token-123"));
    assert!(
        refused.contains("the MCP server `cal` did not start a session"),
        "{refused}"
    );
    assert!(!refused.contains("wrong-token-123"), "{refused}");
    assert_eq!(fake.hits(), 0, "no model was asked");
}
