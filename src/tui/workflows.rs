//! The workflow files the console offers to start: `*.yaml`, `*.yml` and `*.json` in the
//! configured directories, with their name, description and declared params.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// A workflow file as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowEntry {
    /// The file.
    pub path: PathBuf,
    /// The workflow's name (the file stem when the file has none or cannot be read).
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Declared params, in file order.
    pub params: IndexMap<String, ParamEntry>,
    /// Why the file could not be read, if it could not.
    pub error: Option<String>,
}

/// A declared param, as the start form needs it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct ParamEntry {
    /// Value used when none is given.
    #[serde(default)]
    pub default: Option<Value>,
    /// Allowed values.
    #[serde(default, rename = "enum")]
    pub choices: Option<Vec<Value>>,
    /// Must be given.
    #[serde(default)]
    pub required: bool,
    /// Shown beside the field.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize)]
struct Head {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    params: IndexMap<String, Option<ParamEntry>>,
}

/// Lists the workflow files of `dirs` (missing directories are skipped), sorted by name within
/// each directory; unreadable files are listed with their error.
pub fn list(dirs: &[PathBuf]) -> Vec<WorkflowEntry> {
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
        entries.extend(paths.iter().map(|p| read_entry(p)));
    }
    entries
}

/// Reads one workflow file's head.
pub fn read_entry(path: &Path) -> WorkflowEntry {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let failed = |error: String| WorkflowEntry {
        path: path.to_path_buf(),
        name: stem.clone(),
        description: None,
        params: IndexMap::new(),
        error: Some(error),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return failed(format!("cannot read {}: {e}", path.display())),
    };
    match serde_saphyr::from_str::<Head>(&text) {
        Ok(head) => WorkflowEntry {
            path: path.to_path_buf(),
            name: head.name.unwrap_or_else(|| stem.clone()),
            description: head.description,
            params: head
                .params
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
            error: None,
        },
        Err(e) => {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            failed(format!("{file}: {}", first_line(&e.to_string())))
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_workflow_files_with_descriptions_and_params() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).is_ok();
        assert!(write(
            "release.yaml",
            "name: release\ndescription: Ship it\nparams:\n  env: { default: staging, enum: [staging, prod] }\n  note:\nsteps: []\n"
        ));
        assert!(write("broken.yml", "name: [unclosed\n"));
        assert!(write("notes.txt", "not a workflow"));
        let entries = list(&[dir.path().to_path_buf(), dir.path().join("missing")]);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, "broken");
        assert!(entries[0].error.is_some());
        assert_eq!(entries[1].name, "release");
        assert_eq!(entries[1].description.as_deref(), Some("Ship it"));
        assert_eq!(
            entries[1].params["env"].default,
            Some(Value::String("staging".into()))
        );
        assert!(entries[1].params.contains_key("note"));
    }
}
