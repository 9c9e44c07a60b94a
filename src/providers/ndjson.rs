//! An incremental newline-delimited JSON line splitter (Ollama's streaming format).
//!
//! Chunks may split a line, or a UTF-8 character, anywhere; only complete, non-blank lines
//! come out. Parsing the JSON is the caller's business, so a bad line can be reported with
//! its text.

/// Splits byte chunks into complete lines; feed with [`NdjsonDecoder::push`], end with
/// [`NdjsonDecoder::finish`].
#[derive(Debug, Default)]
pub struct NdjsonDecoder {
    partial: Vec<u8>,
}

impl NdjsonDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk; returns the lines it completed (trimmed, blank lines skipped).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                self.partial.extend_from_slice(&chunk[start..i]);
                let line = std::mem::take(&mut self.partial);
                push_line(&line, &mut out);
                start = i + 1;
            }
        }
        self.partial.extend_from_slice(&chunk[start..]);
        out
    }

    /// Ends the stream: a last line without a newline is still delivered.
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let line = std::mem::take(&mut self.partial);
        push_line(&line, &mut out);
        out
    }
}

fn push_line(raw: &[u8], out: &mut Vec<String>) {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    if !text.is_empty() {
        out.push(text.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "{\"message\":{\"content\":\"héllo\"},\"done\":false}\n\r\n\
        {\"message\":{\"content\":\" wörld\"},\"done\":false}\r\n\
        {\"done\":true,\"eval_count\":2}";

    fn expected() -> Vec<String> {
        vec![
            "{\"message\":{\"content\":\"héllo\"},\"done\":false}".to_string(),
            "{\"message\":{\"content\":\" wörld\"},\"done\":false}".to_string(),
            "{\"done\":true,\"eval_count\":2}".to_string(),
        ]
    }

    fn decode(bytes: &[u8], cuts: &[usize]) -> Vec<String> {
        let mut d = NdjsonDecoder::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts {
            out.extend(d.push(&bytes[last..c]));
            last = c;
        }
        out.extend(d.push(&bytes[last..]));
        out.extend(d.finish());
        out
    }

    #[test]
    fn every_pair_of_split_points_gives_the_same_lines() {
        let bytes = STREAM.as_bytes();
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                assert_eq!(decode(bytes, &[a, b]), expected(), "cuts {a},{b}");
            }
        }
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_lines() {
        let bytes = STREAM.as_bytes();
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(decode(bytes, &cuts), expected());
    }

    #[test]
    fn complete_lines_come_out_before_the_stream_ends() {
        let mut d = NdjsonDecoder::new();
        assert_eq!(d.push(b"{\"a\":1}\n{\"b\""), vec!["{\"a\":1}".to_string()]);
        assert_eq!(d.push(b":2}\n"), vec!["{\"b\":2}".to_string()]);
        assert!(d.finish().is_empty());
    }
}
