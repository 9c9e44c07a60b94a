//! The layers of the code, checked from its source: the run state machine touches no I/O, the
//! spec knows no agent, and the leaves (`time`, `ids`) depend on nothing of ours.

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                out.push((path, text));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under src/{dir}");
    out
}

/// The lines of `text` that use `path` in code (comments left out).
fn uses<'t>(text: &'t str, path: &str) -> Vec<&'t str> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| l.contains(path))
        .collect()
}

#[test]
fn the_run_state_machine_touches_no_runtime_store_or_process() {
    for (path, text) in sources("engine/machine") {
        if path.ends_with("tests.rs") || path.components().any(|c| c.as_os_str() == "tests") {
            continue;
        }
        for banned in [
            "tokio",
            "sled",
            "std::process",
            "crate::store::Store",
            "std::fs",
        ] {
            let found = uses(&text, banned);
            assert!(
                found.is_empty(),
                "{} uses {banned}: {found:?}",
                path.display()
            );
        }
    }
}

#[test]
fn the_spec_knows_no_agent_and_the_leaves_depend_on_nothing_of_ours() {
    for (path, text) in sources("spec") {
        let found = uses(&text, "crate::agents");
        assert!(
            found.is_empty(),
            "{} uses crate::agents: {found:?}",
            path.display()
        );
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for leaf in ["time.rs", "ids.rs"] {
        let text = std::fs::read_to_string(src.join(leaf)).unwrap_or_default();
        let found = uses(&text, "crate::");
        assert!(found.is_empty(), "src/{leaf} uses {found:?}");
    }
}

#[test]
fn no_engine_file_is_over_600_lines() {
    for (path, text) in sources("engine") {
        let n = text.lines().count();
        assert!(n <= 600, "{} has {n} lines: split it", path.display());
    }
}
