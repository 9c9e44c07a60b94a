//! The dependency graph of a workflow: edges, topological levels (the batches that can run
//! together) and transitive upstream sets. Indices are positions in `Workflow::steps`.

use std::collections::hash_map::Entry;
use std::hash::Hasher;

use super::idhash::{IdHasher, IdMap};
use super::types::Workflow;

/// The steps' dependency graph, built once per workflow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dag {
    names: Names,
    deps: Edges,
    dependents: Edges,
    levels: Vec<Vec<usize>>,
    level_of: Vec<Option<usize>>,
}

impl Dag {
    /// Builds the graph. Meant for a validated workflow; unknown dependencies and repeated
    /// entries are ignored, and steps on a cycle get no level.
    pub fn new(wf: &Workflow) -> Dag {
        let n = wf.steps.len();
        let names = Names::new(wf.steps.iter().map(|s| s.id.as_str()));
        let mut deps = Edges::with_capacity(n, wf.steps.iter().map(|s| s.depends_on.len()).sum());
        for s in &wf.steps {
            let row = deps.targets.len();
            for d in &s.depends_on {
                if let Some(j) = names.get(d.as_str())
                    && !deps.targets[row..].contains(&j)
                {
                    deps.targets.push(j);
                }
            }
            deps.starts.push(deps.targets.len());
        }
        let dependents = deps.reversed();
        let (levels, level_of) = levels_of(&deps, &dependents);
        Dag {
            names,
            deps,
            dependents,
            levels,
            level_of,
        }
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.deps.rows()
    }

    /// True when there are no steps.
    pub fn is_empty(&self) -> bool {
        self.deps.rows() == 0
    }

    /// The id of step `i`.
    pub fn id(&self, i: usize) -> &str {
        self.names.id(i)
    }

    /// The index of the step with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.names.get(id)
    }

    /// Whether two steps may have the same id: false means every id is given once; true, that
    /// one is given twice, or that the ids could not be told apart by hash alone (then look).
    pub fn ids_may_repeat(&self) -> bool {
        self.names.repeated || self.names.collided
    }

    /// Topological levels: level 0 has no dependencies; every step's dependencies are on
    /// earlier levels. Within a level, steps are in file order.
    pub fn levels(&self) -> &[Vec<usize>] {
        &self.levels
    }

    /// The level of step `i` (`None` when it is on a cycle).
    pub fn level_of(&self, i: usize) -> Option<usize> {
        self.level_of.get(i).copied().flatten()
    }

    /// The direct dependencies of step `i`.
    pub fn deps(&self, i: usize) -> &[usize] {
        self.deps.row(i)
    }

    /// The steps that depend directly on step `i`.
    pub fn dependents(&self, i: usize) -> &[usize] {
        self.dependents.row(i)
    }

    /// Every step that `i` depends on, directly or not, in ascending index order.
    pub fn upstream(&self, i: usize) -> Vec<usize> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<usize> = self.deps.row(i).to_vec();
        let mut out = Vec::new();
        while let Some(j) = stack.pop() {
            if std::mem::replace(&mut seen[j], true) {
                continue;
            }
            out.push(j);
            stack.extend(self.deps.row(j).iter().copied().filter(|k| !seen[*k]));
        }
        out.sort_unstable();
        out
    }

    /// Every edge as `(dependency, dependent)`, in file order of the dependents.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        (0..self.len())
            .flat_map(|i| self.deps.row(i).iter().map(move |&d| (d, i)))
            .collect()
    }

    /// One cycle per group of steps that wait for each other, each as a path of indices that
    /// starts and ends on the same step (`[a, b, a]`: a depends on b, b on a); self-loops are
    /// `[a, a]`.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        // Steps without a level are on a cycle or downstream of one. Trim the downstream ones
        // (nothing unlevelled depends on them), so the search below starts only from steps that
        // are on a cycle or between two.
        let n = self.len();
        let unlevelled: Vec<bool> = (0..n).map(|i| self.level_of[i].is_none()).collect();
        let mut waiting: Vec<usize> = (0..n)
            .map(|i| {
                self.dependents
                    .row(i)
                    .iter()
                    .filter(|&&d| unlevelled[d])
                    .count()
            })
            .collect();
        let mut alive = unlevelled.clone();
        let mut stack: Vec<usize> = (0..n).filter(|&i| alive[i] && waiting[i] == 0).collect();
        while let Some(i) = stack.pop() {
            alive[i] = false;
            for &d in self.deps.row(i) {
                if alive[d] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 {
                        stack.push(d);
                    }
                }
            }
        }
        let on_cycle: Vec<usize> = (0..n).filter(|&i| alive[i]).collect();
        if on_cycle.is_empty() {
            return Vec::new();
        }
        let mut reported = vec![false; self.len()];
        let mut out = Vec::new();
        for &start in &on_cycle {
            if reported[start] {
                continue;
            }
            if let Some(path) = self.cycle_through(start) {
                for &p in &path {
                    reported[p] = true;
                }
                out.push(path);
            }
        }
        out
    }

    /// A shortest dependency path from `start` back to itself, if there is one.
    fn cycle_through(&self, start: usize) -> Option<Vec<usize>> {
        let mut parent: Vec<Option<usize>> = vec![None; self.len()];
        let mut queue = std::collections::VecDeque::new();
        queue.push_back(start);
        let mut seen = vec![false; self.len()];
        while let Some(u) = queue.pop_front() {
            for &v in self.deps.row(u) {
                if v == start {
                    let mut path = vec![start];
                    let mut cur = u;
                    while cur != start {
                        path.push(cur);
                        cur = parent[cur]?;
                    }
                    path.push(start);
                    // Read as "depends on": `a → b → a` means a waits for b, b for a.
                    path.reverse();
                    return Some(path);
                }
                if !seen[v] {
                    seen[v] = true;
                    parent[v] = Some(u);
                    queue.push_back(v);
                }
            }
        }
        None
    }
}

