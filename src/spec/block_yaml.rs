//! The fast path for the YAML workflows are usually written in: block mappings and sequences,
//! plain and one-line quoted scalars, one-line flow collections and comments, read straight into
//! the node tree in one pass over the text.
//!
//! It gives up (returns `None`) on anything else: anchors, aliases, tags, block scalars
//! (`|`, `>`), multi-line scalars and flow collections, `?` keys, merge keys, directives, a second
//! document, tabs, an empty value, a duplicate key, any syntax error. The full parser
//! (`node.rs`, over serde-saphyr's events) then reads the file, so a tree from here is always the
//! tree the full parser builds, and every error message is the full parser's
//! (`block_yaml_tests.rs` checks both on generated and mutated documents).

use bumpalo::Bump;

use super::node::{MAX_NODES, MapKey, Node, Value, duplicate, plain_scalar};
use super::types::Pos;

/// Flow collections nested deeper than this are left to the full parser.
const MAX_FLOW_DEPTH: usize = 64;

/// Implicit keys longer than this are an error in YAML; the full parser reports it.
const MAX_KEY_CHARS: usize = 1024;

/// Reads `text` into a tree whose lists, mappings and built text are allocated in `arena`, or
/// gives up.
pub fn read<'t>(text: &'t str, arena: &'t Bump) -> Option<Node<'t>> {
    if !plain_text(text) {
        return None;
    }
    let mut r = Cursor {
        arena,
        entries: Vec::new(),
        items: Vec::new(),
        built: String::new(),
        text,
        bytes: text.as_bytes(),
        i: 0,
        line: 1,
        line_start: 0,
        indent: None,
        ascii: text.is_ascii(),
        nodes: 0,
    };
    r.first_line()?;
    if r.indent != Some(0) {
        return None;
    }
    let root = r.block_mapping(0)?;
    // Everything was read: the root mapping ends only at the end of the text.
    r.indent.is_none().then_some(root)
}

/// Text with nothing the fast path leaves to the full parser anywhere in it: tabs, carriage
/// returns, control and non-printable characters, YAML 1.1 line breaks, a byte-order mark.
fn plain_text(text: &str) -> bool {
    // In blocks, without stopping early: the compiler turns this into vector instructions.
    let bytes_ok = text.as_bytes().chunks(256).all(|chunk| {
        chunk.iter().fold(true, |ok, &b| {
            ok & ((b == b'\n') | (b.wrapping_sub(0x20) < 0x5f) | (b >= 0x80))
        })
    });
    bytes_ok
        && (text.is_ascii()
            || text.chars().all(|c| {
                c.is_ascii()
                    || !matches!(
                        c,
                        '\u{7f}'
                            ..='\u{9f}'
                                | '\u{2028}'
                                | '\u{2029}'
                                | '\u{feff}'
                                | '\u{fffe}'
                                | '\u{ffff}'
                    )
            }))
}

