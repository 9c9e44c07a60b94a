//! Threads whose work may wait a moment: they must not push a step's critical path aside.
//!
//! When a step ends, its driver writes the result and asks for a flush, then starts the next
//! step. The flush wakes the group-commit thread and sled's I/O pool (all seven of its threads
//! for each write, see `sled/src/threadpool.rs`). Under Linux's default policy a thread just
//! woken preempts the one running, so on a two-core machine those wake-ups took the core from
//! the engine thread about to spawn the next step, or from that step's child: a chain of
//! `run: "true"` steps made 37 context switches a step, and the child itself was preempted
//! about once a step (scheduler tracepoints, README "Performance"; 0.3 times since).
//!
//! `SCHED_BATCH` is the default policy without wake-up preemption: such a thread gets the same
//! share of the CPU over time, but waits for the running thread's slice instead of taking its
//! core at once. Any thread may choose it for itself (no privilege needed), and threads
//! inherit the policy of the thread that creates them, which is how sled's pool gets it: the
//! store is opened from a thread that is batch for as long as the open takes (see
//! [`while_opening`]). Durability is unchanged: a flush is as complete as before, it only
//! starts a few microseconds later when the engine is busy.
//!
//! The engine's own threads are background too (its runtime makes each one so as it starts,
//! `cli::common::runtime`): woken when a step's process closes its output, when it exits and
//! when it has exec'd, an engine thread used to take the core from that very process three
//! times a step, and on this machine the engine and the step share a core (session 20: 26 ms
//! on a 500-step chain, paired, 11 of 12 faster). But a process inherits its spawner's policy,
//! and every process baton starts must run as any other command would: so each takes the
//! default policy for itself before it runs its program (a step's process in
//! `steps/spawn.rs`, every other one through [`normal_child`]; [`for_children`] says which).

/// Makes the calling thread a background one (`SCHED_BATCH`); `false` where the system has
/// no such policy or refused.
pub fn this_thread() -> bool {
    set_policy(BATCH).is_some()
}

/// The policy a process started from the calling thread must take for itself before it
/// runs its program: the default one when this thread is background, else `-1` (it keeps
/// the thread's).
pub fn for_children() -> i32 {
    #[cfg(target_os = "linux")]
    {
        let before = MADE_BACKGROUND_FROM.load(std::sync::atomic::Ordering::Relaxed);
        if before >= 0 && policy() == Some(BATCH) {
            return before;
        }
    }
    -1
}

/// The policy baton's threads had before one was made background (`-1`: none was, or baton
/// was started background: then its processes are too, as its user asked).
static MADE_BACKGROUND_FROM: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Makes the process `command` starts take the default policy before it runs its program,
/// when the calling thread is background (else it changes nothing, and std keeps starting it
/// with `posix_spawn`).
pub fn normal_child(command: &mut std::process::Command) {
    let policy = for_children();
    if policy < 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the hook runs in the child between fork and exec and only makes a system
        // call: no allocation, no lock.
        unsafe {
            command.pre_exec(move || {
                if take_policy(policy) {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
}

/// The calling thread takes `policy` at static priority 0; async-signal-safe (the system
/// call itself: musl's `sched_setscheduler` refuses every call).
#[cfg(target_os = "linux")]
pub fn take_policy(policy: i32) -> bool {
    // SAFETY: the parameter struct is valid for the call; zeroed, as musl's has more fields
    // than glibc's, all unused by the normal policies.
    unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::syscall(libc::SYS_sched_setscheduler, 0, policy, &param) == 0
    }
}

/// Runs `f` with the calling thread background, then gives the thread its policy back:
/// threads `f` starts (sled's I/O pool, when `f` opens the store) stay background.
pub fn while_opening<T>(f: impl FnOnce() -> T) -> T {
    let before = set_policy(BATCH);
    let out = f();
    if let Some(before) = before
        && before != BATCH
    {
        set_policy(before);
    }
    out
}

#[cfg(target_os = "linux")]
const BATCH: i32 = libc::SCHED_BATCH;
#[cfg(not(target_os = "linux"))]
const BATCH: i32 = -1;

/// Sets the calling thread's policy (at static priority 0), returning the one it had.
#[cfg(target_os = "linux")]
fn set_policy(policy: i32) -> Option<i32> {
    let before = self::policy()?;
    // Only the normal policies: a thread made real-time by its user keeps what it has.
    if before != libc::SCHED_OTHER && before != libc::SCHED_BATCH {
        return None;
    }
    if !take_policy(policy) {
        return None;
    }
    if policy == BATCH && before != BATCH {
        MADE_BACKGROUND_FROM.store(before, std::sync::atomic::Ordering::Relaxed);
    }
    Some(before)
}

/// The calling thread's policy (the system call: musl's `sched_getscheduler` refuses every
/// call).
#[cfg(target_os = "linux")]
fn policy() -> Option<i32> {
    // SAFETY: a plain query of the calling thread.
    let policy = unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0) };
    (policy >= 0).then_some(policy as i32)
}

#[cfg(not(target_os = "linux"))]
fn set_policy(_policy: i32) -> Option<i32> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn policy_of(tid: i64) -> i32 {
        // SAFETY: a plain query of a thread of this process.
        unsafe { libc::sched_getscheduler(tid as libc::pid_t) }
    }

    fn tid() -> i64 {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::syscall(libc::SYS_gettid) }
    }

    /// The policy of a process started by `command` (field 41 of its stat line).
    fn policy_of_child(command: &mut std::process::Command) -> String {
        let out = command
            .args(["-c", "cut -d' ' -f41 /proc/$$/stat"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn a_process_started_from_a_background_thread_runs_with_the_policy_from_before() {
        std::thread::spawn(|| {
            assert_eq!(for_children(), -1, "this thread is not background yet");
            assert!(this_thread());
            assert_eq!(for_children(), libc::SCHED_OTHER);
            // Left alone, a child inherits the thread's policy; `normal_child` undoes it.
            assert_eq!(policy_of_child(&mut std::process::Command::new("sh")), "3");
            let mut command = std::process::Command::new("sh");
            normal_child(&mut command);
            assert_eq!(policy_of_child(&mut command), "0");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_started_while_opening_stays_background_and_the_opener_does_not() {
        std::thread::spawn(|| {
            // What the tests were started with (the default, unless a runner chose otherwise).
            let initial = policy_of(0);
            let child = while_opening(|| {
                assert_eq!(policy_of(0), libc::SCHED_BATCH);
                std::thread::spawn(|| policy_of(tid()))
            });
            assert_eq!(child.join().unwrap(), libc::SCHED_BATCH);
            assert_eq!(policy_of(0), initial);
            assert!(this_thread());
            assert_eq!(policy_of(0), libc::SCHED_BATCH);
        })
        .join()
        .unwrap();
    }
}
