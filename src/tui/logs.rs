//! Log lines kept in memory: a bounded ring per step and one for the whole run (the rest stays
//! in the store and is fetched on scroll-back), plus the log pane's view state and its search
//! ("n of m").

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use crate::spec::StepId;
use crate::store::{LogLine, LogStream, Timestamp};

use super::text;

/// Lines a ring keeps before dropping the oldest.
pub const RING_CAPACITY: usize = 10_000;

/// Lines fetched from the store per scroll-back page.
pub const PAGE: usize = 500;

/// One line ready to draw: `\r` collapsed and cut to a safe length, escapes still in.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Per-run sequence number.
    pub seq: u64,
    /// When it was captured.
    pub ts: Timestamp,
    /// Which step wrote it.
    pub step: StepId,
    /// Which stream.
    pub stream: LogStream,
    /// The prepared text (may hold SGR sequences).
    pub text: String,
}

impl LogEntry {
    /// Prepares a captured line.
    pub fn from_line(line: &LogLine) -> LogEntry {
        LogEntry {
            seq: line.seq,
            ts: line.ts,
            step: line.step.clone(),
            stream: line.stream,
            text: text::prepare_line(&line.text),
        }
    }

    /// The text as a reader sees it (no escapes).
    pub fn plain(&self) -> std::borrow::Cow<'_, str> {
        text::strip_ansi(&self.text)
    }
}

/// A window of a log, ordered by `seq`, at most `capacity` lines.
#[derive(Debug, Clone)]
pub struct LogRing {
    lines: VecDeque<Arc<LogEntry>>,
    capacity: usize,
    /// Older lines exist in the store before the first one held.
    pub older_in_store: bool,
    /// Newer lines exist in the store after the last one held (after a scroll-back pushed them
    /// out); live lines are then not appended until the tail is reloaded.
    pub newer_in_store: bool,
}

impl Default for LogRing {
    fn default() -> Self {
        LogRing::new(RING_CAPACITY)
    }
}

impl LogRing {
    /// An empty ring.
    pub fn new(capacity: usize) -> LogRing {
        LogRing {
            lines: VecDeque::new(),
            capacity: capacity.max(1),
            older_in_store: false,
            newer_in_store: false,
        }
    }

    /// Most lines held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lines held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Holds no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The line at `index` (0 = oldest held).
    pub fn get(&self, index: usize) -> Option<&Arc<LogEntry>> {
        self.lines.get(index)
    }

    /// Iterates the lines, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<LogEntry>> + ExactSizeIterator {
        self.lines.iter()
    }

    /// Sequence number of the oldest line held.
    pub fn first_seq(&self) -> Option<u64> {
        self.lines.front().map(|l| l.seq)
    }

    /// Sequence number of the newest line held.
    pub fn last_seq(&self) -> Option<u64> {
        self.lines.back().map(|l| l.seq)
    }

    /// Index of the first line with `seq >= seq`.
    pub fn index_of_seq(&self, seq: u64) -> usize {
        self.lines.partition_point(|l| l.seq < seq)
    }

    /// Adds a live line; returns the lines dropped from the front to make room. Ignored
    /// (returns 0) when the ring is detached from the tail. A line older than the last one held (steps' lines reach the store in chunks of their
    /// own, so a tail read may hold a later line of one step before an earlier one of another)
    /// is put in its place, unless already held or older than the first.
    pub fn push(&mut self, entry: Arc<LogEntry>) -> usize {
        if self.newer_in_store {
            return 0;
        }
        if let Some(last) = self.last_seq()
            && entry.seq <= last
        {
            let at = self.index_of_seq(entry.seq);
            let held = self.lines.get(at).is_some_and(|l| l.seq == entry.seq);
            if !held && (at > 0 || !self.older_in_store) {
                self.lines.insert(at, entry);
                return self.trim_front();
            }
            return 0;
        }
        self.lines.push_back(entry);
        self.trim_front()
    }

    fn trim_front(&mut self) -> usize {
        let mut dropped = 0;
        while self.lines.len() > self.capacity {
            self.lines.pop_front();
            self.older_in_store = true;
            dropped += 1;
        }
        dropped
    }

    /// Replaces the content with `entries` (oldest first), e.g. the tail loaded from the store.
    pub fn replace(&mut self, entries: Vec<Arc<LogEntry>>, older_in_store: bool) {
        let skip = entries.len().saturating_sub(self.capacity);
        self.lines = entries.into_iter().skip(skip).collect();
        self.older_in_store = older_in_store || skip > 0;
        self.newer_in_store = false;
    }

    /// Puts older lines (oldest first, all older than the first held) in front, dropping the
    /// newest if over capacity.
    pub fn prepend(&mut self, entries: Vec<Arc<LogEntry>>, older_in_store: bool) {
        let first = self.first_seq();
        for entry in entries.into_iter().rev() {
            if first.is_some_and(|f| entry.seq >= f) {
                continue;
            }
            self.lines.push_front(entry);
        }
        while self.lines.len() > self.capacity {
            self.lines.pop_back();
            self.newer_in_store = true;
        }
        self.older_in_store = older_in_store;
    }
}

