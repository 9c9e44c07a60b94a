//! `baton doctor` on real stores: a healthy one is reported healthy; one sled refuses makes
//! every command say what happened and to run `baton doctor`, which exports every run it had.

#[path = "support/bin.rs"]
mod bin;

use bin::text;
use std::path::{Path, PathBuf};
use std::process::Output;

fn baton(data: &Path, args: &[&str]) -> Output {
    bin::baton(data)
        .args(args)
        .env("BATON_CONFIG_DIR", data.join("config"))
        .output()
        .unwrap()
}

/// A data directory with three finished runs of a two-step workflow; their ids.
fn store_with_runs(dir: &Path) -> (PathBuf, Vec<String>) {
    let data = dir.join("data");
    let wf = dir.join("two.yaml");
    std::fs::write(
        &wf,
        "name: two\nsteps:\n  - id: a\n    run: echo a\n  - id: b\n    run: echo b\n    depends_on: [a]\n",
    )
    .unwrap();
    for _ in 0..3 {
        let out = baton(&data, &["run", wf.to_str().unwrap(), "-q"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    (data.clone(), run_ids(&data))
}

fn run_ids(data: &Path) -> Vec<String> {
    let out = baton(data, &["ls", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Flips a byte of sled's newest snapshot: complete, but not what was written (a kill never
/// does this; a disk can).
fn damage_the_snapshot(data: &Path) {
    let db = data.join("store").join("db");
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(&db)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snap.")
        })
        .collect();
    snaps.sort();
    let newest = snaps.pop().expect("sled wrote a snapshot");
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&newest, bytes).unwrap();
}

#[test]
fn doctor_finds_a_healthy_store_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = store_with_runs(dir.path());
    let out = baton(&data, &["doctor"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("3 run(s), 3 intact"), "{}", text(&out));
    assert!(text(&out).contains("healthy"), "{}", text(&out));
}

#[test]
fn a_store_that_does_not_open_names_doctor_which_exports_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let (data, ids) = store_with_runs(dir.path());
    damage_the_snapshot(&data);

    let ls = baton(&data, &["ls"]);
    assert_eq!(ls.status.code(), Some(2), "{}", text(&ls));
    let said = text(&ls);
    assert!(said.contains("cannot be opened"), "{said}");
    assert!(said.contains("doctor --export DIR"), "{said}");

    let check = baton(&data, &["doctor"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("3 run(s), 3 intact"),
        "{}",
        text(&check)
    );

    let new = dir.path().join("rescued");
    let export = baton(&data, &["doctor", "--export", new.to_str().unwrap()]);
    assert_eq!(export.status.code(), Some(1), "{}", text(&export));
    assert!(
        text(&export).contains("exported 3 run(s)"),
        "{}",
        text(&export)
    );
    assert!(text(&export).contains("mv "), "{}", text(&export));
    assert_eq!(run_ids(&new), ids);
    for id in &ids {
        let show = baton(&new, &["show", id, "--json"]);
        assert!(show.status.success(), "{}", text(&show));
        let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        let done: Vec<&str> = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["record"]["status"] == "succeeded")
            .map(|s| s["record"]["step"].as_str().unwrap())
            .collect();
        assert_eq!(done, ["a", "b"], "run {id}");
    }
    // The damaged store is left as it was, for whoever wants to look at it.
    assert_eq!(baton(&data, &["ls"]).status.code(), Some(2));
}

#[test]
fn doctor_refuses_to_export_into_a_store_that_holds_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = store_with_runs(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (full, _) = store_with_runs(other.path());
    let out = baton(&data, &["doctor", "--export", full.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("already holds runs"), "{}", text(&out));
}
