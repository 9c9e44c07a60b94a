//! Each run's plan — its steps with kind, dependencies and level — stored once when the run is
//! created, so that readers list the steps that have not started without parsing its workflow.

use std::path::Path;

use anyhow::Context;

use super::{RunId, RunPlan, RunRecord, Store, decode, encode};

impl Store {
    /// Records a new run: its workflow source, its plan, then its record — unless a run with
    /// its id exists already: then nothing is written and `false` comes back (two starts that
    /// drew the same id cannot overwrite each other's run).
    ///
    /// Not a sled transaction: a transaction (or a batch) pins sled's log, which writes out the
    /// IO buffer twice, each a write and a `sync_file_range` handed to sled's thread pool, and
    /// it holds every other writer of the store off meanwhile (16 clients of `baton serve`,
    /// under `strace`: 5.6 writes to disk a run with it, 2.1 without). The source claims the
    /// id instead (compare-and-swap: of two starts with one id, one wins), and the record,
    /// which makes the run exist for every reader, is written last. Both are encoded before the
    /// claim, so an encoding error leaves nothing behind. sled recovers its log as a prefix, so
    /// a kill part-way leaves at worst a source and a plan that no run names.
    pub fn create_run(&self, run: &RunRecord, plan: &RunPlan) -> anyhow::Result<bool> {
        let key = run.id.0.as_bytes();
        let failed = |e: sled::Error| anyhow::anyhow!("cannot record run {}: {e}", run.id);
        let record = encode(&RunRecord {
            source: String::new(),
            ..run.clone()
        })?;
        let plan = encode(plan)?;
        // A run of an old store may have no source: its record is what says the id is taken.
        if self.runs.contains_key(key).map_err(failed)? {
            return Ok(false);
        }
        let claimed = self
            .sources
            .compare_and_swap(key, None::<&[u8]>, Some(run.source.as_bytes()))
            .map_err(failed)?;
        if claimed.is_err() {
            return Ok(false);
        }
        self.plans.insert(key, plan).map_err(failed)?;
        self.runs.insert(key, record).map_err(failed)?;
        Ok(true)
    }

    /// Removes the sources and plans that no run record names: what a kill left of a run whose
    /// creation it cut short ([`Store::create_run`] writes the record last). Returns how many
    /// ids it cleared.
    ///
    /// Only for an owner that creates no run meanwhile (`baton gc`, which holds the owner lock
    /// and starts no engine): a run being created has its source before its record, and would
    /// lose it. Reads every stored workflow, so it is not done at every open.
    pub fn sweep_orphans(&self) -> anyhow::Result<usize> {
        let mut orphans = std::collections::BTreeSet::new();
        for tree in [&self.sources, &self.plans] {
            for key in tree.iter().keys() {
                let key = key.context("cannot read the stored workflows")?;
                if !self.runs.contains_key(&key)? {
                    orphans.insert(key);
                }
            }
        }
        for key in &orphans {
            self.sources.remove(key)?;
            self.plans.remove(key)?;
            tracing::info!(
                "removed the workflow of run {}, whose creation was cut short",
                String::from_utf8_lossy(key)
            );
        }
        if !orphans.is_empty() {
            self.flush_blocking()?;
        }
        Ok(orphans.len())
    }

    /// A run's plan (`None` for a run whose stored workflow no longer parsed when the store
    /// was upgraded).
    pub fn plan(&self, run: &RunId) -> anyhow::Result<Option<RunPlan>> {
        match self.plans.get(run.0.as_bytes())? {
            Some(v) => Ok(Some(decode(&v, "plan")?)),
            None => Ok(None),
        }
    }

