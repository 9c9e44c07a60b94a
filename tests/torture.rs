//! Kill -9 at random moments of every command that opens the store (`ls`, `show`, `run`,
//! `resume`, `gc`, `serve`), over and over: the store always opens again, every run seen
//! before a kill is still listed with every step it had recorded, and `gc` never leaves half a
//! run behind.
//!
//! The seed is printed when a test fails; `BATON_TORTURE_SEED=N` replays it, and
//! `BATON_TORTURE_KILLS=N` changes how many kills each test makes.

#[path = "support/bin.rs"]
mod bin;

#[path = "support/engine.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use baton::spec::StepId;
use baton::store::{
    EventKind, RunId, RunRecord, RunState, StepRecord, StepStatus, Store, Timestamp,
};

/// xorshift64: a reproducible sequence from the printed seed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("BATON_TORTURE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                (t.as_nanos() as u64) | 1
            });
        eprintln!("torture seed {seed} (replay with BATON_TORTURE_SEED={seed})");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn kills_wanted(default: usize) -> usize {
    std::env::var("BATON_TORTURE_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A data directory with a workflow, and what the test knows was recorded in it.
struct Bench {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    workflow: PathBuf,
    /// Every run seen so far, with the steps it had recorded as succeeded.
    known: BTreeMap<String, Seen>,
    kills: usize,
    opens: usize,
}

#[derive(Debug, Clone)]
struct Seen {
    state: RunState,
    succeeded: BTreeSet<String>,
    /// When it finished (or was created), in ms since the epoch: what `gc` goes by.
    finished: u64,
    /// A `gc` started while the run was finished, so it may be gone (whole, never in part).
    deletable: bool,
}

const STEPS: [&str; 3] = ["a", "b", "c"];

impl Bench {
    fn new() -> Bench {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let config = tmp.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        let workflow = tmp.path().join("three.yaml");
        std::fs::write(
            &workflow,
            "name: three\nsteps:\n  - id: a\n    run: echo a\n  - id: b\n    run: sleep 0.02; echo b\n    depends_on: [a]\n  - id: c\n    run: echo c\n    depends_on: [b]\n",
        )
        .unwrap();
        Bench {
            _tmp: tmp,
            data,
            config,
            workflow,
            known: BTreeMap::new(),
            kills: 0,
            opens: 0,
        }
    }

    fn baton(&self, args: &[&str]) -> Command {
        let mut c = bin::baton(&self.data);
        c.args(args)
            .env("BATON_CONFIG_DIR", &self.config)
            .env_remove("BATON_HOME")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Runs a command to its end; it must succeed.
    fn complete(&mut self, args: &[&str]) {
        let out = self.baton(args).output().unwrap();
        self.opens += 1;
        assert!(
            out.status.success(),
            "`baton {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts a command and SIGKILLs it after `delay`, unless it ended first; then a command
    /// that ended on its own must have succeeded (`ok` decides for exit codes).
    fn kill_after(&mut self, args: &[&str], delay: Duration, ok: impl Fn(i32) -> bool) -> bool {
        let mut child: Child = self.baton(args).spawn().unwrap();
        self.opens += 1;
        match exited_within(&mut child, delay) {
            Some(status) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                assert!(
                    status.code().is_some_and(&ok),
                    "`baton {}` ended with {status}: {err}",
                    args.join(" ")
                );
                true
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                self.kills += 1;
                false
            }
        }
    }

    /// Opens the store in this process and checks every known run against it, then learns
    /// the runs and steps recorded since.
    fn check(&mut self, context: &str) {
        self.check_then(context, |_| None);
    }

    /// [`Bench::check`], then `then` may record something in the same open (and say what).
    fn check_then(&mut self, context: &str, then: impl FnOnce(&Store) -> Option<(String, Seen)>) {
        let store = open_when_free(&self.data.join("store"), context);
        let runs = store
            .runs()
            .unwrap_or_else(|e| panic!("{context}: cannot list runs: {e:#}"));
        let listed: BTreeMap<String, _> = runs.into_iter().map(|r| (r.id.0.clone(), r)).collect();
        for (id, seen) in &self.known {
            if !listed.contains_key(id) && !seen.deletable {
                panic!(
                    "{context}: run {id} is no longer listed (it had {:?}); {} runs listed",
                    seen.succeeded,
                    listed.len()
                );
            }
        }
        let mut next = BTreeMap::new();
        for (id, run) in listed {
            let table = store
                .replay(&RunId(id.clone()))
                .unwrap_or_else(|e| panic!("{context}: run {id}: journal unreadable: {e:#}"));
            let succeeded: BTreeSet<String> = table
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Succeeded)
                .map(|s| s.step.0.clone())
                .collect();
            if let Some(before) = self.known.get(&id) {
                let lost: Vec<_> = before.succeeded.difference(&succeeded).collect();
                assert!(
                    lost.is_empty(),
                    "{context}: run {id} lost its recorded steps {lost:?} (half deleted?)"
                );
            }
            if run.state == RunState::Succeeded {
                assert_eq!(succeeded.len(), STEPS.len(), "{context}: run {id}");
            }
            let deletable = self.known.get(&id).is_some_and(|s| s.deletable);
            next.insert(
                id,
                Seen {
                    state: run.state,
                    finished: run.finished_at.unwrap_or(run.created_at).0,
                    succeeded,
                    deletable,
                },
            );
        }
        self.known = next;
        if let Some((id, seen)) = then(&store) {
            self.known.insert(id, seen);
        }
    }

    fn finished(&self) -> Vec<String> {
        self.known
            .iter()
            .filter(|(_, s)| s.state.is_terminal())
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn interrupted(&self) -> Vec<String> {
        self.known
            .iter()
            .filter(|(_, s)| s.state == RunState::Interrupted)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// The store, opened here once the last killed process's lock is gone. An open that fails
/// for any other reason is the failure this test looks for.
fn open_when_free(dir: &Path, context: &str) -> Store {
    let mut opened = None;
    harness::eventually(
        Duration::from_secs(10),
        &format!("{context}: the store to be unlocked"),
        || match Store::open(dir) {
            Ok(store) => {
                opened = Some(store);
                true
            }
            Err(e) if e.downcast_ref::<baton::store::StoreInUse>().is_some() => false,
            Err(e) => panic!("{context}: the store does not open: {e:#}"),
        },
    );
    opened.expect("eventually returned, so the store is open")
}

fn pick<'a>(rng: &mut Rng, items: &'a [String]) -> Option<&'a String> {
    if items.is_empty() {
        return None;
    }
    items.get(rng.below(items.len() as u64) as usize)
}

/// How long a kind of command lives, learnt as the test goes: shortened a little each time
/// one ends before its kill, lengthened a little each time one is killed, so that about three
/// kills in four land while the command is still at work, whatever the machine's speed.
struct Life(Duration);

impl Life {
    fn delay(&self, rng: &mut Rng) -> Duration {
        Duration::from_micros(rng.below(self.0.as_micros() as u64))
    }

    fn learn(&mut self, killed: bool) {
        self.0 = if killed {
            self.0 * 103 / 100
        } else {
            self.0 * 90 / 100
        };
    }
}

/// The lives of the readers (`ls`, `show`, `gc`, `serve`) and of the runners (`run`, `resume`).
struct Lives {
    reader: Life,
    run: Life,
}

/// The age `gc` is given in the mixed test: runs it may delete finished well before the
/// command started, so the store keeps a window of recent runs that must all stay listed.
const GC_AGE: &str = "20s";
const GC_MAY_DELETE_BEFORE: Duration = Duration::from_secs(10);

/// One command of the mixed test, killed at a random moment of its life.
fn one_command(bench: &mut Bench, rng: &mut Rng, lives: &mut Lives) -> String {
    let wf = bench.workflow.display().to_string();
    let interrupted = bench.interrupted();
    let finished = bench.finished();
    let ok: fn(i32) -> bool = |c| c == 0;
    let (args, runner): (Vec<String>, bool) = match rng.below(100) {
        0..=24 => (vec!["ls".into(), "--json".into()], false),
        25..=39 => match pick(rng, &finished).or(pick(rng, &interrupted)) {
            Some(id) => (vec!["show".into(), id.clone(), "--json".into()], false),
            None => (vec!["ls".into()], false),
        },
        40..=59 => (vec!["run".into(), wf, "-q".into()], true),
        60..=74 => match pick(rng, &interrupted) {
            Some(id) => (vec!["resume".into(), id.clone(), "-q".into()], true),
            None => (vec!["run".into(), wf, "-q".into()], true),
        },
        75..=86 => {
            let before = Timestamp::now().0 - GC_MAY_DELETE_BEFORE.as_millis() as u64;
            for seen in bench.known.values_mut() {
                seen.deletable |= seen.state.is_terminal() && seen.finished < before;
            }
            let args = vec!["gc".into(), "--older-than".into(), GC_AGE.into()];
            (args, false)
        }
        // `serve` runs until stopped: it is always killed (within twice a reader's life).
        _ => (vec!["serve".into()], false),
    };
    let serve = args[0] == "serve";
    let life = if runner {
        &mut lives.run
    } else {
        &mut lives.reader
    };
    let delay = life.delay(rng) * if serve { 2 } else { 1 };
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let ok = if serve { |_| false } else { ok };
    let ended = bench.kill_after(&argv, delay, ok);
    if !serve {
        life.learn(!ended);
    }
    format!(
        "`baton {}` {} after {delay:?}",
        args.join(" "),
        if ended { "ended" } else { "killed" }
    )
}

fn report(name: &str, bench: &Bench, start: Instant) {
    eprintln!(
        "{name}: {} kills in {} commands, {:.1}s, {} runs in the store",
        bench.kills,
        bench.opens,
        start.elapsed().as_secs_f64(),
        bench.known.len()
    );
}

#[test]
fn kill_nine_at_any_moment_of_any_command_loses_no_run_and_no_step() {
    let mut rng = Rng::new();
    let start = Instant::now();
    let mut bench = Bench::new();
    let wf = bench.workflow.display().to_string();
    bench.complete(&["run", &wf, "-q"]);
    let mut lives = Lives {
        run: Life(Duration::from_millis(300)),
        reader: Life(Duration::from_millis(100)),
    };
    bench.check("after the first run");
    let wanted = kills_wanted(200);
    let mut i = 0;
    while bench.kills < wanted {
        i += 1;
        let what = one_command(&mut bench, &mut rng, &mut lives);
        bench.check(&format!("after command {i}, {what}"));
    }
    report("mixed commands", &bench, start);
}

#[test]
fn kill_nine_while_readers_open_the_store_never_bricks_it() {
    let mut rng = Rng::new();
    let start = Instant::now();
    let mut bench = Bench::new();
    let wf = bench.workflow.display().to_string();
    for _ in 0..3 {
        bench.complete(&["run", &wf, "-q"]);
    }
    bench.check("after three runs");
    let ids: Vec<String> = bench.known.keys().cloned().collect();
    let mut life = Life(Duration::from_millis(100));
    let wanted = kills_wanted(650);
    let mut i = 0;
    while bench.kills < wanted {
        i += 1;
        let id = &ids[rng.below(ids.len() as u64) as usize];
        let args: &[&str] = if rng.below(2) == 0 {
            &["ls", "--json"]
        } else {
            &["show", id, "--json"]
        };
        let delay = life.delay(&mut rng);
        let killed = !bench.kill_after(args, delay, |c| c == 0);
        life.learn(killed);
        // A recorded run now and then: the next reader's open then writes a snapshot.
        if i % 4 == 0 {
            let context = format!("after reader {i} (`baton {}`)", args.join(" "));
            bench.check_then(&context, |s| record_a_run(s, i));
        }
    }
    bench.check("at the end");
    report("readers", &bench, start);
}

/// Records a finished run of three succeeded steps, as the engine would, so the log has grown
/// past sled's last snapshot and the next open writes a new one.
fn record_a_run(store: &Store, n: usize) -> Option<(String, Seen)> {
    let id = RunId(format!("r-recorded-{n:05}"));
    let now = Timestamp::now();
    let run = RunRecord {
        id: id.clone(),
        workflow: "three".into(),
        workflow_path: None,
        source: String::new(),
        params: Default::default(),
        workdir: None,
        state: RunState::Succeeded,
        created_at: now,
        started_at: Some(now),
        finished_at: Some(now),
        owner: None,
        reason: None,
        steps_total: STEPS.len() as u32,
        steps_done: STEPS.len() as u32,
        stopped: Default::default(),
        parent: None,
    };
    store.put_run(&run).unwrap();
    let events = STEPS
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mut record = StepRecord::pending(StepId(step.to_string()), i as u32);
            record.status = StepStatus::Succeeded;
            EventKind::Step {
                record: Box::new(record),
            }
        })
        .collect();
    store.append(&id, events, &[]).unwrap();
    store.flush_blocking().unwrap();
    let seen = Seen {
        state: RunState::Succeeded,
        finished: now.0,
        succeeded: STEPS.iter().map(|s| s.to_string()).collect(),
        deletable: false,
    };
    Some((id.0, seen))
}

/// The calls that change files, and how many of each a command's open makes at most.
const KILL_POINTS: [(&str, u16); 7] = [
    ("openat", 24),
    ("write", 12),
    ("pwrite64", 6),
    ("fsync", 8),
    ("rename", 2),
    ("unlink", 2),
    ("ftruncate", 2),
];

/// Waits until `child` exits or `delay` passes, whichever comes first (its pidfd becomes
/// readable when it exits), and returns its status if it exited.
fn exited_within(child: &mut Child, delay: Duration) -> Option<std::process::ExitStatus> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let mut poll = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = libc::timespec {
        tv_sec: delay.as_secs() as libc::time_t,
        tv_nsec: delay.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask; the descriptor is ours.
    unsafe {
        libc::ppoll(&mut poll, 1, &timeout, std::ptr::null());
        libc::close(pidfd);
    }
    child.try_wait().unwrap()
}

/// `strace`, which can kill a process exactly when it makes its n-th call of a kind.
fn strace() -> Option<PathBuf> {
    let found = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then(|| PathBuf::from("strace"))
}

/// Runs `baton ARGS` under strace, SIGKILLed on entering its `n`-th `call` (in any thread);
/// whether it was killed. One that ends first must have succeeded.
fn kill_at_call(bench: &mut Bench, strace: &Path, args: &[&str], call: &str, n: u16) -> bool {
    let inner = bench.baton(args);
    let mut cmd = Command::new(strace);
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={call}"))
        .arg("-e")
        .arg(format!("inject={call}:signal=KILL:when={n}"))
        .arg("--")
        .arg(inner.get_program())
        .args(inner.get_args())
        .env("BATON_CONFIG_DIR", &bench.config)
        .env_remove("BATON_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    bench.opens += 1;
    use std::os::unix::process::ExitStatusExt;
    if out.status.signal() == Some(libc_sigkill()) {
        bench.kills += 1;
        return true;
    }
    assert!(
        out.status.success(),
        "`baton {}` (to be killed at {call} #{n}) ended with {}: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

fn libc_sigkill() -> i32 {
    9
}

#[test]
fn kill_nine_at_each_file_call_of_every_command_never_bricks_the_store() {
    let Some(strace) = strace() else {
        panic!(
            "strace is not installed: run the tests with `tests/run.sh` (it installs it), or \
             `apt-get install strace`"
        );
    };
    let start = Instant::now();
    let mut bench = Bench::new();
    let wf = bench.workflow.display().to_string();
    bench.complete(&["run", &wf, "-q"]);
    bench.check_then("before the first kill", |s| record_a_run(s, 0));
    let mut round = 0;
    for (call, most) in KILL_POINTS {
        for n in 1..=most {
            for command in ["ls", "show", "run", "gc"] {
                round += 1;
                let shown = bench.known.keys().next().cloned().unwrap_or_default();
                let args: Vec<&str> = match command {
                    "ls" => vec!["ls", "--json"],
                    "show" => vec!["show", &shown, "--json"],
                    "run" => vec!["run", &wf, "-q"],
                    _ => {
                        for seen in bench.known.values_mut() {
                            seen.deletable |= seen.state.is_terminal();
                        }
                        vec!["gc", "--older-than", "0"]
                    }
                };
                let killed = kill_at_call(&mut bench, &strace, &args, call, n);
                if !killed && command == "gc" {
                    bench.known.retain(|_, s| !s.deletable);
                }
                let context = format!(
                    "after `baton {}` {} at its {call} #{n}",
                    args.join(" "),
                    if killed { "killed" } else { "not killed" }
                );
                // Then a run recorded here, so the next command's open writes a snapshot.
                bench.check_then(&context, |s| record_a_run(s, round));
            }
        }
    }
    report("syscall-exact", &bench, start);
}
