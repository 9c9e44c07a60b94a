//! A step's log as its activity reports it: every line up to half the limit, then the newest
//! lines within the other half (the middle is dropped and counted), so a result or a heartbeat
//! stays bounded however much the step prints.

use std::collections::VecDeque;

use crate::spec::StepId;
use crate::store::{LogLine, LogStream, Timestamp};

/// Lines kept of one step's log.
#[derive(Debug)]
pub struct LogBuf {
    step: StepId,
    limit: usize,
    head: Vec<LogLine>,
    head_bytes: usize,
    tail: VecDeque<LogLine>,
    tail_bytes: usize,
    dropped: u64,
    seq: u64,
}

impl LogBuf {
    /// An empty log of `step`, keeping about `limit` bytes.
    pub fn new(step: StepId, limit: usize) -> LogBuf {
        LogBuf {
            step,
            limit: limit.max(2),
            head: Vec::new(),
            head_bytes: 0,
            tail: VecDeque::new(),
            tail_bytes: 0,
            dropped: 0,
            seq: 0,
        }
    }

    /// Adds a line (already redacted).
    pub fn push(&mut self, stream: LogStream, text: &str) {
        self.seq += 1;
        let line = LogLine {
            seq: self.seq,
            ts: Timestamp::now(),
            step: self.step.clone(),
            stream,
            text: text.to_string(),
        };
        let size = text.len() + 1;
        if self.tail.is_empty() && self.head_bytes + size <= self.limit / 2 {
            self.head_bytes += size;
            self.head.push(line);
            return;
        }
        self.tail_bytes += size;
        self.tail.push_back(line);
        while self.tail_bytes > self.limit / 2 && self.tail.len() > 1 {
            if let Some(old) = self.tail.pop_front() {
                self.tail_bytes -= old.text.len() + 1;
                self.dropped += 1;
            }
        }
    }

    /// Every line kept, with a line saying how many were dropped between head and tail.
    pub fn lines(&self) -> Vec<LogLine> {
        let mut all = self.head.clone();
        if self.dropped > 0 {
            all.push(LogLine {
                seq: self
                    .tail
                    .front()
                    .map_or(self.seq, |l| l.seq.saturating_sub(1)),
                ts: self.tail.front().map_or(Timestamp::now(), |l| l.ts),
                step: self.step.clone(),
                stream: LogStream::System,
                text: format!("… {} lines not kept (log_limit) …", self.dropped),
            });
        }
        all.extend(self.tail.iter().cloned());
        all
    }

    /// The newest lines within `bytes`, oldest first (what a heartbeat carries).
    pub fn tail(&self, bytes: usize) -> Vec<LogLine> {
        let mut out = Vec::new();
        let mut used = 0;
        for line in self.tail.iter().rev().chain(self.head.iter().rev()) {
            used += line.text.len() + 1;
            if used > bytes && !out.is_empty() {
                break;
            }
            out.push(line.clone());
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[LogLine]) -> Vec<String> {
        lines.iter().map(|l| l.text.clone()).collect()
    }

    #[test]
    fn a_long_log_keeps_its_head_and_its_newest_lines_and_counts_the_rest() {
        let mut log = LogBuf::new(StepId("s".into()), 40);
        for i in 0..100 {
            log.push(LogStream::Stdout, &format!("line {i:03}"));
        }
        let kept = texts(&log.lines());
        assert_eq!(kept[..2], ["line 000".to_string(), "line 001".to_string()]);
        assert_eq!(kept.last().map(String::as_str), Some("line 099"));
        assert!(
            kept.iter().any(|t| t.contains("lines not kept")),
            "{kept:?}"
        );
        assert!(kept.len() < 10, "{kept:?}");
    }

    #[test]
    fn the_tail_is_the_newest_lines_in_order() {
        let mut log = LogBuf::new(StepId("s".into()), 1 << 20);
        for i in 0..5 {
            log.push(LogStream::Stdout, &format!("l{i}"));
        }
        assert_eq!(texts(&log.tail(6)), ["l3", "l4"]);
    }
}
