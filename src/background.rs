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
//! Only threads that never start a step's process may be background: a process inherits its
//! spawner's policy, and a step's commands must run as any other command would. Steps are
//! spawned by the engine's workers, which keep the default policy; so does the thread that
//! follows a run, whose helper threads (tokio's blocking pool, started from whoever asks
//! first) run engine work too.

/// Makes the calling thread a background one (`SCHED_BATCH`); `false` where the system has
/// no such policy or refused.
pub fn this_thread() -> bool {
    set_policy(BATCH).is_some()
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
    // SAFETY: both calls take the calling thread (0) and a valid parameter struct.
    unsafe {
        let before = libc::sched_getscheduler(0);
        if before < 0 {
            return None;
        }
        // Only the normal policies: a thread made real-time by its user keeps what it has.
        if before != libc::SCHED_OTHER && before != libc::SCHED_BATCH {
            return None;
        }
        // Zeroed: musl's struct has more fields than glibc's, all unused by these policies.
        let mut param: libc::sched_param = std::mem::zeroed();
        param.sched_priority = 0;
        (libc::sched_setscheduler(0, policy, &param) == 0).then_some(before)
    }
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
