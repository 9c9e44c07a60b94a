//! A 1,000-step run adds less than 10 MB of resident memory (in its own process, so other
//! tests do not disturb the measurement).

#[path = "support/engine.rs"]
mod harness;

use baton::store::RunState;

/// Resident memory after handing freed heap back to the system (so allocator slack from
/// transient peaks, like parsing, is not counted as memory the run keeps).
fn rss_bytes() -> u64 {
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[test]
fn a_thousand_step_run_adds_less_than_ten_megabytes() {
    let h = harness::Harness::new();
    let workflow = |name: &str, n: usize| {
        let mut yaml = format!("name: {name}\nconcurrency: 8\nsteps:\n");
        for i in 0..n {
            let dep = if i >= 8 {
                format!("    depends_on: [s{}]\n", i - 8)
            } else {
                String::new()
            };
            yaml.push_str(&format!(
                "  - id: s{i}\n    transform: {{ expr: \"{i} * 3\" }}\n{dep}"
            ));
        }
        yaml
    };
    // Warm up with a small run, so one-time growth (runtime threads, the store's first
    // segments) is not counted against the big one.
    let (_, state) = h.run_to_end(&workflow("warm", 50));
    assert_eq!(state, RunState::Succeeded);
    let yaml = workflow("big", 1000);
    let before = rss_bytes();
    let (_, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    let added = rss_bytes().saturating_sub(before);
    eprintln!(
        "a 1,000-step run added {} KiB of resident memory",
        added / 1024
    );
    assert!(
        added < 10 * 1024 * 1024,
        "a 1,000-step run added {} KiB",
        added / 1024
    );
}
