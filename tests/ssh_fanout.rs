//! A fan-out over hosts (`for_each` with `on: "{{ item }}"`), two real sshds on 127.0.0.1
//! standing in for two hosts (`support/sshd.rs`), driven through the `baton` binary: after a
//! `kill -9` of the owner a resume runs no completed item twice, and what the dead owner's
//! items left running on a host (a grandchild ignoring SIGTERM included) is stopped by the
//! resume, or by `cancel` of the interrupted run when the host was out of reach at the sweep.

#[path = "support/bin.rs"]
mod bin;
#[path = "support/engine.rs"]
mod harness;
#[path = "support/sshd.rs"]
mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use harness::{PATIENCE, alive, eventually, processes_mentioning, read_pid};
use sshd::Sshd;

/// A data dir and a config dir whose config file names `h1` and `h2`.
struct Fleet {
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new(h1: &Sshd, h2: &Sshd) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("config.toml"),
            format!(
                "[engine]\ngrace = \"300ms\"\n\n[ssh]\nconfig_file = \"/dev/null\"\n\n{}\n{}",
                h1.toml("h1"),
                h2.toml("h2")
            ),
        )
        .unwrap();
        Fleet { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn baton(&self) -> Command {
        let mut cmd = bin::baton(&self.path("data"));
        cmd.env("BATON_CONFIG_DIR", self.path("config"));
        cmd
    }

    fn workflow(&self, text: &str) -> PathBuf {
        let wf = self.path("fleet.yaml");
        std::fs::write(&wf, text).unwrap();
        wf
    }

    /// `baton run --json WF`, returned once an event `durable` accepts is out.
    fn run_until(&self, wf: &Path, durable: impl Fn(&str) -> bool + Send + 'static) -> Child {
        let mut run = self.baton();
        run.args(["run", "--json"]).arg(wf);
        bin::wait_until_an_event(run, durable)
    }

    /// The one run in the store.
    fn run_id(&self) -> String {
        let ls = self.baton().args(["ls", "--json"]).output().unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
        runs[0]["id"].as_str().unwrap().to_string()
    }

    /// Kills the owner as a crash of its machine would: the hosts hear nothing of it (their
    /// connections frozen first), and its shared connections are gone with it.
    fn crash(&self, owner: &mut Child, hosts: &mut [&mut Sshd]) {
        for host in hosts.iter_mut() {
            host.freeze_connections();
        }
        owner.kill().unwrap();
        owner.wait().unwrap();
        for master in processes_mentioning(&format!("{}/ssh/", self.path("data").display())) {
            // SAFETY: kill(2) on the dead owner's ssh master.
            unsafe { libc::kill(master, libc::SIGKILL) };
        }
    }
}

