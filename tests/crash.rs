//! Kill `baton run` with SIGKILL at random moments, resume each time: every step runs, and no
//! step recorded as completed before a kill ever runs again.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use bin::baton;
use harness::{PATIENCE, eventually, processes_mentioning};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn workflow(log: &Path) -> String {
    let mut yaml = String::from("name: crashy\nconcurrency: 3\nsteps:\n");
    for i in 0..16 {
        let deps = match i {
            0..=2 => String::new(),
            _ => {
                let (a, b) = ((i - 1) / 2, i - 3);
                if a == b {
                    format!("    depends_on: [s{a}]\n")
                } else {
                    format!("    depends_on: [s{a}, s{b}]\n")
                }
            }
        };
        yaml.push_str(&format!(
            "  - id: s{i}\n    run: echo s{i} >> {}; sleep 0.0{}\n{deps}",
            log.display(),
            (i * 7) % 9 + 1
        ));
    }
    yaml
}

/// Steps the store records as completed, via `baton show --json`.
fn completed(data: &Path, run: &str) -> BTreeSet<String> {
    let out = baton(data).args(["show", run, "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["record"]["status"] == "succeeded")
        .map(|s| s["record"]["step"].as_str().unwrap().to_string())
        .collect()
}

fn run_id(data: &Path) -> Option<String> {
    let out = baton(data).args(["ls", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.as_array()?.first()?["id"].as_str().map(str::to_string)
}

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn sigkill_at_random_moments_never_reruns_a_completed_step() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("ran.log");
    let wf = dir.path().join("crashy.yaml");
    std::fs::write(&wf, workflow(&log)).unwrap();

    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut run: Option<String> = None;
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..40 {
        let done = match &run {
            Some(id) => completed(&data, id),
            None => BTreeSet::new(),
        };
        let before = lines(&log).len();
        let mut cmd = baton(&data);
        match &run {
            None => cmd.arg("run").arg(&wf),
            Some(id) => cmd.arg("resume").arg(id),
        };
        let mut child = cmd
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + next() % 250));
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if !exited {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // The killed owner's step processes run on (the next open stops only the groups it
        // had recorded): wait until none is left to write to the log, so that every line
        // after `before` was written by this round's owner, not by an orphan of an earlier one.
        let tag = dir.path().to_string_lossy();
        eventually(PATIENCE, "the killed owner's step processes to end", || {
            processes_mentioning(&tag).is_empty()
        });
        for line in &lines(&log)[before..] {
            assert!(
                !done.contains(line),
                "step {line} was recorded as completed before the kill but ran again"
            );
        }
        if run.is_none() {
            run = run_id(&data);
        }
        if exited {
            finished = true;
            break;
        }
    }
    let id = run.expect("a run was created");
    if !finished {
        let status = baton(&data)
            .args(["resume", &id, "--quiet"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = baton(&data).args(["show", &id, "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["run"]["state"], "succeeded", "{v}");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for l in lines(&log) {
        *counts.entry(l).or_default() += 1;
    }
    for i in 0..16 {
        assert!(counts.contains_key(&format!("s{i}")), "step s{i} never ran");
    }
    assert!(kills > 0, "the test never killed baton");
}
