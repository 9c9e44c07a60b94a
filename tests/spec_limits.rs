//! `baton validate` on hostile and broken files: an alias bomb stops with a clear error in bounded
//! memory; bytes that are not UTF-8 and empty files are reported at file:line:col; unsafe value
//! places are errors and every `| raw` is listed.

#[path = "support/bin.rs"]
mod bin;

use bin::text;
use std::path::Path;
use std::process::Output;

fn baton(args: &[&str], data: &Path) -> Output {
    bin::baton(data).args(args).output().expect("baton runs")
}

/// The largest resident set of any child this process has waited for, in KiB.
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0);
    usage.ru_maxrss
}

#[test]
fn an_alias_bomb_of_long_strings_stops_with_an_error_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bomb.yaml");
    // 1 MB: half a long string, half aliases to it (125,000 copies = 62 GB if expanded).
    let mut yaml = format!(
        "name: bomb\nsteps:\n  - id: a\n    run: &s \"{}\"\nlist: [",
        "x".repeat(500_000)
    );
    yaml.push_str(&vec!["*s"; 125_000].join(", "));
    yaml.push_str("]\n");
    std::fs::write(&file, yaml).unwrap();
    let out = baton(&["validate", file.to_str().unwrap()], dir.path());
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("aliases (`*name`) copy more than 64 MiB of text"),
        "{shown}"
    );
    assert!(shown.contains("bomb.yaml:5:"), "{shown}");
    let rss = children_max_rss_kib();
    assert!(rss < 512 * 1024, "validate used {rss} KiB");
}

#[test]
fn a_file_that_is_not_utf8_is_reported_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.yaml");
    std::fs::write(
        &file,
        b"name: x\nsteps:\n  - id: a\n    run: echo caf\xe9\n",
    )
    .unwrap();
    for args in [
        vec!["validate", file.to_str().unwrap()],
        vec!["run", file.to_str().unwrap()],
    ] {
        let out = baton(&args, dir.path());
        let shown = text(&out);
        assert_ne!(out.status.code(), Some(0), "{shown}");
        assert!(shown.contains("latin1.yaml:4:18"), "{args:?}: {shown}");
        assert!(shown.contains("not UTF-8"), "{args:?}: {shown}");
    }
}

#[test]
fn an_empty_file_is_reported_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.yaml");
    std::fs::write(&file, "").unwrap();
    for args in [
        vec!["validate", file.to_str().unwrap()],
        vec!["run", file.to_str().unwrap()],
    ] {
        let out = baton(&args, dir.path());
        let shown = text(&out);
        assert_ne!(out.status.code(), Some(0), "{shown}");
        assert!(shown.contains("empty.yaml:1:1"), "{args:?}: {shown}");
        assert!(shown.contains("the file is empty"), "{args:?}: {shown}");
    }
}

#[test]
fn validate_lists_every_raw_and_refuses_values_that_cannot_be_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("raw.yaml");
    std::fs::write(
        &ok,
        "name: raw\nparams:\n  flags: { default: -l }\nsteps:\n  - id: ls\n    run: ls {{ params.flags | raw }} \"{{ params.flags }}\"\n",
    )
    .unwrap();
    let out = baton(&["validate", ok.to_str().unwrap()], dir.path());
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("note: `{{ params.flags | raw }}` in `run` of step `ls`"),
        "{shown}"
    );
    assert!(shown.contains("raw.yaml:6:13"), "{shown}");
    assert_eq!(shown.matches("note:").count(), 1, "{shown}");

    let bad = dir.path().join("unsafe.yaml");
    std::fs::write(
        &bad,
        "name: unsafe\nparams:\n  v: { default: x }\nsteps:\n  - id: a\n    run: |\n      echo \"${HOME:-{{ params.v }}}\"\n      echo $'{{ params.v }}'\n",
    )
    .unwrap();
    let out = baton(&["validate", bad.to_str().unwrap()], dir.path());
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("unsafe.yaml:7:21"), "{shown}");
    assert!(
        shown.contains("cannot be quoted safely inside `${…}`"),
        "{shown}"
    );
    assert!(shown.contains("unsafe.yaml:8:14"), "{shown}");
    assert!(shown.contains("inside `$'…'`"), "{shown}");
}

#[test]
fn reading_a_transforms_stdout_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.yaml");
    std::fs::write(
        &file,
        "name: t\nsteps:\n  - id: t\n    transform: hello\n  - id: u\n    depends_on: [t]\n    run: echo {{ steps.t.stdout }}\n",
    )
    .unwrap();
    let out = baton(&["validate", file.to_str().unwrap()], dir.path());
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("t.yaml:7:10"), "{shown}");
    assert!(
        shown.contains("is a transform step, whose `stdout` is always empty"),
        "{shown}"
    );
    assert!(shown.contains("steps.t.output"), "{shown}");
}

#[test]
fn the_shipped_workflows_are_valid_and_use_no_raw() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let out = baton(&["validate", path.to_str().unwrap()], dir.path());
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(!shown.contains("note:"), "{shown}");
    }
}