/// The steps' ids, and the way back from an id to its step without a second copy of each id:
/// a map from the id's hash to the first step with that hash. Two different ids with one hash
/// (rare with 64 bits) make a lookup that misses search the list instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Names {
    /// Every id, one after the other (two allocations, not one per id).
    text: String,
    /// Where each id ends in `text`.
    ends: Vec<usize>,
    by_hash: IdMap<u64, usize>,
    collided: bool,
    /// An id was found twice (only known for sure when no two ids share a hash).
    repeated: bool,
    /// Tests give every id the same hash, to take the collision path.
    #[cfg(test)]
    one_hash: bool,
}

impl Names {
    fn new<'a>(ids: impl ExactSizeIterator<Item = &'a str> + Clone) -> Names {
        let mut text = String::with_capacity(ids.clone().map(str::len).sum());
        let mut ends = Vec::with_capacity(ids.len());
        for id in ids {
            text.push_str(id);
            ends.push(text.len());
        }
        let mut names = Names {
            by_hash: IdMap::with_capacity_and_hasher(ends.len(), Default::default()),
            text,
            ends,
            collided: false,
            repeated: false,
            #[cfg(test)]
            one_hash: false,
        };
        names.index();
        names
    }

    fn index(&mut self) {
        self.by_hash.clear();
        self.collided = false;
        self.repeated = false;
        for i in 0..self.ends.len() {
            let hash = self.hash(self.id(i));
            match self.by_hash.entry(hash) {
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
                Entry::Occupied(first) => {
                    let first = *first.get();
                    if self.id(first) == self.id(i) {
                        self.repeated = true;
                    } else {
                        self.collided = true;
                    }
                }
            }
        }
    }

    fn hash(&self, id: &str) -> u64 {
        #[cfg(test)]
        if self.one_hash {
            return 0;
        }
        let mut h = IdHasher::default();
        h.write(id.as_bytes());
        h.finish()
    }

    /// The first step with this id.
    fn get(&self, id: &str) -> Option<usize> {
        if let Some(&i) = self.by_hash.get(&self.hash(id))
            && self.id(i) == id
        {
            return Some(i);
        }
        if self.collided {
            return (0..self.ends.len()).find(|&i| self.id(i) == id);
        }
        None
    }

    /// The id of step `i`.
    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// Edges by step, all in one list: step `i`'s are `targets[starts[i]..starts[i + 1]]`. Two
/// allocations for the whole graph instead of one per step.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edges {
    starts: Vec<usize>,
    targets: Vec<usize>,
}

impl Default for Edges {
    fn default() -> Edges {
        Edges::with_capacity(0, 0)
    }
}

impl Edges {
    fn with_capacity(rows: usize, edges: usize) -> Edges {
        let mut starts = Vec::with_capacity(rows + 1);
        starts.push(0);
        Edges {
            starts,
            targets: Vec::with_capacity(edges),
        }
    }

    fn rows(&self) -> usize {
        self.starts.len() - 1
    }

    fn row(&self, i: usize) -> &[usize] {
        &self.targets[self.starts[i]..self.starts[i + 1]]
    }