/// One occurrence of the search text.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The line's sequence number.
    pub seq: u64,
    /// Byte range in the line's plain text.
    pub range: Range<usize>,
}

/// A search over the run's whole log (read from the store in the background, live lines
/// added as they come): every hit, and which one is current.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogSearch {
    /// The text searched for.
    pub query: String,
    /// Hits in line order.
    pub hits: Vec<SearchHit>,
    /// Index of the current hit.
    pub current: usize,
    /// Which background search feeds it.
    pub generation: u64,
    /// Stored lines read so far.
    pub scanned: u64,
    /// The store is still being read.
    pub scanning: bool,
    /// The operator moved between hits (new hits then leave the current one alone).
    pub moved: bool,
}

impl LogSearch {
    /// Finds every hit of `query` in `lines`; the current hit is the last one (nearest the tail).
    pub fn run<'a>(query: &str, lines: impl Iterator<Item = &'a Arc<LogEntry>>) -> LogSearch {
        let mut search = LogSearch {
            query: query.to_string(),
            ..LogSearch::default()
        };
        search.extend(lines);
        search.current = search.hits.len().saturating_sub(1);
        search
    }

    /// A search of the whole log, fed by the background search `generation`.
    pub fn whole_log(query: &str, generation: u64) -> LogSearch {
        LogSearch {
            query: query.to_string(),
            generation,
            scanning: true,
            ..LogSearch::default()
        }
    }

    /// Merges hits read from the store (a live line may have found them first); the current
    /// hit stays the newest until the operator moves.
    pub fn add_found(&mut self, found: Vec<SearchHit>) {
        let current = self.current_hit().cloned();
        for hit in found {
            let at = self
                .hits
                .partition_point(|h| (h.seq, h.range.start) < (hit.seq, hit.range.start));
            if self.hits.get(at) != Some(&hit) {
                self.hits.insert(at, hit);
            }
        }
        self.current = match current.filter(|_| self.moved) {
            Some(hit) => self.hits.iter().position(|h| *h == hit).unwrap_or(0),
            None => self.hits.len().saturating_sub(1),
        };
    }

    /// Adds the hits of newly arrived lines.
    pub fn extend<'a>(&mut self, lines: impl Iterator<Item = &'a Arc<LogEntry>>) {
        if self.query.is_empty() {
            return;
        }
        for line in lines {
            for range in text::find_matches(&line.plain(), &self.query) {
                self.hits.push(SearchHit {
                    seq: line.seq,
                    range,
                });
            }
        }
    }

    /// Forgets hits on lines older than `first_seq` (dropped from the ring).
    pub fn forget_before(&mut self, first_seq: u64) {
        let gone = self.hits.partition_point(|h| h.seq < first_seq);
        if gone > 0 {
            self.hits.drain(..gone);
            self.current = self.current.saturating_sub(gone);
        }
    }

    /// Moves to the next hit (wrapping).
    pub fn next(&mut self) {
        self.moved = true;
        if !self.hits.is_empty() {
            self.current = (self.current + 1) % self.hits.len();
        }
    }

    /// Moves to the previous hit (wrapping).
    pub fn prev(&mut self) {
        self.moved = true;
        if !self.hits.is_empty() {
            self.current = (self.current + self.hits.len() - 1) % self.hits.len();
        }
    }

    /// The current hit.
    pub fn current_hit(&self) -> Option<&SearchHit> {
        self.hits.get(self.current)
    }

    /// `3 of 17`, or `no match`; `(searching… 40000 lines)` while the store is read.
    pub fn position(&self) -> String {
        let found = if self.hits.is_empty() {
            "no match".to_string()
        } else {
            format!("{} of {}", self.current + 1, self.hits.len())
        };
        if self.scanning {
            format!("{found} (searching… {} lines)", self.scanned)
        } else {
            found
        }
    }
}

