//! DAG levels of a run's steps, for the step tree: level 0 has no dependencies, level n depends
//! on something at level n-1. Computed with Kahn's algorithm from the run's stored source.
//!
//! Reads only `steps[].id|key` and `depends_on|dependsOn` with a small serde struct, so it works
//! on any source the engine accepted; unknown or cyclic dependencies never panic (cycle members
//! go after every other level).

use std::collections::HashMap;

use serde::Deserialize;

use crate::spec::StepId;

#[derive(Deserialize)]
struct SourceHead {
    #[serde(default)]
    steps: Vec<StepHead>,
}

#[derive(Deserialize)]
struct StepHead {
    id: Option<String>,
    key: Option<String>,
    #[serde(default, alias = "dependsOn")]
    depends_on: Option<Depends>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Depends {
    One(String),
    Many(Vec<String>),
}

/// Each step's dependencies as written in `source` (YAML or JSON), in file order; empty when
/// the source cannot be read.
pub fn dependencies_from_source(source: &str) -> Vec<(StepId, Vec<StepId>)> {
    let Ok(head) = serde_saphyr::from_str::<SourceHead>(source) else {
        return Vec::new();
    };
    head.steps
        .into_iter()
        .filter_map(|s| {
            let id = s.id.or(s.key)?;
            let deps = match s.depends_on {
                None => Vec::new(),
                Some(Depends::One(d)) => vec![StepId(d)],
                Some(Depends::Many(ds)) => ds.into_iter().map(StepId).collect(),
            };
            Some((StepId(id), deps))
        })
        .collect()
}

/// The level of every step (Kahn's algorithm). Dependencies on unknown steps are ignored;
/// steps on a cycle get one level past the deepest.
pub fn levels(steps: &[(StepId, Vec<StepId>)]) -> HashMap<StepId, usize> {
    let index: HashMap<&StepId, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id, i))
        .collect();
    let mut indegree = vec![0usize; steps.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, (_, deps)) in steps.iter().enumerate() {
        for dep in deps {
            if let Some(&d) = index.get(dep) {
                indegree[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut level = vec![0usize; steps.len()];
    let mut done = vec![false; steps.len()];
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = ready.pop() {
        done[i] = true;
        for &next in &dependents[i] {
            level[next] = level[next].max(level[i] + 1);
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.push(next);
            }
        }
    }
    let deepest = level.iter().copied().max().unwrap_or(0);
    steps
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.clone(), if done[i] { level[i] } else { deepest + 1 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_longest_dependency_chain() {
        let source = "name: x\nsteps:\n  - id: test\n    run: true\n  - id: diff\n    run: true\n  - id: review\n    agent: a\n    depends_on: [diff]\n  - key: gate\n    dependsOn: [test, review]\n  - id: deploy\n    depends_on: gate\n";
        let deps = dependencies_from_source(source);
        assert_eq!(deps.len(), 5);
        let levels = levels(&deps);
        assert_eq!(levels[&StepId::from("test")], 0);
        assert_eq!(levels[&StepId::from("diff")], 0);
        assert_eq!(levels[&StepId::from("review")], 1);
        assert_eq!(levels[&StepId::from("gate")], 2);
        assert_eq!(levels[&StepId::from("deploy")], 3);
    }

    #[test]
    fn cycles_and_unknown_dependencies_do_not_panic() {
        let deps = vec![
            (StepId::from("a"), vec![StepId::from("b")]),
            (StepId::from("b"), vec![StepId::from("a")]),
            (StepId::from("c"), vec![StepId::from("nowhere")]),
        ];
        let levels = levels(&deps);
        assert_eq!(levels[&StepId::from("c")], 0);
        assert_eq!(levels[&StepId::from("a")], 1);
        assert!(dependencies_from_source(": not yaml [").is_empty());
        assert!(dependencies_from_source("{\"steps\": 3}").is_empty());
    }

    #[test]
    fn json_sources_are_read_too() {
        let deps = dependencies_from_source(
            r#"{"steps": [{"id": "a"}, {"id": "b", "depends_on": ["a"]}]}"#,
        );
        assert_eq!(levels(&deps)[&StepId::from("b")], 1);
    }
}
