//! A 1,000-step run adds less than 10 MB of resident memory (in its own process, so other
//! tests do not disturb the measurement).

#[path = "support/engine.rs"]
mod harness;

use baton::store::RunState;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[test]
fn a_thousand_step_run_adds_less_than_ten_megabytes() {
    let h = harness::Harness::new();
    // Warm up: one small run, so one-time allocations (runtime, sled caches) are not counted.
    let (_, state) = h.run_to_end("name: warm\nsteps:\n  - id: a\n    transform: { expr: \"1\" }\n");
    assert_eq!(state, RunState::Succeeded);
    let mut yaml = String::from("name: big\nconcurrency: 8\nsteps:\n");
    for i in 0..1000 {
        let dep = if i >= 8 { format!("    depends_on: [s{}]\n", i - 8) } else { String::new() };
        yaml.push_str(&format!("  - id: s{i}\n    transform: {{ expr: \"{i} * 3\" }}\n{dep}"));
    }
    let before = rss_bytes();
    let (_, state) = h.run_to_end(&yaml);
    assert_eq!(state, RunState::Succeeded);
    let added = rss_bytes().saturating_sub(before);
    assert!(added < 10 * 1024 * 1024, "a 1,000-step run added {} KiB", added / 1024);
}
