//! The ready set: given what has finished and how, which steps may start now and which are
//! skipped because something upstream blocked them. The engine's scheduler drives it.
//!
//! A dependency is *satisfied* when it succeeded (or came from the cache), was skipped because its
//! own `when` was false, or failed with `continue_on_error`. It *blocks* when it failed otherwise,
//! was cancelled, or was itself skipped because something upstream blocked; every step downstream
//! of a blocking step is skipped, transitively. Each step and edge is visited a bounded number of
//! times, so a whole run costs O(steps + edges).

use std::collections::BTreeSet;

use super::dag::Dag;
use super::types::Workflow;

/// How a step ended, as far as its dependents are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finish {
    /// It ran and succeeded.
    Succeeded,
    /// It succeeded from the cache.
    Cached,
    /// Its `when` was false; dependents still run.
    Skipped,
    /// It failed (after its retries).
    Failed,
    /// It was cancelled.
    Cancelled,
    /// It was skipped because something upstream blocked it.
    SkippedUpstream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Running,
    Finished(Finish),
}

/// The scheduling state of one run's steps.
#[derive(Debug, Clone)]
pub struct ReadySet {
    ids: Vec<String>,
    dependents: Vec<Vec<usize>>,
    continue_on_error: Vec<bool>,
    state: Vec<State>,
    /// Dependencies of each step not yet finished in a satisfying way.
    unsatisfied: Vec<usize>,
    /// The first blocking reason that reached a step not yet started.
    blocked: Vec<Option<String>>,
    ready: BTreeSet<usize>,
    running: usize,
    finished: usize,
}

impl ReadySet {
    /// A fresh run: nothing started. `continue_on_error[i]` is step `i`'s flag (missing entries
    /// are false).
    pub fn new(dag: &Dag, continue_on_error: &[bool]) -> ReadySet {
        let n = dag.len();
        let unsatisfied: Vec<usize> = (0..n).map(|i| dag.deps(i).len()).collect();
        let ready = (0..n).filter(|&i| unsatisfied[i] == 0).collect();
        ReadySet {
            ids: (0..n).map(|i| dag.id(i).to_string()).collect(),
            dependents: (0..n).map(|i| dag.dependents(i).to_vec()).collect(),
            continue_on_error: (0..n)
                .map(|i| continue_on_error.get(i).copied().unwrap_or(false))
                .collect(),
            state: vec![State::NotStarted; n],
            unsatisfied,
            blocked: vec![None; n],
            ready,
            running: 0,
            finished: 0,
        }
    }

    /// A fresh run of `wf`, taking each step's `continue_on_error`.
    pub fn for_workflow(wf: &Workflow, dag: &Dag) -> ReadySet {
        let flags: Vec<bool> = wf.steps.iter().map(|s| s.continue_on_error).collect();
        ReadySet::new(dag, &flags)
    }

    /// Steps that may start now (not started, every dependency finished and satisfied), in
    /// file order.
    pub fn ready(&self) -> Vec<usize> {
        self.ready.iter().copied().collect()
    }

    /// The first ready step in file order, without building a list.
    pub fn next_ready(&self) -> Option<usize> {
        self.ready.first().copied()
    }

    /// Marks step `i` as started (it leaves the ready set). Starting a step twice or a
    /// finished step does nothing.
    pub fn start(&mut self, i: usize) {
        if self.state.get(i) == Some(&State::NotStarted) {
            self.ready.remove(&i);
            self.state[i] = State::Running;
            self.running += 1;
        }
    }

    /// Records how step `i` ended. Returns the steps newly skipped because of it (transitively),
    /// each with a reason such as "upstream `build` failed". Finishing a step twice does nothing.
    pub fn finish(&mut self, i: usize, how: Finish) -> Vec<(usize, String)> {
        if !self.record(i, how) {
            return Vec::new();
        }
        match self.blocking_reason(i, how) {
            None => {
                self.satisfy_dependents(i);
                Vec::new()
            }
            Some(reason) => self.skip_downstream(i, &reason),
        }
    }

    /// Restores a step's stored end on resume, without deriving anything from it: dependents
    /// are not skipped here even when it blocks (their own stored state says what happened to
    /// them). Call [`ReadySet::settle`] after restoring every stored step.
    pub fn restore(&mut self, i: usize, how: Finish) {
        if !self.record(i, how) {
            return;
        }
        match self.blocking_reason(i, how) {
            None => self.satisfy_dependents(i),
            Some(reason) => {
                for k in 0..self.dependents[i].len() {
                    let d = self.dependents[i][k];
                    if self.blocked[d].is_none() {
                        self.blocked[d] = Some(reason.clone());
                    }
                    self.ready.remove(&d);
                }
            }
        }
    }

    /// After a resume: skips every step not started that a restored step blocks (and what is
    /// downstream of it), for stores that were cut off before recording those skips.
    pub fn settle(&mut self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for i in 0..self.state.len() {
            if self.state[i] == State::NotStarted
                && let Some(reason) = self.blocked[i].clone()
            {
                self.record(i, Finish::SkippedUpstream);
                out.push((i, reason.clone()));
                out.extend(self.skip_downstream(i, &reason));
            }
        }
        out
    }

    /// True when every step has finished (in any way).
    pub fn is_done(&self) -> bool {
        self.finished == self.state.len()
    }

    /// How many steps are started and not finished.
    pub fn running(&self) -> usize {
        self.running
    }

    /// How step `i` ended, if it has.
    pub fn finish_of(&self, i: usize) -> Option<Finish> {
        match self.state.get(i) {
            Some(State::Finished(f)) => Some(*f),
            _ => None,
        }
    }

    /// True when step `i` has started and not finished.
    pub fn is_running(&self, i: usize) -> bool {
        self.state.get(i) == Some(&State::Running)
    }

