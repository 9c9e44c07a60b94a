//! Process groups, the unit that pause, cancel and recovery act on: signalling one, telling
//! whether it still has members, and stopping the groups a dead owner left behind.
//!
//! A leaf: the store's recovery sweep and the shell executor both use it.

use std::time::{Duration, Instant};

use crate::time::Timestamp;

/// How far a process's start time may be from when its step recorded spawning it.
const START_SKEW_MS: u64 = 3_000;

/// Sends `signal` to every process of the group `pgid`.
pub fn signal_group(pgid: i32, signal: i32) -> bool {
    if pgid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-pgid, signal) == 0 }
}

/// Whether any process of the group is still alive.
pub fn group_alive(pgid: i32) -> bool {
    signal_group(pgid, 0)
}

/// When a process started, from `/proc` (None if it is gone or `/proc` is unreadable).
pub fn process_started_at(pid: u32) -> Option<Timestamp> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // Field 22 of stat is the start time in clock ticks since boot; `after` begins at field 3.
    let ticks: u64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Timestamp(btime * 1000 + ticks * 1000 / hz))
}

/// Whether the group a step recorded as `(pid, spawned_at)` is still that step's. With its
/// leader alive, the leader's start time must match (not a stranger that reused the number).
/// With the leader gone, any member left is ours: the kernel does not hand out a number as a
/// process id while a group of that id still has members.
fn still_ours(pid: u32, spawned_at: Timestamp) -> bool {
    match process_started_at(pid) {
        Some(started) => started.0.abs_diff(spawned_at.0) <= START_SKEW_MS,
        None => group_alive(pid as i32),
    }
}

/// Stops the process groups a dead owner left running: SIGTERM (after SIGCONT, in case one is
/// frozen), up to `grace` for them to end, then SIGKILL. Returns the groups it stopped.
pub fn stop_leftovers(groups: &[(u32, Timestamp)], grace: Duration) -> Vec<u32> {
    let ours: Vec<u32> = groups
        .iter()
        .filter(|(pid, at)| still_ours(*pid, *at))
        .map(|(pid, _)| *pid)
        .collect();
    for &pgid in &ours {
        signal_group(pgid as i32, libc::SIGCONT);
        signal_group(pgid as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && ours.iter().any(|&p| group_alive(p as i32)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pgid in &ours {
        signal_group(pgid as i32, libc::SIGKILL);
    }
    ours
}
