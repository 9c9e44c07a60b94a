//! Logs: each step's lines in chunks of ~32 KiB (see `log_chunk.rs`), appended to a file per
//! run (`logs/RUN.chunks` in the store directory) and indexed in sled under
//! `run \0 step \0 last-seq`, so a step's lines scan in order and a run's merge by seq.
//!
//! Not a sled key per line: sled's cost is mostly per key, and a line of `yes` is two bytes.
//! Not the chunks themselves in sled either: its log-structured pages cost 1.7–1.9 times what
//! they hold, where a plain file costs what it holds, and `gc` gives the space back by
//! deleting it. The index entry (offset, length, checksum) is written after the bytes, so a
//! crash leaves at most unindexed bytes; a chunk whose checksum fails reads as a note.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};

use super::log_chunk::{self, CHUNK_BYTES, LogChunk};
use super::{LogLine, LogStream, RunId, Store, Timestamp, decode, last_seq, prefix};
use crate::spec::StepId;

/// FNV-1a, 64 bits: the checksum of a chunk's bytes in the index.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where a chunk is in its run's file: offset, length, checksum.
fn index_value(offset: u64, len: usize, sum: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    v.extend_from_slice(&offset.to_be_bytes());
    v.extend_from_slice(&(len as u32).to_be_bytes());
    v.extend_from_slice(&sum.to_be_bytes());
    v
}

fn parse_index(v: &[u8]) -> Option<(u64, usize, u64)> {
    let offset = u64::from_be_bytes(v.get(0..8)?.try_into().ok()?);
    let len = u32::from_be_bytes(v.get(8..12)?.try_into().ok()?);
    let sum = u64::from_be_bytes(v.get(12..20)?.try_into().ok()?);
    Some((offset, len as usize, sum))
}

/// What ends a line cut short: how many of its bytes were not kept.
pub fn line_cut_note(cut: u64) -> String {
    format!("… (+{cut} bytes cut)")
}

/// A line cut by [`cut_line`] (or while read) split into what was kept and its note (empty
/// when it was not cut).
pub fn split_cut_note(text: &str) -> (&str, &str) {
    let Some(body) = text.strip_suffix(" bytes cut)") else {
        return (text, "");
    };
    match body.rfind("… (+") {
        Some(at)
            if body[at + "… (+".len()..]
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            text.split_at(at)
        }
        _ => (text, ""),
    }
}

/// Bytes a cut line leaves for [`line_cut_note`] (and a character cut in half).
pub const LINE_NOTE_ROOM: usize = 48;

/// `text` cut to at most `max_bytes` (on a char boundary) with a note of how much was cut,
/// the note included when `max_bytes` leaves room for it.
pub fn cut_line(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut end = max_bytes.saturating_sub(LINE_NOTE_ROOM);
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let note = line_cut_note((text.len() - end) as u64);
    Cow::Owned(format!("{}{note}", &text[..end]))
}

fn step_prefix(run: &RunId, step: &StepId) -> Vec<u8> {
    let mut k = prefix(run);
    k.extend_from_slice(step.0.as_bytes());
    k.push(0);
    k
}

fn chunk_key(run: &RunId, step: &StepId, last: u64) -> Vec<u8> {
    let mut k = step_prefix(run, step);
    k.extend_from_slice(&last.to_be_bytes());
    k
}

/// One step's lines from a point on, a chunk at a time, in either direction.
struct Cursor {
    step: StepId,
    file: Option<Arc<File>>,
    chunks: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>>,
    /// Lines of the current chunk still to give, the next one last.
    lines: Vec<LogLine>,
    forward: bool,
}

impl Cursor {
    fn next(&mut self) -> anyhow::Result<Option<LogLine>> {
        while self.lines.is_empty() {
            let Some(item) = self.chunks.next() else {
                return Ok(None);
            };
            let (key, at) = item?;
            let mut lines = self.read(&key, &at);
            if self.forward {
                lines.reverse();
            }
            self.lines = lines;
        }
        Ok(self.lines.pop())
    }

