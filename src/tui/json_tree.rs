//! A JSON value as foldable rows for the Context tab: one row per key or element, containers
//! shown with their size and folded or unfolded by path.

use std::collections::HashMap;

use serde_json::Value;

use super::text;

/// Containers deeper than this start folded.
const UNFOLDED_DEPTH: usize = 2;

/// Longest scalar shown on a row (longer ones are cut, on a char boundary).
const MAX_SCALAR_BYTES: usize = 400;

/// One row of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonRow {
    /// Nesting depth (0 = the root's children).
    pub depth: usize,
    /// Path from the root (`steps/review/output/risk`), the fold key.
    pub path: String,
    /// The key or `[index]`.
    pub key: String,
    /// The scalar as JSON, or a container's summary (`{3}`, `[12]`).
    pub text: String,
    /// Whether it is an object or array with children.
    pub container: bool,
    /// Whether it is folded (containers only).
    pub folded: bool,
}

/// Which containers the operator folded or unfolded, by path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folds {
    overrides: HashMap<String, bool>,
}

impl Folds {
    /// Whether the container at `path` and `depth` is folded.
    pub fn is_folded(&self, path: &str, depth: usize) -> bool {
        self.overrides
            .get(path)
            .copied()
            .unwrap_or(depth >= UNFOLDED_DEPTH)
    }

    /// Folds or unfolds the container at `path`.
    pub fn set(&mut self, path: &str, folded: bool) {
        self.overrides.insert(path.to_string(), folded);
    }
}

/// The visible rows of `root`'s children (folded containers hide theirs).
pub fn rows(root: &Value, folds: &Folds) -> Vec<JsonRow> {
    let mut out = Vec::new();
    children(root, "", 0, folds, &mut out);
    out
}

fn children(value: &Value, path: &str, depth: usize, folds: &Folds, out: &mut Vec<JsonRow>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                push(child, key.clone(), path, depth, folds, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                push(child, format!("[{i}]"), path, depth, folds, out);
            }
        }
        _ => {}
    }
}

fn push(
    value: &Value,
    key: String,
    parent: &str,
    depth: usize,
    folds: &Folds,
    out: &mut Vec<JsonRow>,
) {
    let path = if parent.is_empty() {
        key.clone()
    } else {
        format!("{parent}/{key}")
    };
    let (container, summary) = match value {
        Value::Object(m) if !m.is_empty() => (true, format!("{{{}}}", m.len())),
        Value::Array(a) if !a.is_empty() => (true, format!("[{}]", a.len())),
        other => (false, scalar(other)),
    };
    let folded = container && folds.is_folded(&path, depth);
    out.push(JsonRow {
        depth,
        path: path.clone(),
        key,
        text: summary,
        container,
        folded,
    });
    if container && !folded {
        children(value, &path, depth + 1, folds, out);
    }
}

fn scalar(value: &Value) -> String {
    let json = value.to_string();
    let json = text::strip_ansi(&json).into_owned();
    text::truncate_line(&json, MAX_SCALAR_BYTES).into_owned()
}

/// The value at a row's path, for copying.
pub fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut value = root;
    for part in path.split('/') {
        value = match value {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => {
                let index = part
                    .strip_prefix('[')?
                    .strip_suffix(']')?
                    .parse::<usize>()
                    .ok()?;
                items.get(index)?
            }
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_containers_start_folded_and_unfold_by_path() {
        let root =
            json!({"params": {"env": "prod"}, "steps": {"review": {"output": {"risk": "low"}}}});
        let mut folds = Folds::default();
        let shown: Vec<_> = rows(&root, &folds).into_iter().map(|r| r.path).collect();
        assert_eq!(
            shown,
            vec![
                "params",
                "params/env",
                "steps",
                "steps/review",
                "steps/review/output"
            ]
        );
        folds.set("steps/review/output", false);
        folds.set("params", true);
        let shown = rows(&root, &folds);
        assert_eq!(shown[0].text, "{1}");
        assert!(shown[0].folded);
        assert_eq!(shown.last().map(|r| r.text.as_str()), Some("\"low\""));
    }

    #[test]
    fn arrays_show_indexes_and_paths_lead_back_to_values() {
        let root = json!({"list": [1, {"a": true}]});
        let rows = rows(&root, &Folds::default());
        assert_eq!(rows[1].key, "[0]");
        assert_eq!(value_at(&root, "list/[1]/a"), Some(&json!(true)));
        assert_eq!(value_at(&root, "list/[9]"), None);
        assert_eq!(value_at(&root, "list/x"), None);
    }
}
