//! The workflow files the console offers to start: `*.yaml`, `*.yml` and `*.json` in the
//! configured directories, read and validated by the spec module, with their name, description
//! and declared params — or, for a file that does not validate, its first problem.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::spec::{Diagnostic, ParamSpec, Templates};

/// A workflow file as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowEntry {
    /// The file.
    pub path: PathBuf,
    /// The workflow's name (the file stem when the file does not validate).
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Declared params, in file order.
    pub params: IndexMap<String, ParamSpec>,
    /// When `baton serve` starts it by itself.
    pub schedule: Option<crate::spec::schedule::Schedule>,
    /// The first problem found in the file (`file:line:col: message`), and how many there are,
    /// when it does not validate.
    pub error: Option<String>,
}

/// Lists the workflow files of `dirs` (missing directories are skipped), sorted by name within
/// each directory; files that do not validate are listed with their first problem.
pub fn list(dirs: &[PathBuf]) -> Vec<WorkflowEntry> {
    let templates = Templates::new();
    let mut entries = Vec::new();
    for dir in dirs {
        let Ok(read) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            })
            .collect();
        paths.sort();
        entries.extend(paths.iter().map(|p| read_entry(p, &templates)));
    }
    entries
}

/// Reads and validates one workflow file.
pub fn read_entry(path: &Path, templates: &Templates) -> WorkflowEntry {
    match crate::spec::load_file_with(path, templates) {
        Ok(wf) => WorkflowEntry {
            path: path.to_path_buf(),
            name: wf.name,
            description: wf.description,
            params: wf.params,
            schedule: wf.schedule,
            error: None,
        },
        Err(diags) => WorkflowEntry {
            path: path.to_path_buf(),
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            description: None,
            params: IndexMap::new(),
            schedule: None,
            error: Some(summary(diags.iter(), diags.len())),
        },
    }
}

/// `release.yaml:3:7: message (+2 more, `baton validate` lists them)` — the first problem on
/// one line (the file by its name: the lists show its directory), for lists and forms.
pub fn summary<'a>(mut diags: impl Iterator<Item = &'a Diagnostic>, count: usize) -> String {
    let Some(first) = diags.next() else {
        return "the workflow does not validate".into();
    };
    let file = Path::new(&first.file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| first.file.clone());
    let place = if first.line == 0 {
        file
    } else {
        format!("{file}:{}:{}", first.line, first.col.max(1))
    };
    let more = if count > 1 {
        format!(" (+{} more, `baton validate` lists them)", count - 1)
    } else {
        String::new()
    };
    format!("{place}: {}{more}", first.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_valid_files_with_descriptions_and_params_and_invalid_ones_with_their_problem() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).is_ok();
        assert!(write(
            "release.yaml",
            "name: release\ndescription: Ship it\nparams:\n  env: { default: staging, enum: [staging, prod] }\n  note: {}\nsteps:\n  - id: a\n    run: echo {{ params.env }}\n"
        ));
        assert!(write("broken.yml", "name: [unclosed\n"));
        assert!(write(
            "dangling.yaml",
            "name: dangling\nsteps:\n  - id: a\n    run: echo a\n    depends_on: [nowhere]\n"
        ));
        assert!(write("notes.txt", "not a workflow"));
        let entries = list(&[dir.path().to_path_buf(), dir.path().join("missing")]);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["broken", "dangling", "release"]);
        let broken = entries[0].error.as_deref().unwrap_or_default();
        assert!(broken.contains("broken.yml:1:"), "{broken}");
        let dangling = entries[1].error.as_deref().unwrap_or_default();
        assert!(
            dangling.contains("dangling.yaml:5:") && dangling.contains("nowhere"),
            "{dangling}"
        );
        assert_eq!(entries[2].error, None);
        assert_eq!(entries[2].description.as_deref(), Some("Ship it"));
        assert_eq!(
            entries[2].params["env"].default,
            Some(serde_json::Value::String("staging".into()))
        );
        assert!(entries[2].params.contains_key("note"));
    }
}
