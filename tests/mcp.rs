//! MCP servers as tool plugins, against the real example server `examples/mcp/calendar.py`
//! (a Python process speaking JSON-RPC over stdio) and the fake provider: the README's
//! "December meeting" flow, with the read-only tool running unattended and the event's
//! creation waiting for approval.

#[path = "support/agent_run.rs"]
mod agent_run;
#[path = "support/bin.rs"]
mod bin;
#[path = "support/fake_llm.rs"]
mod fake_llm;
#[path = "support/engine.rs"]
mod harness;

use std::path::Path;
use std::process::Stdio;

use agent_run::{Place, calls, decide, results};
use fake_llm::{FakeLlm, Reply};
use serde_json::json;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_december_meeting_example_reads_the_calendar_and_creates_the_event_once_approved() {
    let fake = FakeLlm::start().await;
    fake.push(calls(&[(
        "calendar__list_events",
        json!({"month": "2026-12"}),
    )]));
    let event = json!({"title": "Review of 2026-12", "date": "2027-01-04", "time": "10:00",
                       "minutes": 60, "attendees": ["ann", "bob"], "notes": "Disk incident fixed."});
    fake.push(calls(&[("calendar__create_event", event.clone())]));
    fake.push(Reply::Text("Scheduled the review on 2027-01-04.".into()));
    let mut place = Place::new(&fake, "");
    place.cwd = repo().to_path_buf();
    let calendar = place.path("calendar.json");
    let wf = repo().join("workflows/december-meeting.yaml");
    let owner = place
        .baton(&["run", "--wait-for-gates"])
        .arg(&wf)
        .env("CALENDAR_FILE", &calendar)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = place.run_id();
    let shown = serde_json::to_string_pretty(&event).unwrap();
    let gate = place.gate_showing(&id, &format!("calendar.create_event {shown}"));
    assert!(
        gate["prompt"]
            .as_str()
            .unwrap()
            .contains("`calendar.create_event`"),
        "{gate}"
    );
    assert!(
        !calendar.exists(),
        "nothing was created before the approval"
    );
    decide(&place, &["approve", &id, "schedule"]);
    let out = owner.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));

    let reqs = fake.requests();
    let offered: Vec<&str> = reqs[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["calendar__list_events", "calendar__create_event"]);
    let told = results(&reqs[2].body);
    assert!(
        told[0].contains("Incident review: disk full on ci-3"),
        "the server's December events reached the model: {told:?}"
    );
    assert!(told[1].starts_with("Created: 2027-01-04 10:00"), "{told:?}");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&calendar).unwrap()).unwrap();
    let created: Vec<&serde_json::Value> = stored
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["title"] == "Review of 2026-12")
        .collect();
    assert_eq!(created.len(), 1, "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_start_or_lacks_the_tool_fails_the_step_saying_so() {
    let fake = FakeLlm::start().await;
    let script = repo().join("examples/mcp/calendar.py");
    let wf = format!(
        "mcp_servers:\n  gone: {{ command: /nonexistent/mcp-server }}\n  calendar: {{ command: python3, args: ['{}'] }}\nsteps:\n  - id: a\n    agent: writer\n    prompt: hi\n    tools: [gone.x]\n    continue_on_error: true\n  - id: b\n    agent: writer\n    prompt: hi\n    tools: [calendar.delete_everything]\n",
        script.display()
    );
    let place = Place::new(&fake, &wf);
    let out = place.baton(&["run", "wf.yaml"]).output().unwrap();
    let t = bin::text(&out);
    assert_ne!(out.status.code(), Some(0), "{t}");
    let detail = place.json(&["show", &place.run_id(), "--json"]);
    let error = |i: usize| {
        detail["steps"][i]["record"]["error"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(
        error(0).contains("cannot start the MCP server `gone` (`/nonexistent/mcp-server`)"),
        "{detail}"
    );
    assert!(
        error(1).contains("the MCP server `calendar` has no tool `delete_everything`; it has calendar.list_events, calendar.create_event"),
        "{detail}"
    );
    assert_eq!(fake.hits(), 0, "no model was asked");
}

/// `baton tools` lists the built-ins and, for a workflow, its MCP servers' tools (from the
/// running servers), each with whether its calls wait for approval; a server that cannot start
/// is named, and the rest are still listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baton_tools_lists_built_in_and_mcp_tools_with_their_approval() {
    let fake = FakeLlm::start().await;
    let script = repo().join("examples/mcp/calendar.py");
    let wf = format!(
        "mcp_servers:\n  gone: {{ command: /nonexistent/mcp-server }}\n  calendar: {{ command: python3, args: ['{}'] }}\nsteps:\n  - id: a\n    run: 'true'\n",
        script.display()
    );
    let place = Place::new(&fake, &wf);
    let out = place.baton(&["tools", "-f", "wf.yaml"]).output().unwrap();
    let t = bin::text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let rows: Vec<Vec<&str>> = t
        .lines()
        .map(|l| {
            l.split("  ")
                .filter(|c| !c.is_empty())
                .map(str::trim)
                .collect()
        })
        .collect();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.first() == Some(&name))
            .unwrap_or_else(|| panic!("no row for {name}: {t}"))
            .clone()
    };
    assert_eq!(row("shell")[1], "asks", "{t}");
    assert_eq!(row("read_file")[1], "no", "{t}");
    assert_eq!(row("http")[1], "asks unless GET/HEAD", "{t}");
    assert_eq!(row("calendar.list_events")[1], "no (read-only)", "{t}");
    assert_eq!(row("calendar.create_event")[1], "asks", "{t}");
    assert!(row("calendar.create_event")[2].len() > 5, "described: {t}");
    assert!(
        t.contains("cannot start the MCP server `gone` (`/nonexistent/mcp-server`)"),
        "{t}"
    );
}