    /// The lines of a chunk; one that cannot be read becomes a note saying so.
    fn read(&self, key: &[u8], at: &[u8]) -> Vec<LogLine> {
        let read = || -> anyhow::Result<Vec<LogLine>> {
            let (offset, len, sum) = parse_index(at).context("its index entry is damaged")?;
            let file = self
                .file
                .as_ref()
                .context("the run's log file is missing")?;
            let mut bytes = vec![0; len];
            file.read_exact_at(&mut bytes, offset)
                .context("the run's log file is shorter than its index says")?;
            if checksum(&bytes) != sum {
                bail!("its bytes do not match their checksum");
            }
            log_chunk::decode(&bytes, &self.step)
        };
        read().unwrap_or_else(|e| {
            let tail = &key[key.len().saturating_sub(8)..];
            vec![LogLine {
                seq: u64::from_be_bytes(tail.try_into().unwrap_or([0; 8])),
                ts: Timestamp(0),
                step: self.step.clone(),
                stream: LogStream::System,
                text: format!(
                    "… lines of step `{}` are missing here: {e:#} (the machine stopped before \
                     they were written?) …",
                    self.step
                ),
            }]
        })
    }
}

/// A run's chunk file, opened at its first append and then held open while the run writes
/// (by the run's log writer), so an append is one `write` and a sync needs no `open`.
pub struct LogFile {
    run: RunId,
    /// Shared with the flush thread, which syncs it (see [`Store::log_file_to_sync`]).
    file: Option<Arc<File>>,
    /// Where the file ends.
    len: u64,
    /// Bytes were appended since the last sync.
    unsynced: bool,
}

impl LogFile {
    /// `run`'s file, not opened yet.
    pub fn new(run: &RunId) -> LogFile {
        LogFile {
            run: run.clone(),
            file: None,
            len: 0,
            unsynced: false,
        }
    }

    /// The open file and where it ends; opened (its directory created) the first time.
    fn open(&mut self, path: &std::path::Path) -> anyhow::Result<(&File, u64)> {
        if self.file.is_none() {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Never through a link planted in the store (the data dir is ours, but still).
            let file = crate::fsperm::open_nofollow(
                std::fs::OpenOptions::new().create(true).append(true),
                path,
            )?;
            self.len = file.metadata()?.len();
            self.file = Some(Arc::new(file));
        }
        let len = self.len;
        match self.file.as_deref() {
            Some(file) => Ok((file, len)),
            None => bail!("the log file is not open"),
        }
    }
}

/// A step's lines on their way from schema 2 keys into a chunk: the lines, their old keys,
/// and the chunk's size so far.
type Migrating = (Vec<LogLine>, Vec<sled::IVec>, usize);

impl Store {
    /// The file a run's log chunks are appended to.
    fn log_file(&self, run: &RunId) -> anyhow::Result<PathBuf> {
        if run.0.is_empty() || run.0.starts_with('.') || run.0.contains(['/', '\0']) {
            bail!("`{run}` cannot name a log file");
        }
        Ok(self.dir.join("logs").join(format!("{}.chunks", run.0)))
    }

    /// Stores lines of several steps (each step's in rising seq, after what is stored of it),
    /// in chunks of about 32 KiB.
    pub fn put_logs(&self, run: &RunId, lines: &[(&StepId, &[LogLine])]) -> anyhow::Result<()> {
        self.append_logs(&mut LogFile::new(run), lines)
    }

    /// [`Store::put_logs`] through a run's file held open.
    pub fn append_logs(
        &self,
        to: &mut LogFile,
        lines: &[(&StepId, &[LogLine])],
    ) -> anyhow::Result<()> {
        let mut chunks = Vec::new();
        for (step, lines) in lines {
            let mut start = 0;
            let mut size = 0;
            for (i, line) in lines.iter().enumerate() {
                size += line.text.len() + 2;
                if size >= CHUNK_BYTES || i + 1 == lines.len() {
                    chunks.push((*step, LogChunk::encode(&lines[start..=i])));
                    start = i + 1;
                    size = 0;
                }
            }
        }
        let refs: Vec<(&StepId, &LogChunk)> = chunks.iter().map(|(s, c)| (*s, c)).collect();
        self.append_log_chunks(to, &refs)
    }

