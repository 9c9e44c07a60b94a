//! A run's journal: its events in chunks, each with the step outputs written beside them.
//!
//! A step's event carries its whole record, so the step table is the last record of each step
//! in the history; steps that have not started have no record, and readers take them from the
//! run's stored plan (see [`Store::step_table`]). A batch of transitions is one sled operation over a
//! few chunk keys, however many steps it touches: sled's cost is mostly per key.

use std::collections::HashMap;

use anyhow::{Context, bail};

use super::{Event, EventKind, RunId, RunRecord, StepOutput, StepRecord, Store, Timestamp};
use super::{decode, insert_atomically, last_seq};
use crate::spec::StepId;

/// What a key of the `data` tree holds. A run's history is a journal of chunks: each holds
/// events (a step's event carries its whole record, so the step table is the last record of
/// each step) and the step outputs written with them. A batch of transitions is thus one sled
/// operation over a few keys, however many steps it touches.
#[derive(Debug, Clone, Copy)]
pub(super) enum Part {
    /// Schema 1 only: a step record per key (migrated at open).
    LegacyStep = b's' as isize,
    /// Schema 1 only: a step output per key (migrated at open).
    LegacyOutput = b'o' as isize,
    /// A journal chunk, keyed by the seq of its last event.
    Event = b'e' as isize,
}

/// A journal chunk grows to about this size before the next one starts. sled's per-key cost
/// dominates small values, and a leaf holds 16 keys, so chunks are a few pages each.
const CHUNK_BYTES: usize = 32 * 1024;

/// A journal chunk as read back. Schema 1 chunks were a bare array of events.
#[derive(Debug, Default, serde::Deserialize)]
struct Chunk {
    events: Vec<Event>,
    /// Outputs written (`None`: removed, before a retry).
    #[serde(default)]
    outputs: Vec<(StepId, Option<StepOutput>)>,
}

fn decode_chunk(bytes: &[u8]) -> anyhow::Result<Chunk> {
    if bytes.first() == Some(&b'[') {
        return Ok(Chunk {
            events: decode(bytes, "event")?,
            outputs: Vec::new(),
        });
    }
    decode(bytes, "journal")
}

/// What a run's journal says about its steps.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct StepTable {
    /// The last record of every step that has one, in workflow order.
    pub steps: Vec<StepRecord>,
    /// The outputs of the steps that have one.
    pub outputs: HashMap<StepId, StepOutput>,
}

pub(super) fn part_key(run: &RunId, part: Part, suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(run.0.len() + 2 + suffix.len());
    k.extend_from_slice(run.0.as_bytes());
    k.push(0);
    k.push(part as u8);
    k.extend_from_slice(suffix);
    k
}

impl Store {
    /// Replays a run's journal: the last record of every step that has one, and the outputs.
    pub fn replay(&self, run: &RunId) -> anyhow::Result<StepTable> {
        let mut steps = HashMap::new();
        let mut outputs = HashMap::new();
        for item in self.data.scan_prefix(part_key(run, Part::Event, &[])) {
            let chunk = decode_chunk(&item?.1)?;
            for event in chunk.events {
                if let EventKind::Step { record } = event.kind {
                    steps.insert(record.step.clone(), *record);
                }
            }
            for (step, output) in chunk.outputs {
                match output {
                    Some(o) => outputs.insert(step, o),
                    None => outputs.remove(&step),
                };
            }
        }
        let mut steps: Vec<StepRecord> = steps.into_values().collect();
        steps.sort_by_key(|r| r.index);
        Ok(StepTable { steps, outputs })
    }

