//! Logs under pressure, through the real binary: a flood costs about what is kept on disk, one
//! endless line keeps memory bounded, the per-step cap keeps the head and the tail and says what
//! it dropped, `logs --follow` follows through the owner, and `gc` gives the space back.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use bin::text;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A data dir, a config dir and a workflow file in a temporary directory.
struct Setup {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    wf: PathBuf,
}

fn setup(workflow: &str, config: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("config.toml"), config).unwrap();
    let wf = dir.path().join("wf.yaml");
    std::fs::write(&wf, workflow).unwrap();
    Setup {
        data: dir.path().join("data"),
        config: config_dir,
        wf,
        _dir: dir,
    }
}

impl Setup {
    fn baton(&self) -> Command {
        let mut c = bin::baton(&self.data);
        c.env("BATON_CONFIG_DIR", &self.config);
        c
    }

    fn run(&self) -> Output {
        let out = self
            .baton()
            .arg("run")
            .arg(&self.wf)
            .arg("-q")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        out
    }

    fn run_id(&self) -> String {
        let ls = self.baton().args(["ls", "--json"]).output().unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
        runs[0]["id"].as_str().unwrap().to_string()
    }

    /// The lines `baton logs RUN STEP` prints, without their stream mark.
    fn logs(&self, step: &str) -> Vec<String> {
        let out = self
            .baton()
            .args(["logs", &self.run_id(), step])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_once(' ').map_or("", |(_, t)| t).to_string())
            .collect()
    }

    fn store_bytes(&self) -> u64 {
        dir_size(&self.data.join("store"))
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// 40 MB of 100-byte lines from one step, with 8 MiB kept per step.
const FLOOD: &str =
    "name: flood\nsteps:\n  - id: flood\n    run: yes \"$(printf '%099d' 7)\" | head -c 40000000\n";

#[test]
fn a_log_flood_costs_at_most_one_and_a_half_times_what_is_kept() {
    let s = setup(FLOOD, "");
    s.run();
    let kept = s.logs("flood");
    let kept_bytes: u64 = kept.iter().map(|l| l.len() as u64 + 1).sum();
    // The head and the tail: about 16 MiB of the 40 MB printed, and a line about the rest.
    assert!(
        kept_bytes > 15 << 20 && kept_bytes < 17 << 20,
        "{kept_bytes}"
    );
    let on_disk = s.store_bytes();
    eprintln!(
        "flood: {kept_bytes} bytes kept, {on_disk} on disk ({:.2}x)",
        on_disk as f64 / kept_bytes as f64
    );
    assert!(
        on_disk * 2 <= kept_bytes * 3,
        "{on_disk} bytes on disk for {kept_bytes} bytes of log"
    );
}

#[test]
fn a_500_mb_line_without_a_newline_keeps_memory_bounded() {
    // The second step reads the high-water mark of the memory of its parent, baton.
    let s = setup(
        "name: nul\nsteps:\n  - id: nul\n    run: head -c 500000000 /dev/zero\n  - id: mem\n    run: grep VmHWM /proc/$PPID/status\n    depends_on: [nul]\n",
        "",
    );
    s.run();
    let mem = s.logs("mem");
    let kib: u64 = mem
        .iter()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {mem:?}"));
    eprintln!("500 MB line: baton's peak RSS {} MiB", kib / 1024);
    assert!(kib < 200 * 1024, "baton peaked at {kib} KiB");
    // The line is kept cut, saying how much was cut.
    let nul = s.logs("nul");
    assert_eq!(
        nul.len(),
        1,
        "{:?}",
        nul.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    assert!(
        nul[0].ends_with(&format!("… (+{} bytes cut)", 500_000_000 - 65536 + 48)),
        "{}",
        &nul[0][nul[0].len().saturating_sub(60)..]
    );
}

#[test]
fn a_step_over_its_cap_keeps_its_head_and_tail_and_says_what_was_dropped() {
    let s = setup(
        "name: capped\nsteps:\n  - id: count\n    run: seq 1 200000\n",
        "[logs]\nmax_bytes_per_step = \"256 KiB\"\n",
    );
    s.run();
    let lines = s.logs("count");
    let note = lines
        .iter()
        .position(|l| l.contains("dropped here"))
        .unwrap_or_else(|| panic!("no note among {} lines", lines.len()));
    let head: Vec<u64> = lines[..note].iter().map(|l| l.parse().unwrap()).collect();
    let tail: Vec<u64> = lines[note + 1..]
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    // The head from the first line, the tail to the last, each whole and in order.
    assert_eq!(head.first(), Some(&1));
    assert_eq!(tail.last(), Some(&200_000));
    assert!(head.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(tail.windows(2).all(|w| w[1] == w[0] + 1));
    let dropped: u64 = lines[note]
        .trim_start_matches("… ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", lines[note]));
    // What was dropped is exactly what is missing between them.
    assert_eq!(
        tail[0] - head[head.len() - 1] - 1,
        dropped,
        "{}",
        lines[note]
    );
    let kept: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(kept > 200 << 10 && kept < 300 << 10, "{kept}");
}

#[test]
fn logs_follow_through_the_owner_prints_what_is_stored_across_chunks_and_capped_steps() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let wait = format!("while [ ! -e '{}' ]; do sleep 0.05; done", go.display());
    // a and b flood at once, each past its cap; c starts when they end.
    let wf = format!(
        "name: follow\nsteps:\n  - id: hello\n    run: echo ready\n  - id: a\n    run: {wait}; seq -f 'a%g' 1 50000\n    depends_on: [hello]\n  - id: b\n    run: {wait}; seq -f 'b%g' 1 50000\n    depends_on: [hello]\n  - id: c\n    run: seq -f 'c%g' 1 40000\n    depends_on: [a, b]\n"
    );
    let s = setup(&wf, "[logs]\nmax_bytes_per_step = \"128 KiB\"\n");
    let mut owner = s
        .baton()
        .arg("run")
        .arg(&s.wf)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut id = None;
    harness::eventually(Duration::from_secs(20), "the run to be listed", || {
        let ls = s.baton().args(["ls", "--json"]).output().unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap_or_default();
        id = runs[0]["id"].as_str().map(str::to_string);
        id.is_some()
    });
    let mut follow = s
        .baton()
        .args(["logs", "--follow", id.as_deref().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.ends_with("ready\n"), "{first}");
    // The follower is following: now the floods start.
    std::fs::write(&go, "").unwrap();
    let followed: Vec<String> = out.lines().map(|l| l.unwrap()).collect();
    let status = follow.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut follow.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("(run succeeded)"), "{err}");
    assert_eq!(owner.wait().unwrap().code(), Some(0));
    // Followed through the owner: no live file in the store grows beside the log.
    assert!(!s.data.join("store").join("tail").exists());
    // Each step's lines as followed are its lines as stored: its head, the note, its tail.
    for step in ["a", "b", "c"] {
        let stored = s.logs(step);
        assert!(stored.iter().any(|l| l.contains("dropped here")), "{step}");
        let mine: Vec<&str> = followed
            .iter()
            .filter(|l| l.starts_with(&format!("{step} ")))
            .map(|l| l.split_once(' ').map_or("", |(_, t)| t).trim_start())
            .map(|l| l.split_once(' ').map_or("", |(_, t)| t))
            .collect();
        assert!(
            mine.iter().copied().eq(stored.iter().map(|l| l.as_str())),
            "step {step}: followed {} lines, stored {}",
            mine.len(),
            stored.len()
        );
    }
}

#[test]
fn gc_gives_back_the_space_of_the_logs_it_deletes() {
    let s = setup(FLOOD, "");
    s.run();
    let logs = s.data.join("store").join("logs");
    let (before, logs_before) = (s.store_bytes(), dir_size(&logs));
    let gc = s
        .baton()
        .args(["gc", "--older-than", "0s"])
        .output()
        .unwrap();
    assert!(gc.status.success(), "{}", text(&gc));
    assert!(text(&gc).contains("deleted 1 run"), "{}", text(&gc));
    let (after, logs_after) = (s.store_bytes(), dir_size(&logs));
    eprintln!("gc: {before} → {after} bytes on disk, of which logs {logs_before} → {logs_after}");
    // The run's log file goes whole; the database's own files may take a little for the
    // deletion itself (sled writes it before it reclaims anything).
    assert!(
        logs_after + (15 << 20) <= logs_before,
        "logs {logs_before} → {logs_after}: gc gave back less than the 16 MiB of log it deleted"
    );
    let (db_before, db_after) = (before - logs_before, after - logs_after);
    assert!(
        db_after <= db_before + (4 << 20),
        "the database grew from {db_before} to {db_after} bytes in a gc"
    );
}

#[test]
fn a_secret_cut_by_the_line_cap_is_masked_in_what_is_kept() {
    let key = "sk-proj-cutbythecap-4f9a2c7e1b";
    // The line is cut 65,488 bytes in (64 KiB less the room for the note): 18 bytes into the key.
    let s = setup(
        "name: cut\nsteps:\n  - id: cut\n    run: head -c 65470 /dev/zero | tr '\\0' a; printf %s \"$OPENAI_API_KEY\"; head -c 100 /dev/zero | tr '\\0' b; echo\n",
        "",
    );
    let out = s
        .baton()
        .env("OPENAI_API_KEY", key)
        .arg("run")
        .arg(&s.wf)
        .arg("-q")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let raw = s
        .baton()
        .args(["logs", "--raw", &s.run_id()])
        .output()
        .unwrap();
    let kept = String::from_utf8_lossy(&raw.stdout);
    assert!(kept.contains("bytes cut)"), "the line was cut");
    assert!(!kept.contains(&key[..12]), "{}", &kept[kept.len() - 80..]);
    for file in [s.data.join("store").join("logs")] {
        for entry in std::fs::read_dir(file).unwrap().flatten() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&key[..12]), "{}", entry.path().display());
        }
    }
}

