//! The byte layout of a log chunk: a step's consecutive lines in ~32 KiB, with almost no
//! overhead per line, so that storing a log costs about its own size.
//!
//! A chunk is a version byte, then groups of lines that share a stream and a timestamp and
//! whose seqs follow one another:
//!
//! ```text
//! group := count seq_gap ts_delta stream (len text){count}
//! ```
//!
//! `count`, `seq_gap` (first seq of the group minus the previous line's seq; absolute in the
//! first group) and `len` are LEB128; `ts_delta` is a zigzag LEB128 difference of milliseconds
//! from the previous group (absolute in the first); `stream` is one byte. A run of short lines
//! from one step thus costs one length byte per line, where the output had a newline.

use anyhow::bail;

use super::{LogLine, LogStream, Timestamp};
use crate::spec::StepId;

const VERSION: u8 = 1;

/// A chunk is closed once its encoding passes this size.
pub const CHUNK_BYTES: usize = 32 * 1024;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(bytes: &[u8], at: &mut usize) -> anyhow::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*at) else {
            bail!("a log chunk ends in the middle of a number");
        };
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    bail!("a log chunk holds a number longer than 64 bits")
}

fn stream_byte(s: LogStream) -> u8 {
    match s {
        LogStream::Stdout => 0,
        LogStream::Stderr => 1,
        LogStream::System => 2,
    }
}

fn stream_of(b: u8) -> anyhow::Result<LogStream> {
    Ok(match b {
        0 => LogStream::Stdout,
        1 => LogStream::Stderr,
        2 => LogStream::System,
        _ => bail!("a log chunk names an unknown stream {b}"),
    })
}

/// Lines of one step, encoded; what the cap and the store need to know of them.
#[derive(Debug, Clone, PartialEq)]
pub struct LogChunk {
    /// The seq of its last line (its key).
    pub last_seq: u64,
    /// How many lines.
    pub lines: u64,
    /// Their text, a byte more per line for its newline: what the step printed.
    pub printed: u64,
    pub(super) bytes: Vec<u8>,
}

impl LogChunk {
    /// Encodes lines of one step, in rising seq order.
    pub fn encode(lines: &[LogLine]) -> LogChunk {
        LogChunk {
            last_seq: lines.last().map_or(0, |l| l.seq),
            lines: lines.len() as u64,
            printed: lines.iter().map(|l| l.text.len() as u64 + 1).sum(),
            bytes: encode(lines),
        }
    }
}

/// Encodes lines of one step, in rising seq order, as one chunk.
pub(super) fn encode(lines: &[LogLine]) -> Vec<u8> {
    let text: usize = lines.iter().map(|l| l.text.len() + 1).sum();
    let mut out = Vec::with_capacity(text + 16);
    out.push(VERSION);
    let (mut prev_seq, mut prev_ts) = (0u64, 0u64);
    let mut i = 0;
    while i < lines.len() {
        let first = &lines[i];
        let mut n = 1;
        while let Some(next) = lines.get(i + n) {
            let prev = &lines[i + n - 1];
            if next.seq != prev.seq + 1 || next.ts != first.ts || next.stream != first.stream {
                break;
            }
            n += 1;
        }
        put_varint(&mut out, n as u64);
        put_varint(&mut out, first.seq.wrapping_sub(prev_seq));
        let delta = first.ts.0.wrapping_sub(prev_ts) as i64;
        put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
        out.push(stream_byte(first.stream));
        for line in &lines[i..i + n] {
            put_varint(&mut out, line.text.len() as u64);
            out.extend_from_slice(line.text.as_bytes());
        }
        prev_seq = lines[i + n - 1].seq;
        prev_ts = first.ts.0;
        i += n;
    }
    out
}

/// Decodes a chunk of `step`'s lines.
pub(super) fn decode(bytes: &[u8], step: &StepId) -> anyhow::Result<Vec<LogLine>> {
    if bytes.first() != Some(&VERSION) {
        bail!(
            "a log chunk of step `{step}` has an unknown layout (written by another baton version?)"
        );
    }
    let mut out = Vec::new();
    let mut at = 1;
    let (mut seq, mut ts) = (0u64, 0u64);
    while at < bytes.len() {
        let n = varint(bytes, &mut at)?;
        seq = seq.wrapping_add(varint(bytes, &mut at)?);
        let z = varint(bytes, &mut at)?;
        ts = ts.wrapping_add(((z >> 1) as i64 ^ -((z & 1) as i64)) as u64);
        let Some(&s) = bytes.get(at) else {
            bail!("a log chunk of step `{step}` is cut short");
        };
        let stream = stream_of(s)?;
        at += 1;
        for k in 0..n {
            let len = varint(bytes, &mut at)? as usize;
            let Some(text) = bytes.get(at..at.saturating_add(len)) else {
                bail!("a log chunk of step `{step}` is cut short");
            };
            at += len;
            out.push(LogLine {
                seq: seq + k,
                ts: Timestamp(ts),
                step: step.clone(),
                stream,
                text: String::from_utf8_lossy(text).into_owned(),
            });
        }
        seq += n.saturating_sub(1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, ts: u64, stream: LogStream, text: &str) -> LogLine {
        LogLine {
            seq,
            ts: Timestamp(ts),
            step: StepId("s".into()),
            stream,
            text: text.into(),
        }
    }

    #[test]
    fn lines_come_back_as_they_went_in() {
        let lines = vec![
            line(3, 1_700_000_000_000, LogStream::Stdout, "first"),
            line(4, 1_700_000_000_000, LogStream::Stdout, ""),
            line(
                9,
                1_700_000_000_005,
                LogStream::Stderr,
                "ünïcode\nwith a newline",
            ),
            line(10, 1_700_000_000_001, LogStream::System, &"x".repeat(300)),
        ];
        let bytes = encode(&lines);
        assert_eq!(decode(&bytes, &StepId("s".into())).unwrap(), lines);
    }

    #[test]
    fn a_run_of_short_lines_costs_what_the_output_did() {
        let lines: Vec<LogLine> = (1..=10_000)
            .map(|seq| line(seq, 1_700_000_000_000, LogStream::Stdout, "y"))
            .collect();
        let bytes = encode(&lines);
        // `yes` printed 2 bytes a line ("y\n"); the chunk keeps 2 and a small header.
        assert!(bytes.len() <= 20_000 + 16, "{}", bytes.len());
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        let bytes = encode(&[line(1, 1, LogStream::Stdout, "hello")]);
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut], &StepId("s".into()));
        }
        assert!(decode(&bytes[..bytes.len() - 1], &StepId("s".into())).is_err());
        assert!(decode(&[9, 1, 1], &StepId("s".into())).is_err());
    }
}