fn lines(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Six items over two hosts, two at a time; the owner is killed while items 2 and 3 run and
/// 0 and 1 have completed. The resume runs the rest, and no completed item again.
#[test]
fn after_a_kill_during_a_fan_out_over_hosts_a_resume_runs_no_completed_item_twice() {
    let (h1, h2) = (Sshd::start(), Sshd::start());
    let fleet = Fleet::new(&h1, &h2);
    let d = fleet.dir.path().display().to_string();
    let wf = fleet.workflow(&format!(
        r#"
name: fleet
steps:
  - id: deploy
    for_each: [h1, h2, h1, h2, h1, h2]
    max_parallel: 2
    on: "{{{{ item }}}}"
    run: |
      echo {{{{ item_index }}}} >> {d}/ran
      if [ {{{{ item_index }}}} -ge 2 ] && [ ! -f {d}/release ]; then
        touch {d}/started-{{{{ item_index }}}}
        while [ ! -f {d}/never ]; do sleep 0.05; done
      fi
      echo {{{{ item_index }}}} >> {d}/done
      echo {{{{ item_index }}}} on $SSH_CONNECTION
"#
    ));
    // Events go out once durable: this one has items 0 and 1 stored as succeeded.
    let mut owner = fleet.run_until(&wf, |l| {
        l.contains("\"type\":\"step\"") && l.matches("\"status\":\"succeeded\"").count() >= 2
    });
    eventually(PATIENCE, "items 2 and 3 to run on their hosts", || {
        fleet.path("started-2").exists() && fleet.path("started-3").exists()
    });
    owner.kill().unwrap();
    owner.wait().unwrap();
    std::fs::write(fleet.path("release"), "").unwrap();

    let id = fleet.run_id();
    let out = fleet.baton().args(["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    // Each item completed once; 0 and 1 (completed before the kill) ran once; 2 and 3
    // (running at the kill) ran again, without blocking now.
    assert_eq!(lines(&fleet.path("done")), ["0", "1", "2", "3", "4", "5"]);
    assert_eq!(
        lines(&fleet.path("ran")),
        ["0", "1", "2", "2", "3", "3", "4", "5"]
    );
    assert_eq!(
        processes_mentioning(&format!("{d}/never")),
        [0; 0],
        "nothing of the first attempts runs on"
    );
    let show = fleet
        .baton()
        .args(["show", "--json", &id])
        .output()
        .unwrap();
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(show["run"]["state"], "succeeded", "{show:#}");
    // Each item ran on its own host: the odd ones on h2's port.
    let output = fleet
        .baton()
        .args(["logs", &id, "deploy[3]"])
        .output()
        .unwrap();
    let output = bin::text(&output);
    assert!(
        output
            .lines()
            .any(|l| l.contains("3 on 127.0.0.1 ")
                && l.ends_with(&format!(" 127.0.0.1 {}", h2.port))),
        "{output}"
    );
}

/// A fan-out over `h1` and `h2` whose items each leave a grandchild ignoring SIGTERM on their
/// host, and print `again` when run a second time. Returns the owner once both items' remote
/// groups are stored.
fn stubborn_fan_out(fleet: &Fleet) -> Child {
    let d = fleet.dir.path().display().to_string();
    let wf = fleet.workflow(&format!(
        r#"
name: stubborn
steps:
  - id: fan
    for_each: [h1, h2]
    on: "{{{{ item }}}}"
    run: |
      if [ -e {d}/again-{{{{ item_index }}}} ]; then echo again; exit 0; fi
      touch {d}/again-{{{{ item_index }}}}
      sh -c 'trap "" TERM; sleep 300' &
      echo $! > {d}/pid-{{{{ item_index }}}}
      wait
"#
    ));
    fleet.run_until(&wf, |l| {
        l.contains("\"type\":\"step\"") && l.matches("\"remote\":{").count() >= 2
    })
}

#[test]
fn resume_stops_what_a_dead_owners_items_left_on_their_hosts_grandchildren_included() {
    let (mut h1, mut h2) = (Sshd::start(), Sshd::start());
    let fleet = Fleet::new(&h1, &h2);
    let mut owner = stubborn_fan_out(&fleet);
    let children = [0, 1].map(|i| read_pid(&fleet.path(&format!("pid-{i}"))));
    fleet.crash(&mut owner, &mut [&mut h1, &mut h2]);
    assert!(
        children.iter().all(|&c| alive(c)),
        "the items' grandchildren run on, unseen, on their hosts"
    );

    let id = fleet.run_id();
    let out = fleet.baton().args(["resume", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    for child in children {
        assert!(!alive(child), "the dead owner's item group is gone");
    }
    for item in ["fan[0]", "fan[1]"] {
        let logs = fleet.baton().args(["logs", &id, item]).output().unwrap();
        assert!(bin::text(&logs).contains("again"), "{}", bin::text(&logs));
    }
}

#[test]
fn cancel_of_an_interrupted_run_stops_what_a_host_out_of_reach_at_the_sweep_kept() {
    let (mut h1, mut h2) = (Sshd::start(), Sshd::start());
    let fleet = Fleet::new(&h1, &h2);
    let mut owner = stubborn_fan_out(&fleet);
    let children = [0, 1].map(|i| read_pid(&fleet.path(&format!("pid-{i}"))));
    fleet.crash(&mut owner, &mut [&mut h1, &mut h2]);
    h1.stop_listening();

    // The next open finds the run interrupted and stops what it can reach: h2's item.
    let id = fleet.run_id();
    assert!(alive(children[0]), "h1 was out of reach");
    assert!(!alive(children[1]), "the sweep stopped h2's item group");

    h1.listen_again();
    let out = fleet.baton().args(["cancel", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", bin::text(&out));
    assert!(!alive(children[0]), "cancel stopped h1's item group");
    let show = fleet
        .baton()
        .args(["show", "--json", &id])
        .output()
        .unwrap();
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(show["run"]["state"], "cancelled", "{show:#}");
    let items = &show["steps"][0]["record"]["items"];
    assert_eq!(items[0]["status"], "cancelled", "{show:#}");
    assert!(items[0].get("remote").is_none(), "{show:#}");
}
