//! An incremental Server-Sent Events decoder.
//!
//! Bytes arrive in whatever pieces the network delivers: a line, an event or even a UTF-8
//! character may be split across two chunks. The decoder keeps the unfinished line and the
//! unfinished event between calls and hands back only complete events. It follows the
//! WHATWG event-stream rules that matter for LLM APIs: `\n`, `\r\n` and `\r` line ends,
//! `:` comment lines (OpenRouter keep-alives), an optional single space after `field:`,
//! multi-line `data`, and `event:` names (Anthropic).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` name, when one was given.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Turns byte chunks into [`SseEvent`]s; feed it with [`SseDecoder::push`], end with
/// [`SseDecoder::finish`].
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`; a `\n` starting the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    started: bool,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut bytes = chunk;
        if bytes.is_empty() {
            return out;
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' | b'\r' => {
                    self.line.extend_from_slice(&bytes[start..i]);
                    let line = std::mem::take(&mut self.line);
                    self.take_line(&line, &mut out);
                    if bytes[i] == b'\r' {
                        if i + 1 == bytes.len() {
                            self.after_cr = true;
                        } else if bytes[i + 1] == b'\n' {
                            i += 1;
                        }
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.line.extend_from_slice(&bytes[start..]);
        out
    }

    /// Ends the stream: a last line without a line end and an event without its blank line
    /// are still delivered (servers that close right after the last `data:` line exist).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.take_line(&line, &mut out);
        }
        self.dispatch(&mut out);
        out
    }

    fn take_line(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) {
        let mut raw = raw;
        if !self.started {
            self.started = true;
            if let Some(rest) = raw.strip_prefix("\u{feff}".as_bytes()) {
                raw = rest;
            }
        }
        if raw.is_empty() {
            self.dispatch(out);
            return;
        }
        if raw[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(raw);
        let (field, value) = match line.find(':') {
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id`, `retry` and unknown fields do not matter for one-shot LLM streams.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &cut in cuts {
            out.extend(d.push(&input[last..cut]));
            last = cut;
        }
        out.extend(d.push(&input[last..]));
        out.extend(d.finish());
        out
    }

    const STREAM: &str = ": OPENROUTER PROCESSING\n\nevent: message_start\ndata: {\"a\":1}\n\n\
        data:{\"b\":\"é—ü\"}\r\n\r\nevent: ping\r\ndata: {}\r\n\r\ndata: line1\ndata: line2\n\n\
        id: 7\nretry: 10\ndata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                event: None,
                data: "{\"b\":\"é—ü\"}".into(),
            },
            SseEvent {
                event: Some("ping".into()),
                data: "{}".into(),
            },
            SseEvent {
                event: None,
                data: "line1\nline2".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn whole_stream_in_one_chunk_gives_every_event() {
        assert_eq!(decode_in_pieces(STREAM.as_bytes(), &[]), expected());
    }

    #[test]
    fn every_single_split_point_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(decode_in_pieces(bytes, &[cut]), expected(), "cut at {cut}");
        }
    }

    #[test]
    fn every_pair_of_split_points_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                assert_eq!(decode_in_pieces(bytes, &[a, b]), expected(), "cuts {a},{b}");
            }
        }
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(decode_in_pieces(bytes, &cuts), expected());
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        assert_eq!(
            decode_in_pieces(b"data: a\r\rdata: b\r\r", &[8]),
            vec![
                SseEvent {
                    event: None,
                    data: "a".into()
                },
                SseEvent {
                    event: None,
                    data: "b".into()
                }
            ]
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_its_name_is_dropped() {
        assert_eq!(
            decode_in_pieces(b"event: ping\n\ndata: x\n\n", &[]),
            vec![SseEvent {
                event: None,
                data: "x".into()
            }]
        );
    }

    #[test]
    fn finish_delivers_an_event_missing_its_blank_line() {
        assert_eq!(
            decode_in_pieces(b"data: {\"x\":1}", &[3]),
            vec![SseEvent {
                event: None,
                data: "{\"x\":1}".into()
            }]
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_ignored() {
        assert_eq!(
            decode_in_pieces("\u{feff}data: x\n\n".as_bytes(), &[1]),
            vec![SseEvent {
                event: None,
                data: "x".into()
            }]
        );
    }
}