    /// Every step of a run, in workflow order: the journal's records, and the run's stored
    /// plan for the steps that have not started (whose records are not stored).
    pub fn step_table(&self, run: &RunRecord) -> anyhow::Result<StepTable> {
        let mut table = self.replay(&run.id)?;
        if table.steps.len() < run.steps_total as usize
            && let Some(plan) = self.plan(&run.id)?
        {
            let mut by_id: HashMap<StepId, StepRecord> =
                table.steps.drain(..).map(|r| (r.step.clone(), r)).collect();
            table.steps = plan
                .steps
                .iter()
                .enumerate()
                .map(|(i, planned)| {
                    by_id
                        .remove(&planned.step)
                        .unwrap_or_else(|| planned.record(i))
                })
                .collect();
        }
        Ok(table)
    }

    /// Reads a step's output.
    pub fn output(&self, run: &RunId, step: &StepId) -> anyhow::Result<Option<StepOutput>> {
        Ok(self.replay(run)?.outputs.remove(step))
    }

    /// Appends events to a run's history after its last one, with outputs written (or
    /// removed, `None`) in the same operation; returns the events as stored. For writers other
    /// than a run's driver, which keeps the seq itself (see [`Store::commit`]).
    pub fn append(
        &self,
        run: &RunId,
        kinds: Vec<EventKind>,
        outputs: &[(StepId, Option<StepOutput>)],
    ) -> anyhow::Result<Vec<Event>> {
        let last = self.last_event_seq(run)?;
        let now = Timestamp::now();
        let events: Vec<(u64, Event)> = kinds
            .into_iter()
            .zip(last + 1..)
            .map(|(kind, seq)| {
                (
                    seq,
                    Event {
                        run: run.clone(),
                        ts: now,
                        kind,
                    },
                )
            })
            .collect();
        self.commit(run, outputs, &events)?;
        Ok(events.into_iter().map(|(_, e)| e).collect())
    }

