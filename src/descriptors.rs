//! File descriptors (a leaf): the soft limit is raised to the hard one at start, and the engine runs at
//! most as many steps at once as the limit leaves descriptors for, saying so when that is fewer
//! than asked. Out of descriptors, sled can fail (and then hang) and steps cannot start.

/// Descriptors one running step may hold: its stdout and stderr pipes (both ends while it
/// starts), the child's pidfd, and, when it is started through std's `Command`, the pipe that
/// reports a failed exec.
pub const PER_STEP: u64 = 8;

/// Descriptors kept for everything else: the store (sled opens files as it goes), baton's own
/// log, the control socket and its clients, HTTP connections.
pub const RESERVED: u64 = 128;

/// The soft open-files limit in force, if it can be read.
pub fn open_files_limit() -> Option<u64> {
    // SAFETY: getrlimit writes into the struct we own.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim.rlim_cur)
}

/// Raises the soft open-files limit to the hard limit (the default soft limit, often 1024, is
/// a relic of `select`; baton uses none). Returns the soft limit now in force.
pub fn raise_open_files_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(lim.rlim_max);
        }
    }
    Some(lim.rlim_cur)
}

/// How many steps can run at once with `limit` descriptors (at least one).
pub fn step_budget(limit: u64) -> usize {
    (limit.saturating_sub(RESERVED) / PER_STEP).clamp(1, usize::MAX as u64) as usize
}

/// The engine's global step limit under the open-files limit, and the sentence saying why
/// when the limit lowers it.
pub fn cap_concurrency(wanted: usize, limit: Option<u64>) -> (usize, Option<String>) {
    let Some(limit) = limit else {
        return (wanted, None);
    };
    let budget = step_budget(limit);
    if budget >= wanted {
        return (wanted, None);
    }
    let why = format!(
        "at most {budget} steps run at once: the open-files limit is {limit} (about {PER_STEP} \
         per step); raise the hard limit (`ulimit -Hn`, `LimitNOFILE=`) to run more"
    );
    (budget, Some(why))
}

/// Whether an I/O error is running out of descriptors (this process's or the system's).
pub fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// What to do when out of descriptors.
pub const OUT_OF_DESCRIPTORS: &str = "too many open files: lower concurrency (`concurrency:` in \
     the workflow, `[engine] concurrency` in the config) or raise `ulimit -n`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_limit_follows_the_descriptors_left_and_says_so() {
        assert_eq!(cap_concurrency(256, None), (256, None));
        assert_eq!(cap_concurrency(256, Some(1 << 20)), (256, None));
        let (n, why) = cap_concurrency(256, Some(1024));
        assert_eq!(n, 112);
        assert!(why.unwrap().contains("open-files limit is 1024"));
        assert_eq!(cap_concurrency(256, Some(16)).0, 1);
        assert!(is_out_of_descriptors(&std::io::Error::from_raw_os_error(
            libc::EMFILE
        )));
    }
}