    /// The same edges the other way round; each row in ascending order.
    fn reversed(&self) -> Edges {
        let n = self.rows();
        let mut counts = vec![0usize; n + 1];
        for &j in &self.targets {
            counts[j + 1] += 1;
        }
        for k in 1..=n {
            counts[k] += counts[k - 1];
        }
        let mut next = counts.clone();
        let mut targets = vec![0; self.targets.len()];
        for i in 0..n {
            for &j in self.row(i) {
                targets[next[j]] = i;
                next[j] += 1;
            }
        }
        Edges {
            starts: counts,
            targets,
        }
    }
}

/// Kahn's algorithm, level by level; O(steps + edges).
fn levels_of(deps: &Edges, dependents: &Edges) -> (Vec<Vec<usize>>, Vec<Option<usize>>) {
    let n = deps.rows();
    let mut remaining: Vec<usize> = (0..n).map(|i| deps.row(i).len()).collect();
    let mut level_of = vec![None; n];
    let mut levels = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            level_of[i] = Some(levels.len());
            for &d in dependents.row(i) {
                remaining[d] -= 1;
                if remaining[d] == 0 {
                    next.push(d);
                }
            }
        }
        next.sort_unstable();
        levels.push(current);
        current = next;
    }
    (levels, level_of)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn an_id_finds_its_first_step_whatever_the_hashes() {
        let ids = ["a", "b", "a", "c-1", "b"];
        for one_hash in [false, true] {
            let mut names = Names::new(ids.into_iter());
            names.one_hash = one_hash;
            names.index();
            assert_eq!(names.collided, one_hash);
            assert!(names.repeated);
            assert_eq!(names.get("a"), Some(0));
            assert_eq!(names.get("b"), Some(1));
            assert_eq!(names.get("c-1"), Some(3));
            assert_eq!(names.get("d"), None);
            assert_eq!(names.get(""), None);
            let back: Vec<&str> = (0..ids.len()).map(|i| names.id(i)).collect();
            assert_eq!(back, ids);
        }
        let once = Names::new(["a", "b", "c-1"].into_iter());
        assert!(!once.repeated && !once.collided);
    }
    use crate::spec::types::*;
    use indexmap::IndexMap;

    pub(crate) fn wf(edges: &[(&str, &[&str])]) -> Workflow {
        Workflow {
            name: "t".into(),
            description: None,
            version: None,
            params: IndexMap::new(),
            env: IndexMap::new(),
            secrets: IndexMap::new(),
            env_file: None,
            defaults: Defaults::default(),
            concurrency: None,
            agents: IndexMap::new(),
            mcp_servers: IndexMap::new(),
            memory_scope: None,
            hosts: IndexMap::new(),
            steps: edges
                .iter()
                .map(|(id, deps)| Step {
                    id: StepId::from(*id),
                    name: None,
                    kind: StepKind::Sleep(crate::spec::Dur::default()),
                    depends_on: deps.iter().map(|d| StepId::from(*d)).collect(),
                    when: None,
                    retry: None,
                    timeout: None,
                    continue_on_error: false,
                    cache: None,
                    lock: None,
                    rate_limit: None,
                    env: IndexMap::new(),
                    approve: false,
                    approvers: Vec::new(),
                    idempotent: true,
                    queue: None,
                    outputs: IndexMap::new(),
                    for_each: None,
                    reads: None,
                    handler: None,
                    pos: StepPos::default(),
                })
                .collect(),
            schedule: None,
            notify: Vec::new(),
            outputs: IndexMap::new(),
            repair_on_failure: false,
            source: None,
        }
    }

    #[test]
    fn levels_group_steps_that_can_run_together() {
        let dag = Dag::new(&wf(&[
            ("a", &[]),
            ("b", &[]),
            ("c", &["a", "b"]),
            ("d", &["a"]),
            ("e", &["c", "d"]),
        ]));
        assert_eq!(dag.levels(), &[vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(dag.deps(2), &[0, 1]);
        assert_eq!(dag.dependents(0), &[2, 3]);
        assert_eq!(dag.upstream(4), vec![0, 1, 2, 3]);
        assert_eq!(dag.upstream(0), Vec::<usize>::new());
        assert!(dag.cycles().is_empty());
    }

    #[test]
    fn cycles_are_found_as_paths() {
        let dag = Dag::new(&wf(&[
            ("build", &["test"]),
            ("test", &["build"]),
            ("x", &["x"]),
        ]));
        let cycles = dag.cycles();
        assert_eq!(cycles, vec![vec![0, 1, 0], vec![2, 2]]);
        assert!(dag.levels().is_empty());
    }
}