    /// Stores encoded chunks: their bytes in one append to the run's file, then their index
    /// entries in one sled operation.
    pub fn put_log_chunks(
        &self,
        run: &RunId,
        chunks: &[(&StepId, &LogChunk)],
    ) -> anyhow::Result<()> {
        self.append_log_chunks(&mut LogFile::new(run), chunks)
    }

    /// [`Store::put_log_chunks`] through a run's file held open: one `write` per call, no
    /// `open`, `stat` or directory check after the first.
    pub fn append_log_chunks(
        &self,
        to: &mut LogFile,
        chunks: &[(&StepId, &LogChunk)],
    ) -> anyhow::Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let path = self.log_file(&to.run)?;
        let run = to.run.clone();
        let run = &run;
        let mut body = Vec::with_capacity(chunks.iter().map(|(_, c)| c.bytes.len()).sum());
        let mut write = || -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
            let (file, start) = to.open(&path)?;
            let mut index = Vec::with_capacity(chunks.len());
            for (step, c) in chunks {
                let at = index_value(start + body.len() as u64, c.bytes.len(), checksum(&c.bytes));
                index.push((chunk_key(run, step, c.last_seq), at));
                body.extend_from_slice(&c.bytes);
            }
            (&*file).write_all(&body)?;
            Ok(index)
        };
        let index = match write() {
            Ok(index) => index,
            Err(e) => {
                // Where the file ends is no longer known: the next append asks it again.
                to.file = None;
                return Err(e).with_context(|| format!("cannot append to {}", path.display()));
            }
        };
        to.len += body.len() as u64;
        to.unsynced = true;
        super::insert_atomically(&self.logs, index)
            .with_context(|| format!("run {run}: cannot index its log lines"))
    }

    /// Opens a run's chunk file now, before its steps start: a step that takes the last free
    /// descriptor must not leave the run unable to store the lines it printed.
    pub fn open_log_file(&self, file: &mut LogFile) -> anyhow::Result<()> {
        let path = self.log_file(&file.run)?;
        file.open(&path)
            .map(|_| ())
            .with_context(|| format!("cannot open {}", path.display()))
    }

    /// The file behind `file` when something was appended since its last sync, for the flush
    /// thread to sync (see [`super::Flusher::request_syncing`]); counted as synced from here:
    /// if that sync fails, the flush that carries it fails and the run stops.
    pub fn log_file_to_sync(&self, file: &mut LogFile) -> Option<super::flush::SyncFile> {
        let f = file.file.clone().filter(|_| file.unsynced)?;
        file.unsynced = false;
        Some(f)
    }

    /// Copies a run's log file into another store (whose index entries are copied as they are).
    pub(super) fn copy_log_file(&self, run: &RunId, to: &Store) -> anyhow::Result<()> {
        let (from, into) = (self.log_file(run)?, to.log_file(run)?);
        if !from.exists() {
            return Ok(());
        }
        if let Some(dir) = into.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::copy(&from, &into)
            .with_context(|| format!("cannot copy {} to {}", from.display(), into.display()))?;
        Ok(())
    }

    /// Deletes a run's log file (its index goes with the run's keys).
    pub(super) fn remove_log_file(&self, run: &RunId) -> anyhow::Result<()> {
        let path = self.log_file(run)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot delete {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// The steps of a run that have stored lines.
    fn log_steps(&self, run: &RunId) -> anyhow::Result<Vec<StepId>> {
        let p = prefix(run);
        let mut from = p.clone();
        // Past the schema 2 keys (`run \0 seq`, whose seq starts with a zero byte).
        from.push(1);
        let mut steps = Vec::new();
        while let Some(item) = self.logs.range(from.clone()..).keys().next() {
            let k = item?;
            let Some(rest) = k.strip_prefix(p.as_slice()) else {
                break;
            };
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                break;
            };
            let step = StepId(String::from_utf8_lossy(&rest[..end]).into_owned());
            from = p.clone();
            from.extend_from_slice(&rest[..end]);
            from.push(1);
            steps.push(step);
        }
        Ok(steps)
    }

    /// The log streams of `step`'s items (`step[0]`, `step[1]`, ...), found by their keys.
    fn item_streams(&self, run: &RunId, step: &StepId) -> anyhow::Result<Vec<StepId>> {
        if crate::store::parse_item_key(step.as_str()).is_some() {
            return Ok(Vec::new());
        }
        let p = prefix(run);
        let mut from = p.clone();
        from.extend_from_slice(step.0.as_bytes());
        from.push(b'[');
        let stem = from.clone();
        let mut items = Vec::new();
        while let Some(key) = self.logs.range(from.clone()..).keys().next() {
            let k = key?;
            if !k.starts_with(&stem) {
                break;
            }
            let rest = &k[p.len()..];
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                break;
            };
            let name = String::from_utf8_lossy(&rest[..end]).into_owned();
            from = p.clone();
            from.extend_from_slice(&rest[..end]);
            from.push(1);
            if crate::store::parse_item_key(&name).is_some_and(|(s, _)| &s == step) {
                items.push(StepId(name));
            }
        }
        Ok(items)
    }

    fn cursors(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: Option<u64>,
    ) -> anyhow::Result<Vec<Cursor>> {
        let steps = match step {
            // A fan-out step's lines are its own and its items' (`step[i]`).
            Some(s) => std::iter::once(s.clone())
                .chain(self.item_streams(run, s)?)
                .collect(),
            None => self.log_steps(run)?,
        };
        let file =
            crate::fsperm::open_nofollow(OpenOptions::new().read(true), &self.log_file(run)?)
                .ok()
                .map(Arc::new);
        Ok(steps
            .into_iter()
            .map(|step| {
                let chunks: Box<dyn Iterator<Item = _>> = match after {
                    Some(after) => {
                        let from = chunk_key(run, &step, after.saturating_add(1));
                        let to = chunk_key(run, &step, u64::MAX);
                        Box::new(self.logs.range(from..=to))
                    }
                    None => Box::new(self.logs.scan_prefix(step_prefix(run, &step)).rev()),
                };
                Cursor {
                    step,
                    file: file.clone(),
                    chunks,
                    lines: Vec::new(),
                    forward: after.is_some(),
                }
            })
            .collect())
    }

    /// Log lines with `seq > after`, of one step if given, at most `limit`, in seq order.
    pub fn logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        after: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        let mut cursors = self.cursors(run, step, Some(after))?;
        let mut heads = BinaryHeap::new();
        let mut pending: HashMap<usize, LogLine> = HashMap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            while let Some(line) = c.next()? {
                if line.seq > after {
                    heads.push(Reverse((line.seq, i)));
                    pending.insert(i, line);
                    break;
                }
            }
        }
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(Reverse((_, i))) = heads.pop() else {
                break;
            };
            if let Some(line) = pending.remove(&i) {
                out.push(line);
            }
            if let Some(next) = cursors[i].next()? {
                heads.push(Reverse((next.seq, i)));
                pending.insert(i, next);
            }
        }
        Ok(out)
    }

    /// The last `limit` log lines of a run (of one step if given), oldest first.
    pub fn tail_logs(
        &self,
        run: &RunId,
        step: Option<&StepId>,
        limit: usize,
    ) -> anyhow::Result<Vec<LogLine>> {
        let mut cursors = self.cursors(run, step, None)?;
        let mut heads = BinaryHeap::new();
        let mut pending: HashMap<usize, LogLine> = HashMap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(line) = c.next()? {
                heads.push((line.seq, i));
                pending.insert(i, line);
            }
        }
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((_, i)) = heads.pop() else { break };
            if let Some(line) = pending.remove(&i) {
                out.push(line);
            }
            if let Some(next) = cursors[i].next()? {
                heads.push((next.seq, i));
                pending.insert(i, next);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The highest log seq of a run (0 when none).
    pub fn last_log_seq(&self, run: &RunId) -> anyhow::Result<u64> {
        let mut last = 0;
        for step in self.log_steps(run)? {
            last = last.max(last_seq(&self.logs, step_prefix(run, &step))?);
        }
        Ok(last)
    }

    /// Brings a store written at schema version `found` up to the current one, a step at a
    /// time; each step is safe to repeat if cut short (the version is set after).
    pub(super) fn migrate_from(&self, found: u32) -> anyhow::Result<()> {
        if found < 2 {
            self.migrate_from_v1()?;
        }
        if found < 3 {
            self.migrate_logs_from_v2()?;
        }
        if found < 4 {
            self.migrate_cache_from_v3()?;
        }
        if found < 5 {
            self.migrate_plans_from_v4()?;
        }
        Ok(())
    }

    /// Schema 2 kept a key per line (`run \0 seq`, JSON); schema 3 keeps chunks. Each chunk
    /// is written in one operation with the removal of the old keys it replaces, so a
    /// migration cut short resumes where it stopped. Memory stays at a chunk per step.
    pub(super) fn migrate_logs_from_v2(&self) -> anyhow::Result<()> {
        let mut open: HashMap<(RunId, StepId), Migrating> = HashMap::new();
        let mut current_run: Option<RunId> = None;
        for item in self.logs.iter() {
            let (k, v) = item?;
            let Some(zero) = k.iter().position(|&b| b == 0) else {
                continue;
            };
            if k.len() != zero + 9 || k[zero + 1] != 0 {
                continue;
            }
            let run = RunId(String::from_utf8_lossy(&k[..zero]).into_owned());
            if current_run.as_ref() != Some(&run) {
                self.write_migrated(open.drain().collect())?;
                current_run = Some(run.clone());
            }
            let line: LogLine = decode(&v, "log")?;
            let key = (run, line.step.clone());
            let entry = open.entry(key.clone()).or_default();
            entry.2 += line.text.len() + 2;
            entry.0.push(line);
            entry.1.push(k);
            if entry.2 >= CHUNK_BYTES
                && let Some(full) = open.remove(&key)
            {
                self.write_migrated(vec![(key, full)])?;
            }
        }
        self.write_migrated(open.drain().collect())?;
        // Schema 2 also wrote every line to a file per run for `logs --follow`; schema 3
        // follows through the owner's socket instead.
        let tail = self.dir.join("tail");
        if tail.exists() {
            std::fs::remove_dir_all(&tail).with_context(|| {
                format!("cannot remove the old live logs in {}", tail.display())
            })?;
        }
        Ok(())
    }

    fn write_migrated(&self, chunks: Vec<((RunId, StepId), Migrating)>) -> anyhow::Result<()> {
        for ((run, step), (lines, old_keys, _)) in chunks {
            self.put_logs(&run, &[(&step, &lines)])?;
            // Cut short here, the next open writes the same chunk again, under the same key.
            super::remove_keys(&self.logs, old_keys)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{raw_db_of_version, run};
    use crate::store::{LogStream, RunState, Timestamp, encode};

    #[test]
    fn a_cut_note_is_found_again_and_only_a_cut_note() {
        let cut = cut_line("abcdefgh", 3).into_owned();
        assert_eq!(
            cut_line(&"x".repeat(100), 60).len(),
            12 + "… (+88 bytes cut)".len()
        );
        assert_eq!(split_cut_note(&cut), ("", "… (+8 bytes cut)"));
        let kept = format!("{}{}", "y".repeat(50), line_cut_note(7));
        assert_eq!(split_cut_note(&kept).0, "y".repeat(50));
        assert_eq!(split_cut_note("says … (+x bytes cut)").1, "");
        assert_eq!(split_cut_note("plain").0, "plain");
    }

    fn line(seq: u64, step: &str, text: String) -> LogLine {
        LogLine {
            seq,
            ts: Timestamp(1_700_000_000_000 + seq / 7),
            step: StepId(step.into()),
            stream: if seq.is_multiple_of(5) {
                LogStream::Stderr
            } else {
                LogStream::Stdout
            },
            text,
        }
    }

    /// Two steps whose lines interleave, written in many chunks each, some written late (as
    /// the kept tail of a capped step is).
    fn interleaved(store: &Store, r: &RunId) -> Vec<LogLine> {
        let all: Vec<LogLine> = (1..=6000u64)
            .map(|seq| {
                let step = if (seq / 3) % 2 == 0 { "even" } else { "odd" };
                line(seq, step, format!("line {seq} {}", "x".repeat(40)))
            })
            .collect();
        for step in ["odd", "even"] {
            let mine: Vec<LogLine> = all.iter().filter(|l| l.step.0 == step).cloned().collect();
            for part in mine.chunks(700) {
                store.put_logs(r, &[(&StepId(step.into()), part)]).unwrap();
            }
        }
        all
    }

    #[test]
    fn logs_page_by_seq_across_chunks_and_steps_and_filter_by_step() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let r = RunId("r".into());
        let all = interleaved(&store, &r);
        let chunks = store.logs.scan_prefix(prefix(&r)).count();
        assert!(chunks > 10, "{chunks} chunks");
        // Paging by seq in pages of 333 gives every line once, in order.
        let mut after = 0;
        let mut read = Vec::new();
        loop {
            let page = store.logs(&r, None, after, 333).unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            read.extend(page);
        }
        assert_eq!(read, all);
        let odd: Vec<LogLine> = all.iter().filter(|l| l.step.0 == "odd").cloned().collect();
        assert_eq!(
            store
                .logs(&r, Some(&StepId("odd".into())), 0, 100_000)
                .unwrap(),
            odd
        );
        let from_mid = store.logs(&r, None, 2999, 4).unwrap();
        assert_eq!(
            from_mid.iter().map(|l| l.seq).collect::<Vec<_>>(),
            [3000, 3001, 3002, 3003]
        );
        assert_eq!(store.last_log_seq(&r).unwrap(), 6000);
        assert_eq!(store.tail_logs(&r, None, 1000).unwrap(), all[5000..]);
        assert_eq!(
            store
                .tail_logs(&r, Some(&StepId("even".into())), 5)
                .unwrap(),
            odd_or_even(&all, "even")[odd_or_even(&all, "even").len() - 5..]
        );
        // Another run's lines stay apart.
        assert!(
            store
                .logs(&RunId("r2".into()), None, 0, 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.last_log_seq(&RunId("r2".into())).unwrap(), 0);
    }

    fn odd_or_even(all: &[LogLine], step: &str) -> Vec<LogLine> {
        all.iter().filter(|l| l.step.0 == step).cloned().collect()
    }

    /// A store written by schema 2: a JSON value per log line, and a live log file per run.
    #[test]
    fn a_schema_2_store_gets_its_log_lines_in_chunks_without_losing_any() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunId("old-run".into());
        let lines: Vec<LogLine> = (1..=3000u64)
            .map(|seq| {
                line(
                    seq,
                    if seq % 3 == 0 { "b" } else { "a" },
                    format!("old {seq}"),
                )
            })
            .collect();
        {
            let db = raw_db_of_version(dir.path(), 2);
            db.open_tree("runs")
                .unwrap()
                .insert(
                    r.0.as_bytes(),
                    encode(&run("old-run", RunState::Failed)).unwrap(),
                )
                .unwrap();
            let logs = db.open_tree("logs").unwrap();
            for l in &lines {
                let mut k = prefix(&r);
                k.extend_from_slice(&l.seq.to_be_bytes());
                logs.insert(k, encode(l).unwrap()).unwrap();
            }
            db.flush().unwrap();
            std::fs::create_dir_all(dir.path().join("tail")).unwrap();
            std::fs::write(dir.path().join("tail").join("old-run.jsonl"), "{}\n").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.logs(&r, None, 0, 10_000).unwrap(), lines);
        assert_eq!(store.last_log_seq(&r).unwrap(), 3000);
        let keys = store.logs.len();
        assert!(keys < 30, "the old key per line is gone: {keys} keys");
        assert!(!dir.path().join("tail").exists());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store
                .logs(&r, Some(&StepId("b".into())), 0, 10_000)
                .unwrap(),
            odd_or_even(&lines, "b")
        );
    }
}