    /// Schemas up to 4 kept no plan: readers parsed each run's stored workflow at every read. Each
    /// run's source is parsed once, here, and its plan stored. Safe to repeat if cut short.
    pub(super) fn migrate_plans_from_v4(&self) -> anyhow::Result<()> {
        for run in self.runs()? {
            let key = run.id.0.as_bytes();
            if self.plans.contains_key(key)? {
                continue;
            }
            let Some(source) = self.sources.get(key)? else {
                continue;
            };
            let source = String::from_utf8_lossy(&source);
            let origin = run.workflow_path.as_deref().unwrap_or("<workflow>");
            match crate::spec::parse_str(&source, Path::new(origin)) {
                Ok(wf) => {
                    self.plans
                        .insert(key, encode(&RunPlan::of(&wf))?)
                        .with_context(|| format!("cannot store the plan of run {}", run.id))?;
                }
                // Its started steps are in its journal; only the others cannot be listed.
                Err(_) => tracing::warn!(
                    "run {}: its stored workflow no longer parses, so the steps it never \
                     started are not listed",
                    run.id
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{raw_db_of_version, run};
    use crate::store::{RunState, StepStatus};

    const THREE_STEPS: &str = "name: w\nsteps:\n  - id: fetch\n    run: echo hi\n  - id: shape\n    \
         transform: { expr: \"1\" }\n    depends_on: [fetch]\n    retry: { max_attempts: 3 }\n  \
         - id: ship\n    run: echo ok\n    depends_on: [shape]\n";

    fn planned(store: &Store, id: &RunId) -> Vec<(String, String, Vec<String>, u32, u32)> {
        let record = store.run(id).unwrap().unwrap();
        store
            .step_table(&record)
            .unwrap()
            .steps
            .into_iter()
            .map(|s| {
                assert_eq!(s.status, StepStatus::Pending);
                let deps = s.depends_on.iter().map(|d| d.0.clone()).collect();
                (s.step.0, s.kind, deps, s.level, s.max_attempts)
            })
            .collect()
    }

    fn expected() -> Vec<(String, String, Vec<String>, u32, u32)> {
        vec![
            ("fetch".into(), "run".into(), vec![], 0, 1),
            (
                "shape".into(),
                "transform".into(),
                vec!["fetch".into()],
                1,
                3,
            ),
            ("ship".into(), "run".into(), vec!["shape".into()], 2, 1),
        ]
    }

    /// A store written by schema 4 had no plans: the upgrade parses each run's stored source
    /// once, and from then on its steps are listed from the plan alone.
    #[test]
    fn a_migrated_stores_runs_list_their_planned_steps_without_their_workflow() {
        let dir = tempfile::tempdir().unwrap();
        let id = RunId("old-run".into());
        {
            let db = raw_db_of_version(dir.path(), 4);
            let mut record = run("old-run", RunState::Interrupted);
            record.steps_total = 3;
            record.workflow_path = Some("/gone/w.yaml".into());
            db.open_tree("runs")
                .unwrap()
                .insert(id.0.as_bytes(), encode(&record).unwrap())
                .unwrap();
            db.open_tree("sources")
                .unwrap()
                .insert(id.0.as_bytes(), THREE_STEPS.as_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        // Readers no longer read the workflow at all.
        store.sources.insert(id.0.as_bytes(), "not: [yaml").unwrap();
        assert_eq!(planned(&store, &id), expected());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(planned(&store, &id), expected(), "kept across opens");
    }

    #[test]
    fn a_run_is_created_with_its_plan_and_deleted_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wf = crate::spec::parse_str(THREE_STEPS, Path::new("w.yaml")).unwrap();
        let mut record = run("r1", RunState::Succeeded);
        record.steps_total = 3;
        record.source = THREE_STEPS.into();
        assert!(store.create_run(&record, &RunPlan::of(&wf)).unwrap());
        assert_eq!(planned(&store, &record.id), expected());
        assert_eq!(store.run(&record.id).unwrap().unwrap().source, THREE_STEPS);
        store.gc(crate::store::Timestamp(u64::MAX)).unwrap();
        assert!(store.plan(&record.id).unwrap().is_none());
    }

    /// What a kill during a run's creation leaves (a source, or a source and a plan, and no
    /// record) is swept; every whole run keeps its own.
    #[test]
    fn the_source_and_plan_of_a_run_never_created_are_swept_and_whole_runs_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wf = crate::spec::parse_str(THREE_STEPS, Path::new("w.yaml")).unwrap();
        let mut whole = run("r-whole", RunState::Succeeded);
        whole.source = THREE_STEPS.into();
        assert!(store.create_run(&whole, &RunPlan::of(&wf)).unwrap());
        // Killed after the claim; killed after the plan.
        store.sources.insert("r-claimed", THREE_STEPS).unwrap();
        store.sources.insert("r-planned", THREE_STEPS).unwrap();
        store
            .plans
            .insert("r-planned", encode(&RunPlan::of(&wf)).unwrap())
            .unwrap();
        assert_eq!(store.sweep_orphans().unwrap(), 2);
        for orphan in ["r-claimed", "r-planned"] {
            assert!(!store.sources.contains_key(orphan).unwrap(), "{orphan}");
            assert!(!store.plans.contains_key(orphan).unwrap(), "{orphan}");
        }
        assert_eq!(store.run(&whole.id).unwrap().unwrap().source, THREE_STEPS);
        assert_eq!(planned(&store, &whole.id), expected());
        assert_eq!(store.sweep_orphans().unwrap(), 0, "nothing left to sweep");
    }

    #[test]
    fn a_run_is_never_created_over_another_with_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wf = crate::spec::parse_str(THREE_STEPS, Path::new("w.yaml")).unwrap();
        let mut first = run("r1", RunState::Running);
        first.source = THREE_STEPS.into();
        first.workflow = "first".into();
        assert!(store.create_run(&first, &RunPlan::of(&wf)).unwrap());
        let mut second = first.clone();
        second.workflow = "second".into();
        second.source = "name: second\n".into();
        assert!(
            !store.create_run(&second, &RunPlan::of(&wf)).unwrap(),
            "the id is taken"
        );
        let kept = store.run(&first.id).unwrap().unwrap();
        assert_eq!(
            (kept.workflow.as_str(), kept.source.as_str()),
            ("first", THREE_STEPS)
        );
    }

    /// Starts that drew the same id at the same moment: exactly one creates the run, and its
    /// record, source and plan are all its own.
    #[test]
    fn of_many_starts_racing_for_one_id_exactly_one_creates_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wf = crate::spec::parse_str(THREE_STEPS, Path::new("w.yaml")).unwrap();
        let plan = RunPlan::of(&wf);
        let won: Vec<String> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|n| {
                    let (store, plan) = (&store, &plan);
                    scope.spawn(move || {
                        let mut record = run("r1", RunState::Pending);
                        record.workflow = format!("racer{n}");
                        record.source = format!("name: racer{n}\n");
                        store
                            .create_run(&record, plan)
                            .unwrap()
                            .then_some(record.workflow)
                    })
                })
                .collect();
            racers
                .into_iter()
                .filter_map(|r| r.join().unwrap())
                .collect()
        });
        assert_eq!(won.len(), 1, "{won:?}");
        let kept = store.run(&RunId("r1".into())).unwrap().unwrap();
        assert_eq!(kept.workflow, won[0]);
        assert_eq!(kept.source, format!("name: {}\n", won[0]));
    }

    /// A run recorded before sources were kept apart has a record and no source: a start that
    /// draws its id does not take it over.
    #[test]
    fn a_run_without_a_stored_source_still_holds_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = run("r1", RunState::Succeeded);
        store.runs.insert("r1", encode(&old).unwrap()).unwrap();
        let mut new = run("r1", RunState::Pending);
        new.workflow = "new".into();
        new.source = "name: new\n".into();
        let wf = crate::spec::parse_str(THREE_STEPS, Path::new("w.yaml")).unwrap();
        assert!(!store.create_run(&new, &RunPlan::of(&wf)).unwrap());
        assert!(store.sources.get("r1").unwrap().is_none());
        assert_ne!(store.run(&old.id).unwrap().unwrap().workflow, "new");
    }

    /// Another start that drew the same id and has written its source, not yet its record:
    /// the id is taken, and nothing of the second start is written.
    #[test]
    fn an_id_whose_source_another_start_wrote_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.sources.insert("r1", "name: first\n").unwrap();
        let mut second = run("r1", RunState::Pending);
        second.source = "name: second\n".into();
        let wf = crate::spec::parse_str(THREE_STEPS, Path::new("w.yaml")).unwrap();
        assert!(!store.create_run(&second, &RunPlan::of(&wf)).unwrap());
        assert_eq!(
            &*store.sources.get("r1").unwrap().unwrap(),
            b"name: first\n"
        );
        assert!(store.plans.get("r1").unwrap().is_none());
        assert!(store.run(&second.id).unwrap().is_none());
    }
}
