//! `baton run --dry-run`: every step rendered as it would run, nothing executed, no store.

#[path = "support/bin.rs"]
mod bin;

use bin::{baton, text};

#[test]
fn a_dry_run_prints_every_rendered_step_and_executes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let marker = dir.path().join("side-effect");
    let wf = dir.path().join("w.yaml");
    std::fs::write(
        &wf,
        format!(
            r#"
name: demo
params:
  env: {{ default: staging }}
secrets: [DRY_RUN_TOKEN]
steps:
  - id: build
    run: echo building {{{{ params.env }}}} > {m}
  - id: ship
    depends_on: [build]
    http:
      method: POST
      url: https://example.com/deploy/{{{{ params.env }}}}
      headers: {{ X-Token: "{{{{ secrets.DRY_RUN_TOKEN }}}}" }}
      body: {{ version: "{{{{ steps.build.output.version }}}}" }}
  - id: prod-only
    when: params.env == "prod"
    run: touch {m}
  - id: review
    depends_on: [build]
    agent: reviewer
    prompt: Review {{{{ steps.build.stdout }}}}
    tools: [read_file]
"#,
            m = marker.display()
        ),
    )
    .unwrap();
    let out = baton(&data)
        .env("DRY_RUN_TOKEN", "tok-secret-4711")
        .args(["run", "--dry-run"])
        .arg(&wf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!("$ echo building staging > {}", marker.display())),
        "{said}"
    );
    assert!(
        said.contains("POST https://example.com/deploy/staging"),
        "{said}"
    );
    assert!(said.contains("X-Token: ***"), "{said}");
    assert!(!said.contains("tok-secret-4711"), "a secret shown: {said}");
    assert!(
        said.contains("\"version\": \"⟨steps.build.output.version⟩\""),
        "{said}"
    );
    assert!(
        said.contains("prod-only (run) — skipped: `when` is false: params.env == \"prod\""),
        "{said}"
    );
    assert!(said.contains("> Review ⟨steps.build.stdout⟩"), "{said}");
    assert!(said.contains("tools: read_file"), "{said}");
    // DAG order: build before what reads it.
    let at = |s: &str| said.find(s).unwrap_or_else(|| panic!("no {s} in {said}"));
    assert!(at(". build (run)") < at(". ship (http)"), "{said}");
    assert!(!marker.exists(), "a step ran");
    assert!(!data.exists(), "a store was created");
}