    /// Writes a batch of a run's transitions — its events (each with its seq, consecutive,
    /// following the stored ones) and the outputs written with them — as one atomic sled
    /// operation over a few journal chunks. Outputs need an event beside them.
    pub fn commit(
        &self,
        run: &RunId,
        outputs: &[(StepId, Option<StepOutput>)],
        events: &[(u64, Event)],
    ) -> anyhow::Result<()> {
        if events.is_empty() {
            if outputs.is_empty() {
                return Ok(());
            }
            bail!("run {run}: outputs written without an event to carry them");
        }
        // Each output goes into the chunk of the first event about its step.
        let mut unplaced: HashMap<&StepId, Vec<usize>> = HashMap::new();
        for (i, (step, _)) in outputs.iter().enumerate() {
            unplaced.entry(step).or_default().push(i);
        }
        let mut chunks: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(1);
        // Each chunk is written where it is stored, in one buffer grown as it fills: most
        // batches are an event or three, and a buffer the size of a whole chunk (32 KiB) is a
        // large block for the allocator at every commit.
        let mut value: Vec<u8> = Vec::new();
        let mut placed: Vec<usize> = Vec::new();
        for (n, (seq, event)) in events.iter().enumerate() {
            if value.is_empty() {
                value.reserve(512);
                value.extend_from_slice(b"{\"events\":[");
            } else {
                value.push(b',');
            }
            serde_json::to_writer(&mut value, event).context("cannot encode an event")?;
            if let EventKind::Step { record } = &event.kind
                && let Some(idx) = unplaced.remove(&record.step)
            {
                placed.extend(idx);
            }
            let last = n + 1 == events.len();
            if last {
                placed.extend(unplaced.drain().flat_map(|(_, v)| v));
            }
            if last || value.len() >= CHUNK_BYTES {
                value.push(b']');
                if !placed.is_empty() {
                    placed.sort_unstable();
                    value.extend_from_slice(b",\"outputs\":");
                    let these: Vec<&(StepId, Option<StepOutput>)> =
                        placed.drain(..).map(|i| &outputs[i]).collect();
                    serde_json::to_writer(&mut value, &these)
                        .context("cannot encode a step output")?;
                }
                value.push(b'}');
                chunks.push((
                    part_key(run, Part::Event, &seq.to_be_bytes()),
                    std::mem::take(&mut value),
                ));
            }
        }
        insert_atomically(&self.data, chunks)?;
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The highest event seq of a run (0 when none).
    pub fn last_event_seq(&self, run: &RunId) -> anyhow::Result<u64> {
        last_seq(&self.data, part_key(run, Part::Event, &[]))
    }

    /// A run's history, oldest first.
    pub fn events(&self, run: &RunId) -> anyhow::Result<Vec<Event>> {
        let mut events = Vec::new();
        for item in self.data.scan_prefix(part_key(run, Part::Event, &[])) {
            events.extend(decode_chunk(&item?.1)?.events);
        }
        Ok(events)
    }

    /// Schema 1 kept a key per step record and per output; schema 2 keeps them in the journal.
    /// Records the journal does not already end with, and every output, are appended to it;
    /// then the old keys go. Safe to repeat if cut short (the version is set after).
    pub(super) fn migrate_from_v1(&self) -> anyhow::Result<()> {
        for run in self.runs()? {
            let replayed: HashMap<StepId, StepRecord> = self
                .replay(&run.id)?
                .steps
                .into_iter()
                .map(|r| (r.step.clone(), r))
                .collect();
            let mut old_keys = Vec::new();
            let mut outputs = Vec::new();
            for item in self
                .data
                .scan_prefix(part_key(&run.id, Part::LegacyOutput, &[]))
            {
                let (k, v) = item?;
                let step = StepId(String::from_utf8_lossy(&k[run.id.0.len() + 2..]).into_owned());
                outputs.push((step, Some(decode::<StepOutput>(&v, "output")?)));
                old_keys.push(k);
            }
            let with_output: std::collections::HashSet<StepId> =
                outputs.iter().map(|(s, _)| s.clone()).collect();
            let mut kinds = Vec::new();
            for item in self
                .data
                .scan_prefix(part_key(&run.id, Part::LegacyStep, &[]))
            {
                let (k, v) = item?;
                let record: StepRecord = decode(&v, "step")?;
                if with_output.contains(&record.step) || replayed.get(&record.step) != Some(&record)
                {
                    kinds.push(EventKind::Step {
                        record: Box::new(record),
                    });
                }
                old_keys.push(k);
            }
            if kinds.is_empty() {
                outputs.clear();
            }
            self.append(&run.id, kinds, &outputs)?;
            super::remove_keys(&self.data, old_keys)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{raw_db_of_version, run};
    use crate::store::{RunState, StepStatus, encode};

    fn step_event(run: &RunId, step: &str, status: StepStatus) -> Event {
        let mut record = StepRecord::pending(StepId(step.into()), 1);
        record.status = status;
        record.error = Some("x".repeat(200));
        Event {
            run: run.clone(),
            ts: Timestamp(1),
            kind: EventKind::Step {
                record: Box::new(record),
            },
        }
    }

    #[test]
    fn a_large_batch_is_split_into_chunks_that_replay_to_the_same_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r = RunId("big".into());
        let mut events = Vec::new();
        let mut outputs = Vec::new();
        for i in 0..2000u64 {
            let step = format!("s{i}");
            events.push((2 * i + 1, step_event(&r, &step, StepStatus::Running)));
            events.push((2 * i + 2, step_event(&r, &step, StepStatus::Succeeded)));
            outputs.push((
                StepId(step),
                Some(StepOutput {
                    output: serde_json::json!(i),
                    ..StepOutput::default()
                }),
            ));
        }
        store.commit(&r, &outputs, &events).unwrap();
        let chunks = store
            .data
            .scan_prefix(part_key(&r, Part::Event, &[]))
            .count();
        assert!(chunks > 10, "one chunk per ~32 KiB, got {chunks}");
        assert_eq!(store.last_event_seq(&r).unwrap(), 4000);
        let all = store.events(&r).unwrap();
        assert_eq!(all.len(), 4000);
        assert_eq!(all, events.into_iter().map(|(_, e)| e).collect::<Vec<_>>());
        let table = store.replay(&r).unwrap();
        assert_eq!(table.steps.len(), 2000);
        assert!(
            table
                .steps
                .iter()
                .all(|s| s.status == StepStatus::Succeeded)
        );
        assert_eq!(table.outputs.len(), 2000);
        assert_eq!(
            table.outputs[&StepId("s1234".into())].output,
            serde_json::json!(1234)
        );
        // A removal later in the journal wins over the write before it.
        store
            .append(
                &r,
                vec![step_event(&r, "s7", StepStatus::Pending).kind],
                &[(StepId("s7".into()), None)],
            )
            .unwrap();
        let table = store.replay(&r).unwrap();
        assert!(!table.outputs.contains_key(&StepId("s7".into())));
        let s7 = table.steps.iter().find(|s| s.step.0 == "s7").unwrap();
        assert_eq!(s7.status, StepStatus::Pending);
        assert_eq!(store.last_event_seq(&r).unwrap(), 4001);
    }

    #[test]
    fn outputs_need_an_event_to_carry_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = store
            .commit(
                &RunId("r".into()),
                &[(StepId("a".into()), Some(StepOutput::default()))],
                &[],
            )
            .unwrap_err();
        assert!(err.to_string().contains("without an event"), "{err}");
    }

    /// A store written by schema 1: a key per step record and per output, bare event arrays.
    #[test]
    fn a_schema_1_store_is_migrated_at_open_without_losing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunId("old-run".into());
        {
            let db = raw_db_of_version(dir.path(), 1);
            db.open_tree("runs")
                .unwrap()
                .insert(
                    r.0.as_bytes(),
                    encode(&run("old-run", RunState::Failed)).unwrap(),
                )
                .unwrap();
            let data = db.open_tree("data").unwrap();
            // The history saw `a` succeed and `b` fail; then `retry` reset `b` in its record only.
            let history = [
                step_event(&r, "a", StepStatus::Succeeded),
                step_event(&r, "b", StepStatus::Failed),
            ];
            data.insert(
                part_key(&r, Part::Event, &2u64.to_be_bytes()),
                encode(&history).unwrap(),
            )
            .unwrap();
            let mut a = StepRecord::pending(StepId("a".into()), 1);
            a.status = StepStatus::Succeeded;
            a.error = Some("x".repeat(200));
            let mut b = StepRecord::pending(StepId("b".into()), 1);
            b.index = 1;
            for rec in [&a, &b] {
                data.insert(
                    part_key(&r, Part::LegacyStep, &rec.index.to_be_bytes()),
                    encode(rec).unwrap(),
                )
                .unwrap();
            }
            let out = StepOutput {
                output: serde_json::json!({"kept": true}),
                ..StepOutput::default()
            };
            data.insert(
                part_key(&r, Part::LegacyOutput, b"a"),
                encode(&out).unwrap(),
            )
            .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let table = store.replay(&r).unwrap();
        let by_id: Vec<(&str, StepStatus)> = table
            .steps
            .iter()
            .map(|s| (s.step.0.as_str(), s.status))
            .collect();
        assert_eq!(
            by_id,
            [("a", StepStatus::Succeeded), ("b", StepStatus::Pending)]
        );
        assert_eq!(
            table.outputs[&StepId("a".into())].output,
            serde_json::json!({"kept": true})
        );
        // The old keys are gone, the history grew, and the store now says schema 2.
        assert_eq!(
            store
                .data
                .scan_prefix(part_key(&r, Part::LegacyStep, &[]))
                .count(),
            0
        );
        assert_eq!(
            store
                .data
                .scan_prefix(part_key(&r, Part::LegacyOutput, &[]))
                .count(),
            0
        );
        assert!(store.events(&r).unwrap().len() > 2);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replay(&r).unwrap().steps.len(), 2);
    }
}