struct Cursor<'t> {
    arena: &'t Bump,
    /// The entries of the mappings being read, innermost last: each mapping pushes its own
    /// above those of the mappings it is inside, and moves them to the arena when it ends.
    entries: Vec<(MapKey<'t>, Node<'t>)>,
    /// The same for the items of sequences.
    items: Vec<Node<'t>>,
    /// A quoted scalar's text as its escapes are undone.
    built: String,
    text: &'t str,
    bytes: &'t [u8],
    /// The byte being read.
    i: usize,
    /// Its line, from 1.
    line: u32,
    /// Where its line starts.
    line_start: usize,
    /// The indentation of the content line the cursor stands on (at its first character), or
    /// `None` at the end of the text.
    indent: Option<usize>,
    ascii: bool,
    nodes: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> u8 {
        self.bytes.get(self.i).copied().unwrap_or(b'\n')
    }

    fn peek_at(&self, k: usize) -> u8 {
        self.bytes.get(self.i + k).copied().unwrap_or(b'\n')
    }

    fn pos(&self) -> Pos {
        let col = if self.ascii {
            self.i - self.line_start
        } else {
            self.text
                .get(self.line_start..self.i)
                .map_or(0, |s| s.chars().count())
        };
        Pos {
            line: self.line,
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }

    fn count(&mut self, n: usize) -> Option<()> {
        self.nodes += n;
        (self.nodes <= MAX_NODES).then_some(())
    }

    fn skip_spaces(&mut self) {
        while self.bytes.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    /// At the end of a line (or of the text)?
    fn at_eol(&self) -> bool {
        self.peek() == b'\n'
    }

    /// Goes to the first content line, over a `---` line that opens the document.
    fn first_line(&mut self) -> Option<()> {
        self.skip_blank_lines(true)?;
        if self.indent == Some(0) && self.text[self.i..].starts_with("---") {
            self.i += 3;
            self.end_line()?;
        }
        Some(())
    }

    /// From the start of a line, skips blank and comment lines; stops at the first character of
    /// the next content line (setting `indent`) or at the end of the text.
    fn find_content(&mut self) -> Option<()> {
        self.skip_blank_lines(false)
    }

    /// [`Cursor::find_content`]; a document marker gives up unless `marker_ok`.
    fn skip_blank_lines(&mut self, marker_ok: bool) -> Option<()> {
        loop {
            if self.i >= self.bytes.len() {
                self.indent = None;
                return Some(());
            }
            self.line_start = self.i;
            self.skip_spaces();
            match self.peek() {
                b'\n' => {}
                b'#' => self.skip_to_eol(),
                _ => {
                    let indent = self.i - self.line_start;
                    let rest = &self.bytes[self.i..];
                    let marker = rest.starts_with(b"---") || rest.starts_with(b"...");
                    let alone = matches!(rest.get(3), None | Some(b' ' | b'\n'));
                    if indent == 0 && marker && alone && !marker_ok {
                        // A document marker: another document, or the end of this one.
                        return None;
                    }
                    self.indent = Some(indent);
                    return Some(());
                }
            }
            self.next_line();
        }
    }

    fn skip_to_eol(&mut self) {
        self.i = memchr_newline(self.bytes, self.i);
    }

    /// Steps over the newline the cursor stands on.
    fn next_line(&mut self) {
        if self.i < self.bytes.len() {
            self.i += 1;
            self.line += 1;
        }
    }

    /// After a value: only spaces and a comment may follow on its line; then on to the next
    /// content line.
    fn end_line(&mut self) -> Option<()> {
        let before = self.i;
        self.skip_spaces();
        match self.peek() {
            b'\n' => {}
            b'#' if self.i > before => self.skip_to_eol(),
            _ => return None,
        }
        self.next_line();
        self.find_content()
    }

    /// Is the cursor on a block sequence entry (`-` then a space or the end of the line)?
    fn at_entry(&self) -> bool {
        self.peek() == b'-' && matches!(self.peek_at(1), b' ' | b'\n')
    }

    /// A block mapping whose keys stand at column `col` (0-based); the cursor is on its first
    /// key.
    fn block_mapping(&mut self, col: usize) -> Option<Node<'t>> {
        self.count(1)?;
        let pos = self.pos();
        let base = self.entries.len();
        let mut seen: Option<std::collections::HashSet<String>> = None;
        loop {
            if self.at_entry() {
                return None;
            }
            let key = self.key()?;
            if key.name == "<<" || duplicate(&mut seen, &self.entries[base..], key.name) {
                return None;
            }
            self.count(1)?;
            let value = self.mapping_value(col)?;
            self.entries.push((key, value));
            match self.indent {
                Some(n) if n == col => {}
                Some(n) if n > col => return None,
                _ => break,
            }
        }
        Some(Node {
            pos,
            value: Value::Map(self.end_entries(base)),
        })
    }

    /// The value after `key:` in a block mapping at column `col`.
    fn mapping_value(&mut self, col: usize) -> Option<Node<'t>> {
        let before = self.i;
        self.skip_spaces();
        if self.at_eol() || (self.peek() == b'#' && self.i > before) {
            self.end_line()?;
            return match self.indent {
                Some(n) if n > col => self.block_node(n),
                Some(n) if n == col && self.at_entry() => self.block_sequence(n, true),
                // An empty value: the full parser knows where it places the null.
                _ => None,
            };
        }
        let value = self.inline_value()?;
        self.end_line()?;
        Some(value)
    }

    /// A block node whose first line is indented by `indent`.
    fn block_node(&mut self, indent: usize) -> Option<Node<'t>> {
        if self.at_entry() {
            self.block_sequence(indent, false)
        } else {
            self.block_mapping(indent)
        }
    }

    /// A block sequence whose `-` stand at column `col`; the cursor is on the first.
    /// `indentless`: written at its key's indentation.
    fn block_sequence(&mut self, col: usize, indentless: bool) -> Option<Node<'t>> {
        self.count(1)?;
        let mut pos = self.pos();
        let base = self.items.len();
        loop {
            self.i += 1;
            let before = self.i;
            self.skip_spaces();
            let first = self.items.len() == base;
            if indentless && first {
                // The full parser places such a sequence where its first entry's value starts,
                // not at the `-`.
                pos = self.pos();
            }
            let item = if self.at_eol() || (self.peek() == b'#' && self.i > before) {
                if indentless && first {
                    return None;
                }
                self.end_line()?;
                match self.indent {
                    Some(n) if n > col => self.block_node(n)?,
                    _ => return None,
                }
            } else if self.at_entry() {
                return None;
            } else {
                let item_col = self.i - self.line_start;
                if self.looks_like_key()? {
                    self.block_mapping(item_col)?
                } else {
                    let v = self.inline_value()?;
                    self.end_line()?;
                    v
                }
            };
            self.items.push(item);
            match self.indent {
                Some(n) if n == col && self.at_entry() => {}
                Some(n) if n > col => return None,
                _ => break,
            }
        }
        Some(Node {
            pos,
            value: Value::Seq(self.end_items(base)),
        })
    }

    /// Moves the entries of the mapping that started at `base` to the arena.
    fn end_entries(&mut self, base: usize) -> &'t [(MapKey<'t>, Node<'t>)] {
        let entries = self.arena.alloc_slice_copy(&self.entries[base..]);
        self.entries.truncate(base);
        entries
    }

    /// Moves the items of the sequence that started at `base` to the arena.
    fn end_items(&mut self, base: usize) -> &'t [Node<'t>] {
        let items = self.arena.alloc_slice_copy(&self.items[base..]);
        self.items.truncate(base);
        items
    }

    /// Does the content at the cursor start with a key (`name:` then a space or the line's
    /// end)? Reads ahead without moving.
    fn looks_like_key(&mut self) -> Option<bool> {
        let start = (self.i, self.line, self.nodes);
        let found = match self.peek() {
            b'"' | b'\'' => {
                self.quoted()?;
                self.skip_spaces();
                self.peek() == b':' && matches!(self.peek_at(1), b' ' | b'\n')
            }
            b'[' | b'{' => false,
            _ => self.plain_block()?.1,
        };
        (self.i, self.line, self.nodes) = start;
        Some(found)
    }

    /// A key and its `:`; the cursor ends after the colon.
    fn key(&mut self) -> Option<MapKey<'t>> {
        let pos = self.pos();
        let name = match self.peek() {
            b'"' | b'\'' => {
                let name = self.quoted()?;
                self.skip_spaces();
                if self.peek() != b':' {
                    return None;
                }
                name
            }
            _ => {
                let (name, is_key) = self.plain_block()?;
                if !is_key {
                    return None;
                }
                name
            }
        };
        if name.len() > MAX_KEY_CHARS && name.chars().count() > MAX_KEY_CHARS {
            return None;
        }
        self.i += 1;
        if !matches!(self.peek(), b' ' | b'\n') {
            return None;
        }
        Some(MapKey { name, pos })
    }

    /// A value written on the key's (or the entry's) line: a quoted or plain scalar, or a flow
    /// collection.
    fn inline_value(&mut self) -> Option<Node<'t>> {
        self.count(1)?;
        let pos = self.pos();
        let value = match self.peek() {
            b'"' | b'\'' => Value::Str(self.quoted()?),
            b'[' | b'{' => return self.flow_node(0),
            _ => {
                let (text, is_key) = self.plain_block()?;
                if is_key {
                    // `a: b: c`: a mapping cannot start on a key's line.
                    return None;
                }
                plain_scalar(text)
            }
        };
        Some(Node { pos, value })
    }

    /// A plain scalar in block context, up to a comment or the line's end (trailing spaces
    /// dropped), or up to `: ` (then it is a key, and the cursor stands on the colon).
    fn plain_block(&mut self) -> Option<(&'t str, bool)> {
        if !plain_start(self.bytes, self.i) {
            return None;
        }
        let start = self.i;
        // Only `\n`, `: ` and ` #` end it: the bytes between are skipped eight at a time, not
        // matched one by one (this loop reads most of a workflow's text).
        let stop = loop {
            self.i += super::bytes::skip_until_any(&self.bytes[self.i..], [b'\n', b':', b'#']);
            match self.peek() {
                b'\n' => break self.i,
                b':' if matches!(self.peek_at(1), b' ' | b'\n') => {
                    let name = self.text[start..self.i].trim_end_matches(' ');
                    return Some((name, true));
                }
                b'#' if self.bytes[self.i - 1] == b' ' => break self.i,
                _ => self.i += 1,
            }
        };
        // Trailing blanks are not part of it; a plain scalar ends at a character boundary:
        // it stops only at ASCII bytes.
        let text = self.text[start..stop].trim_end_matches(' ');
        self.i = start + text.len();
        Some((text, false))
    }

    /// A one-line flow sequence or mapping; the cursor is on its bracket.
    fn flow_node(&mut self, depth: usize) -> Option<Node<'t>> {
        if depth > MAX_FLOW_DEPTH {
            return None;
        }
        let pos = self.pos();
        let close = if self.peek() == b'[' { b']' } else { b'}' };
        self.i += 1;
        let (items, entries) = (self.items.len(), self.entries.len());
        let mut seen = None;
        loop {
            self.skip_spaces();
            if self.peek() == close {
                self.i += 1;
                break;
            }
            if close == b'}' {
                let key = self.flow_key()?;
                if key.name == "<<" || duplicate(&mut seen, &self.entries[entries..], key.name) {
                    return None;
                }
                self.count(1)?;
                self.skip_spaces();
                let value = self.flow_item(depth)?;
                self.entries.push((key, value));
            } else {
                let item = self.flow_item(depth)?;
                self.items.push(item);
            }
            self.skip_spaces();
            match self.peek() {
                b',' => self.i += 1,
                c if c == close => {}
                _ => return None,
            }
        }
        let value = if close == b']' {
            Value::Seq(self.end_items(items))
        } else {
            Value::Map(self.end_entries(entries))
        };
        Some(Node { pos, value })
    }

    /// A key inside `{ }` and its `: `.
    fn flow_key(&mut self) -> Option<MapKey<'t>> {
        let pos = self.pos();
        let name = match self.peek() {
            b'"' | b'\'' => {
                let name = self.quoted()?;
                self.skip_spaces();
                name
            }
            _ => self.plain_flow()?,
        };
        if self.peek() != b':' || self.peek_at(1) != b' ' {
            return None;
        }
        self.i += 1;
        Some(MapKey { name, pos })
    }

    /// A value inside a flow collection.
    fn flow_item(&mut self, depth: usize) -> Option<Node<'t>> {
        self.count(1)?;
        let pos = self.pos();
        let value = match self.peek() {
            b'[' | b'{' => return self.flow_node(depth + 1),
            b'"' | b'\'' => Value::Str(self.quoted()?),
            _ => plain_scalar(self.plain_flow()?),
        };
        self.skip_spaces();
        // `[a: b]` is a one-pair mapping inside the sequence: left to the full parser.
        if self.peek() == b':' {
            return None;
        }
        Some(Node { pos, value })
    }

    /// A plain scalar inside a flow collection: up to `,`, a bracket or `: `, on this line.
    fn plain_flow(&mut self) -> Option<&'t str> {
        if !plain_start(self.bytes, self.i) {
            return None;
        }
        let start = self.i;
        let stop = loop {
            self.i += super::bytes::skip_until(&self.bytes[self.i..], FLOW_STOPS);
            match self.peek() {
                b'\n' | b'[' | b'{' => return None,
                b',' | b']' | b'}' => break self.i,
                b':' if matches!(self.peek_at(1), b' ' | b',' | b']' | b'}' | b'\n') => {
                    break self.i;
                }
                b'#' if self.bytes[self.i - 1] == b' ' => return None,
                _ => self.i += 1,
            }
        };
        let text = self.text[start..stop].trim_end_matches(' ');
        self.i = start + text.len();
        Some(text)
    }

    /// A quoted scalar that ends on its line; the cursor ends after the closing quote. Text
    /// without escapes is borrowed from the file; text with them is built in the arena.
    fn quoted(&mut self) -> Option<&'t str> {
        let quote = self.peek();
        self.i += 1;
        let start = self.i;
        // Until the first escape, the scalar is the file's text as it stands.
        loop {
            match self.peek() {
                b'\n' => return None,
                b'\'' if quote == b'\'' && self.peek_at(1) == b'\'' => break,
                b'\\' if quote == b'"' => break,
                c if c == quote => {
                    let text = &self.text[start..self.i];
                    self.i += 1;
                    return Some(text);
                }
                _ => self.i += 1,
            }
        }
        let mut out = std::mem::take(&mut self.built);
        out.clear();
        let built = self.unescape(quote, start, &mut out);
        self.built = out;
        built.map(|()| &*self.arena.alloc_str(&self.built))
    }

    /// The rest of a quoted scalar that holds an escape (or a doubled `'`), from `start`, into
    /// `out`; the cursor ends after the closing quote.
    fn unescape(&mut self, quote: u8, start: usize, out: &mut String) -> Option<()> {
        let mut run = start;
        loop {
            match self.peek() {
                b'\n' => return None,
                b'\'' if quote == b'\'' => {
                    out.push_str(&self.text[run..self.i]);
                    if self.peek_at(1) == b'\'' {
                        out.push('\'');
                        self.i += 2;
                        run = self.i;
                        continue;
                    }
                    self.i += 1;
                    return Some(());
                }
                b'"' if quote == b'"' => {
                    out.push_str(&self.text[run..self.i]);
                    self.i += 1;
                    return Some(());
                }
                b'\\' if quote == b'"' => {
                    out.push_str(&self.text[run..self.i]);
                    self.escape(out)?;
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
    }

    /// One `\` escape in a double-quoted scalar; the cursor is on the backslash.
    fn escape(&mut self, out: &mut String) -> Option<()> {
        let (c, len) = match self.peek_at(1) {
            b'\\' => ('\\', 2),
            b'"' => ('"', 2),
            b'/' => ('/', 2),
            b'n' => ('\n', 2),
            b't' => ('\t', 2),
            b'r' => ('\r', 2),
            b'0' => ('\0', 2),
            b'x' => (self.hex(2)?, 4),
            b'u' => (self.hex(4)?, 6),
            _ => return None,
        };
        out.push(c);
        self.i += len;
        Some(())
    }

    fn hex(&self, digits: usize) -> Option<char> {
        let s = self.text.get(self.i + 2..self.i + 2 + digits)?;
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        char::from_u32(u32::from_str_radix(s, 16).ok()?)
    }
}

/// The bytes that may end (or refuse) a plain scalar inside a flow collection.
const FLOW_STOPS: &super::bytes::ByteSet = &super::bytes::byte_set(b"\n:#,[]{}");

/// Can a plain scalar start at `i`? Indicators cannot start one (`-` can, before a non-space).
fn plain_start(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        None | Some(b'\n' | b' ') => false,
        Some(b'-') => !matches!(
            bytes.get(i + 1),
            None | Some(b' ' | b'\n' | b',' | b'[' | b']' | b'{' | b'}')
        ),
        Some(c) => !matches!(
            c,
            b'?' | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
        ),
    }
}

/// The next newline at or after `from`, or the end.
fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

#[cfg(test)]
#[path = "block_yaml_tests.rs"]
mod tests;