/// How the log pane shows its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    /// Stick to the newest line.
    pub follow: bool,
    /// Wrap long lines instead of cutting them at the pane's edge.
    pub wrap: bool,
    /// Prefix each line with its time.
    pub timestamps: bool,
    /// Show only the selected step's lines (else every step's).
    pub selected_step_only: bool,
    /// When not following: the sequence number of the top line shown.
    pub top_seq: u64,
    /// The active search, if any.
    pub search: Option<LogSearch>,
    /// Rows scrolled up past the first line held, taken once older lines arrive.
    pub pending_up: usize,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            follow: true,
            wrap: false,
            timestamps: false,
            selected_step_only: false,
            top_seq: 0,
            search: None,
            pending_up: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, text: &str) -> Arc<LogEntry> {
        Arc::new(LogEntry::from_line(&LogLine {
            seq,
            ts: Timestamp(seq * 1000),
            step: StepId::from("s"),
            stream: LogStream::Stdout,
            text: text.to_string(),
        }))
    }

    #[test]
    fn ring_drops_the_oldest_line_when_full() {
        let mut ring = LogRing::new(3);
        for seq in 1..=5 {
            ring.push(entry(seq, "x"));
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.first_seq(), Some(3));
        assert_eq!(ring.last_seq(), Some(5));
        assert!(ring.older_in_store);
    }

    #[test]
    fn ring_ignores_lines_it_already_holds() {
        let mut ring = LogRing::new(10);
        ring.push(entry(1, "a"));
        ring.push(entry(2, "b"));
        ring.push(entry(2, "b again"));
        ring.push(entry(1, "a again"));
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn a_line_that_comes_late_takes_its_place_in_seq_order() {
        let mut ring = LogRing::new(10);
        for seq in [1, 2, 6] {
            ring.push(entry(seq, "stored"));
        }
        for seq in [3, 4, 5, 6] {
            ring.push(entry(seq, "live"));
        }
        let seqs: Vec<u64> = ring.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn scroll_back_prepends_and_detaches_from_the_tail_when_full() {
        let mut ring = LogRing::new(4);
        ring.replace((10..=13).map(|s| entry(s, "x")).collect(), true);
        ring.prepend((7..=9).map(|s| entry(s, "x")).collect(), true);
        assert_eq!(ring.first_seq(), Some(7));
        assert_eq!(ring.last_seq(), Some(10));
        assert!(ring.newer_in_store);
        assert_eq!(ring.push(entry(14, "live")), 0);
        assert_eq!(ring.last_seq(), Some(10));
        assert_eq!(ring.index_of_seq(9), 2);
    }

    #[test]
    fn search_counts_every_hit_and_moves_with_wrap_around() {
        let lines: Vec<_> = vec![
            entry(1, "error: one"),
            entry(2, "fine"),
            entry(3, "\x1b[31merror\x1b[0m two, Error three"),
        ];
        let mut search = LogSearch::run("error", lines.iter());
        assert_eq!(search.hits.len(), 3);
        assert_eq!(search.position(), "3 of 3");
        search.next();
        assert_eq!(search.position(), "1 of 3");
        search.prev();
        search.prev();
        assert_eq!(search.position(), "2 of 3");
        assert_eq!(search.current_hit().map(|h| h.seq), Some(3));
        assert_eq!(search.current_hit().map(|h| h.range.clone()), Some(0..5));
    }

    #[test]
    fn search_forgets_hits_of_dropped_lines() {
        let lines: Vec<_> = (1..=4).map(|s| entry(s, "hit")).collect();
        let mut search = LogSearch::run("hit", lines.iter());
        search.forget_before(3);
        assert_eq!(search.position(), "2 of 2");
        let empty = LogSearch::run("zzz", lines.iter());
        assert_eq!(empty.position(), "no match");
    }
}