/// How many times `baton run` of `s` opens a run's `logs/*.chunks` file (seen by strace).
fn log_file_opens(s: &Setup) -> usize {
    let trace = s.data.with_extension("strace");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=openat,open", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_baton"))
        .arg("--data-dir")
        .arg(&s.data)
        .args(["run", "-q"])
        .arg(&s.wf)
        .env("BATON_CONFIG_DIR", &s.config)
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .expect("strace runs (tests/run.sh installs it)");
    assert!(out.status.success(), "{}", text(&out));
    let calls = std::fs::read_to_string(&trace).unwrap();
    calls.lines().filter(|l| l.contains(".chunks\"")).count()
}

#[test]
fn a_runs_log_file_is_opened_once_for_all_its_chunks() {
    // Held open while the run writes: an append is one `write`, a sync needs no `open`.
    // Three steps of ~200 KB each (several chunks apiece), one after the other, and steps
    // that print nothing between them.
    let s = setup(
        "name: chunks\nsteps:\n  - id: a\n    run: seq 1 30000\n  - id: quiet\n    run: \"true\"\n    depends_on: [a]\n  - id: b\n    run: seq 1 30000\n    depends_on: [quiet]\n  - id: c\n    run: seq 1 30000\n    depends_on: [b]\n",
        "",
    );
    assert_eq!(log_file_opens(&s), 1);
    assert_eq!(s.logs("c").last().map(String::as_str), Some("30000"));
}
