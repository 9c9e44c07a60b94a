//! Steps on another host through the shared connection against plain `ssh HOST true` calls,
//! side by side in one run against a real sshd on 127.0.0.1 (`tests/support/sshd.rs`): 200
//! short remote steps (one at a time, then eight at a time) against 200 `ssh` calls made the
//! same way. Run with `cargo bench --bench ssh`; it prints the times and their ratios.

#[path = "../tests/support/engine.rs"]
mod harness;
#[path = "../tests/support/sshd.rs"]
mod sshd;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::engine::EngineConfig;
use baton::remote::{Ssh, SshSection};
use baton::store::RunState;

const STEPS: usize = 200;

fn main() {
    let sshd = sshd::Sshd::start();
    let hosts = indexmap::IndexMap::from([("h1".to_string(), sshd.fields())]);
    let defaults = SshSection {
        config_file: Some("/dev/null".into()),
        ..SshSection::default()
    };
    let h = harness::Harness::with(EngineConfig {
        ssh: Arc::new(Ssh::new(hosts, defaults, Some(sshd.dir.path()))),
        ..EngineConfig::default()
    });
    // Warm: the first step opens the shared connection.
    let (_, state) = h.run_to_end("name: warm\nsteps:\n  - { id: s, on: h1, run: 'true' }\n");
    assert_eq!(state, RunState::Succeeded);
    for at_once in [1, 8] {
        let steps = remote_steps(&h, at_once);
        let plain = plain_ssh(&sshd, at_once);
        println!(
            "{STEPS} short steps, {at_once} at a time: on: h1 (shared connection) {:>8.1} ms, \
             plain `ssh host true` {:>8.1} ms; plain / shared = {:.1}x",
            ms(steps),
            ms(plain),
            plain.as_secs_f64() / steps.as_secs_f64()
        );
    }
}

/// A run of `STEPS` independent `on: h1` steps, `at_once` at a time.
fn remote_steps(h: &harness::Harness, at_once: usize) -> Duration {
    let mut yaml = format!("name: bench\nconcurrency: {at_once}\nsteps:\n");
    for i in 0..STEPS {
        yaml.push_str(&format!("  - {{ id: s{i}, on: h1, run: 'true' }}\n"));
    }
    let began = Instant::now();
    let id = h.start(&yaml);
    // No time limit: on a loaded machine 200 steps one at a time can take minutes.
    let state = h.rt.block_on(h.engine.wait(&id));
    let took = began.elapsed();
    assert_eq!(state, Some(RunState::Succeeded));
    took
}

/// `STEPS` calls of `ssh HOST true`, each a connection of its own, `at_once` at a time.
fn plain_ssh(sshd: &sshd::Sshd, at_once: usize) -> Duration {
    let args = [
        "-F".to_string(),
        "/dev/null".into(),
        "-oBatchMode=yes".into(),
        "-oControlPath=none".into(),
        format!("-oUserKnownHostsFile={}", sshd.known_hosts().display()),
        format!("-oPort={}", sshd.port),
        format!("-oUser={}", sshd::user()),
        format!("-oIdentityFile={}", sshd.client_key().display()),
        "-oIdentitiesOnly=yes".into(),
        "127.0.0.1".into(),
        "true".into(),
    ];
    let began = Instant::now();
    for _ in 0..STEPS / at_once {
        let children: Vec<_> = (0..at_once)
            .map(|_| {
                Command::new("ssh")
                    .args(&args)
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("ssh")
            })
            .collect();
        for mut c in children {
            assert!(c.wait().expect("ssh").success(), "plain ssh failed");
        }
    }
    began.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