    /// Sets the state; false when `i` is out of range or already finished.
    fn record(&mut self, i: usize, how: Finish) -> bool {
        match self.state.get(i) {
            None | Some(State::Finished(_)) => false,
            Some(prev) => {
                if *prev == State::Running {
                    self.running -= 1;
                }
                self.ready.remove(&i);
                self.state[i] = State::Finished(how);
                self.finished += 1;
                true
            }
        }
    }

    fn blocking_reason(&self, i: usize, how: Finish) -> Option<String> {
        let id = &self.ids[i];
        match how {
            Finish::Succeeded | Finish::Cached | Finish::Skipped => None,
            Finish::Failed if self.continue_on_error[i] => None,
            Finish::Failed => Some(format!("upstream `{id}` failed")),
            Finish::Cancelled => Some(format!("upstream `{id}` was cancelled")),
            Finish::SkippedUpstream => Some(
                self.blocked[i]
                    .clone()
                    .unwrap_or_else(|| format!("upstream `{id}` was skipped")),
            ),
        }
    }

    fn satisfy_dependents(&mut self, i: usize) {
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            self.unsatisfied[d] = self.unsatisfied[d].saturating_sub(1);
            if self.unsatisfied[d] == 0
                && self.state[d] == State::NotStarted
                && self.blocked[d].is_none()
            {
                self.ready.insert(d);
            }
        }
    }

    /// Skips every not-started step downstream of `from`; each step is skipped once.
    fn skip_downstream(&mut self, from: usize, reason: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let mut stack = vec![from];
        while let Some(u) = stack.pop() {
            for k in 0..self.dependents[u].len() {
                let d = self.dependents[u][k];
                if self.state[d] != State::NotStarted {
                    continue;
                }
                self.blocked[d].get_or_insert_with(|| reason.to_string());
                self.record(d, Finish::SkippedUpstream);
                out.push((d, reason.to_string()));
                stack.push(d);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::dag::tests::wf;

    fn set(edges: &[(&str, &[&str])], coe: &[bool]) -> ReadySet {
        ReadySet::new(&Dag::new(&wf(edges)), coe)
    }

    const DIAMOND: &[(&str, &[&str])] =
        &[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])];

    #[test]
    fn steps_become_ready_when_all_deps_succeed() {
        let mut rs = set(DIAMOND, &[]);
        assert_eq!(rs.ready(), vec![0]);
        rs.start(0);
        assert!(rs.ready().is_empty());
        assert!(rs.finish(0, Finish::Succeeded).is_empty());
        assert_eq!(rs.ready(), vec![1, 2]);
        rs.start(1);
        rs.start(2);
        assert_eq!(rs.running(), 2);
        rs.finish(1, Finish::Cached);
        assert!(rs.ready().is_empty(), "d still waits for c");
        rs.finish(2, Finish::Skipped);
        assert_eq!(rs.ready(), vec![3]);
        rs.start(3);
        rs.finish(3, Finish::Succeeded);
        assert!(rs.is_done());
    }

    #[test]
    fn a_failure_skips_everything_downstream_with_the_root_cause() {
        let mut rs = set(DIAMOND, &[]);
        rs.start(0);
        let skipped = rs.finish(0, Finish::Failed);
        let ids: Vec<usize> = skipped.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&1) && ids.contains(&2) && ids.contains(&3));
        assert!(skipped.iter().all(|(_, why)| why == "upstream `a` failed"));
        assert!(rs.is_done());
        assert_eq!(rs.finish_of(3), Some(Finish::SkippedUpstream));
    }

    #[test]
    fn continue_on_error_lets_dependents_run() {
        let mut rs = set(DIAMOND, &[true]);
        rs.start(0);
        assert!(rs.finish(0, Finish::Failed).is_empty());
        assert_eq!(rs.ready(), vec![1, 2]);
    }

    #[test]
    fn a_cancelled_branch_skips_only_its_dependents_and_running_steps_are_left_alone() {
        let mut rs = set(DIAMOND, &[]);
        rs.start(0);
        rs.finish(0, Finish::Succeeded);
        rs.start(1);
        rs.start(2);
        let skipped = rs.finish(1, Finish::Cancelled);
        assert_eq!(skipped, vec![(3, "upstream `b` was cancelled".to_string())]);
        assert!(rs.is_running(2));
        assert!(!rs.is_done());
        rs.finish(2, Finish::Succeeded);
        assert!(rs.is_done());
        assert!(rs.ready().is_empty());
    }

    #[test]
    fn restore_then_settle_resumes_without_rerunning_and_catches_missing_skips() {
        let mut rs = set(
            &[
                ("a", &[]),
                ("b", &["a"]),
                ("c", &[]),
                ("d", &["c"]),
                ("e", &["d"]),
            ],
            &[],
        );
        rs.restore(0, Finish::Succeeded);
        rs.restore(2, Finish::Failed);
        // b was running at the crash: it is not restored, so it is ready again.
        assert_eq!(rs.ready(), vec![1]);
        let skipped = rs.settle();
        assert_eq!(
            skipped,
            vec![
                (3, "upstream `c` failed".to_string()),
                (4, "upstream `c` failed".to_string())
            ]
        );
        rs.start(1);
        rs.finish(1, Finish::Succeeded);
        assert!(rs.is_done());
    }

    #[test]
    fn finishing_twice_or_out_of_range_changes_nothing() {
        let mut rs = set(DIAMOND, &[]);
        rs.start(0);
        rs.finish(0, Finish::Succeeded);
        assert!(rs.finish(0, Finish::Failed).is_empty());
        assert!(rs.finish(99, Finish::Failed).is_empty());
        rs.start(99);
        assert_eq!(rs.ready(), vec![1, 2]);
    }
}
