//! The raw layer: a YAML or JSON document read into a tree of nodes that remember where they were
//! written. The converter (`convert.rs`) walks this tree into the typed model, so that every
//! unknown key, wrong type and bad value can be reported at its own line and column, all at once,
//! instead of serde stopping at the first one.
//!
//! The tree is built straight from the events of serde-saphyr's YAML parser (`granit_parser`):
//! that is about twice as fast as going through serde with `Spanned<T>` on every node, and it is
//! what keeps a 1,000-step file well under the 10 ms budget. Scalars are typed by the YAML 1.2
//! core schema (so `yes` and `on` stay text), duplicate keys are errors, aliases share their
//! anchor's tree but count against the node budget as copies would, and `<<` merge keys are
//! honoured (explicit keys win). Plain block YAML, what workflows are usually written in, takes a
//! faster path (`block_yaml.rs`) to the same tree. Either way the tree lives in an arena the
//! caller gives: its lists and built text take a few large blocks, freed at once.

use std::collections::HashMap;

use bumpalo::Bump;

use serde_saphyr::granit_parser::{
    Event, Marker, Options as ParserOptions, Parser, ScalarStyle, Span, StrInput, Tag,
};

use super::block_yaml;
use super::diag::{Diagnostic, Source};
use super::types::Pos;

/// A value with the place it was written. Text is borrowed from the file where it is written
/// as it reads (most keys and scalars); text that is not (escapes, folded lines) and every list
/// and mapping live in the arena the tree was read into ([`read`]'s `arena`), so a node holds
/// only references: copying one is cheap, and the whole tree goes when the arena does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node<'t> {
    /// Where the value starts.
    pub pos: Pos,
    /// The value.
    pub value: Value<'t>,
}

/// A mapping key with the place it was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapKey<'t> {
    /// The key's text (numbers and booleans as written in canonical form).
    pub name: &'t str,
    /// Where the key starts.
    pub pos: Pos,
}

/// The shapes a node can have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'t> {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A whole number above `i64::MAX`.
    UInt(u64),
    /// A fractional number.
    Float(f64),
    /// Text.
    Str(&'t str),
    /// A sequence.
    Seq(&'t [Node<'t>]),
    /// A mapping, in file order (duplicate keys are rejected by the reader).
    Map(&'t [(MapKey<'t>, Node<'t>)]),
}

impl Value<'_> {
    /// How the value's type is named in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The value as JSON (positions dropped).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::UInt(u) => serde_json::Value::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(|n| n.value.to_json()).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.to_string(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The text format of a workflow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2 (the default).
    Yaml,
    /// JSON (`.json` files).
    Json,
}

impl Format {
    /// JSON for a `.json` extension, YAML for anything else.
    pub fn of_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Reads `src.text` as `format` into a node tree whose lists, mappings and built text are
/// allocated in `arena`; a syntax error, a duplicate key or a document that is too large becomes
/// one diagnostic with its place.
pub fn read<'t>(src: &Source<'t>, format: Format, arena: &'t Bump) -> Result<Node<'t>, Diagnostic> {
    if src.text.trim().is_empty() {
        let what = if src.text.is_empty() {
            "the file is empty"
        } else {
            "the file is empty: it holds only blank lines"
        };
        return Err(Diagnostic::at(src, Pos { line: 1, col: 1 }, what)
            .with_hint("a workflow needs at least `name:` and `steps:`"));
    }
    match format {
        Format::Yaml => match block_yaml::read(src.text, arena) {
            Some(node) => Ok(node),
            None => read_yaml(src, src.text, format, arena),
        },
        Format::Json => {
            // serde_json gives the clearer message for JSON syntax errors.
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(src.text) {
                let pos = Pos {
                    line: u32::try_from(e.line()).unwrap_or(u32::MAX),
                    col: u32::try_from(e.column()).unwrap_or(u32::MAX),
                };
                let message = strip_json_position(&e.to_string());
                return Err(
                    Diagnostic::at(src, pos, format!("JSON syntax error: {message}")).with_hint(
                        "check for a missing comma, quote or bracket at or just before this place",
                    ),
                );
            }
            // Valid JSON is valid YAML 1.2 except for tab indentation; a raw tab in valid JSON can
            // only be whitespace (tabs inside strings must be escaped), so this keeps every
            // column where it was.
            if src.text.contains('\t') {
                let untabbed = src.text.replace('\t', " ");
                read_yaml(src, &untabbed, format, arena)
            } else {
                read_yaml(src, src.text, format, arena)
            }
        }
    }
}

fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// [`read`] of YAML through the full parser alone, never the fast path (`block_yaml.rs`): the
/// reference the fast path is checked against, and the benchmark's "before".
pub fn read_full_yaml<'a>(src: &Source<'_>, arena: &'a Bump) -> Result<Node<'a>, Diagnostic> {
    read_yaml(src, src.text, Format::Yaml, arena)
}

fn read_yaml<'a>(
    src: &Source<'_>,
    text: &str,
    format: Format,
    arena: &'a Bump,
) -> Result<Node<'a>, Diagnostic> {
    let mut options = ParserOptions::default();
    options.emit_comments = false;
    let mut b = Builder {
        src,
        arena,
        parser: Parser::new_from_str_with_options(text, options),
        anchors: HashMap::new(),
        nodes: 0,
        alias_bytes: 0,
        format,
    };
    b.document()
}

/// Most nodes a document may expand to (aliases included): far above any real workflow, low
/// enough that an alias bomb stops quickly.
pub(super) const MAX_NODES: usize = 1_000_000;

/// Most bytes of text (keys and scalars) aliases may repeat in one document. The tree shares an
/// alias's text with its anchor, but the workflow read from it holds a copy at each place, so
/// an alias to a long string counts all of it: counting nodes alone would let a 1 MB file ask
/// for gigabytes.
pub const MAX_ALIAS_BYTES: usize = 64 << 20;

/// An anchored node with what one copy of it costs.
struct Anchored<'a> {
    node: Node<'a>,
    nodes: usize,
    bytes: usize,
}

fn pos_of(m: &Marker) -> Pos {
    Pos {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    }
}

struct Builder<'s, 't, 'a> {
    src: &'s Source<'s>,
    /// Where the tree's lists, mappings and text go.
    arena: &'a Bump,
    parser: Parser<'t, StrInput<'t>>,
    anchors: HashMap<usize, Anchored<'a>>,
    nodes: usize,
    /// Bytes of text repeated by aliases so far.
    alias_bytes: usize,
    format: Format,
}

impl<'t, 'a> Builder<'_, 't, 'a> {
    fn next(&mut self) -> Result<(Event<'t>, Span), Diagnostic> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => {
                let message = e.kind().to_string();
                let message = if message.is_empty() {
                    e.to_string()
                } else {
                    message
                };
                let (label, hint) = match self.format {
                    Format::Yaml => (
                        "YAML",
                        "check the indentation (spaces, not tabs) and quoting at or just before this place",
                    ),
                    Format::Json => (
                        "JSON",
                        "the document is nested too deeply or is not plain JSON",
                    ),
                };
                Err(Diagnostic::at(
                    self.src,
                    pos_of(e.marker()),
                    format!("{label} syntax error: {message}"),
                )
                .with_hint(hint))
            }
            None => Err(Diagnostic::whole_file(
                self.src.file,
                "YAML syntax error: the document ends early",
            )),
        }
    }

    fn error(&self, at: &Span, message: impl Into<String>, hint: &str) -> Diagnostic {
        Diagnostic::at(self.src, pos_of(&at.start), message).with_hint(hint)
    }

    fn document(&mut self) -> Result<Node<'a>, Diagnostic> {
        let mut root = None;
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::DocumentStart(..) => {
                    if root.is_some() {
                        return Err(self.error(
                            &span,
                            "the file holds more than one YAML document",
                            "keep one workflow per file; remove the `---` line",
                        ));
                    }
                    let (ev, span) = self.next()?;
                    root = Some(self.node(ev, span, 0)?);
                }
                Event::StreamEnd => break,
                _ => {
                    return Err(self.error(
                        &span,
                        "YAML syntax error: unexpected content",
                        "check the structure of the file",
                    ));
                }
            }
        }
        root.ok_or_else(|| {
            Diagnostic::at(self.src, Pos { line: 1, col: 1 }, "the file has no content")
                .with_hint("a workflow needs at least `name:` and `steps:`")
        })
    }

    fn count(&mut self, n: usize, at: &Span) -> Result<(), Diagnostic> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(self.error(
                at,
                format!("the document expands to more than {MAX_NODES} values"),
                "the file is too large, or aliases (`*name`) repeat too much",
            ));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'t>, span: Span, depth: usize) -> Result<Node<'a>, Diagnostic> {
        self.count(1, &span)?;
        let pos = pos_of(&span.start);
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref(), self.arena)
                    .map_err(|why| self.error(&span, why, "quote the value to keep it as text"))?;
                (Node { pos, value }, anchor)
            }
            Event::SequenceStart(_, anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, span, depth + 1)?);
                }
                (
                    Node {
                        pos,
                        value: Value::Seq(self.arena.alloc_slice_copy(&items)),
                    },
                    anchor,
                )
            }
            Event::MappingStart(_, anchor, _) => (self.mapping(pos, depth)?, anchor),
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(self.error(
                        &span,
                        "this alias names no anchor",
                        "define `&name` before using `*name`",
                    ));
                };
                // The copy shares the anchor's lists and text: they never change.
                let (nodes, bytes, mut node) = (target.nodes, target.bytes, target.node);
                self.alias_bytes = self.alias_bytes.saturating_add(bytes);
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(self.error(
                        &span,
                        format!(
                            "aliases (`*name`) copy more than {} MiB of text",
                            MAX_ALIAS_BYTES >> 20
                        ),
                        "an alias copies its anchor's whole value; use fewer aliases to long values",
                    ));
                }
                self.count(nodes, &span)?;
                node.pos = pos;
                return Ok(node);
            }
            _ => {
                return Err(self.error(
                    &span,
                    "YAML syntax error: unexpected content",
                    "check the structure of the file",
                ));
            }
        };
        if anchor != 0 {
            let (nodes, bytes) = node.cost();
            self.anchors.insert(anchor, Anchored { node, nodes, bytes });
        }
        Ok(node)
    }

    fn mapping(&mut self, pos: Pos, depth: usize) -> Result<Node<'a>, Diagnostic> {
        let mut entries: Vec<(MapKey<'a>, Node<'a>)> = Vec::new();
        let mut merged: Vec<(MapKey<'a>, Node<'a>)> = Vec::new();
        let mut seen: Option<std::collections::HashSet<String>> = None;
        loop {
            let (ev, span) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            // A key is kept as written; a plain `<<` is a merge key.
            let key_pos = pos_of(&span.start);
            let (name, is_merge) = match ev {
                Event::Scalar(text, style, _, tag) => {
                    let merge = text == "<<" && style == ScalarStyle::Plain && tag.is_none();
                    (&*self.arena.alloc_str(&text), merge)
                }
                Event::Alias(id) => match self.anchors.get(&id).map(|a| a.node.value) {
                    Some(Value::Str(s)) => (s, false),
                    Some(Value::Int(i)) => (&*self.arena.alloc_str(&i.to_string()), false),
                    Some(Value::Bool(b)) => (if b { "true" } else { "false" }, false),
                    _ => {
                        return Err(self.error(
                            &span,
                            "a key must be plain text",
                            "write keys as plain words like `depends_on`",
                        ));
                    }
                },
                _ => {
                    return Err(self.error(
                        &span,
                        "a key must be plain text, not a list or a mapping",
                        "write keys as plain words like `depends_on`",
                    ));
                }
            };
            self.count(1, &span)?;
            let (ev, vspan) = self.next()?;
            let value = self.node(ev, vspan, depth + 1)?;
            let key = MapKey { name, pos: key_pos };
            if is_merge {
                // A merge key: its mapping (or list of mappings) fills in keys not written here.
                let sources: Vec<&Node<'a>> = match &value.value {
                    Value::Map(_) => vec![&value],
                    Value::Seq(items) => items.iter().collect(),
                    _ => {
                        return Err(self.error(
                            &span,
                            "`<<` must merge a mapping or a list of mappings",
                            "write `<<: *defaults` with `defaults: &defaults { ... }`",
                        ));
                    }
                };
                for source in sources {
                    let Value::Map(items) = &source.value else {
                        return Err(self.error(
                            &span,
                            "`<<` must merge a mapping or a list of mappings",
                            "write `<<: *defaults`",
                        ));
                    };
                    for &(k, v) in items.iter() {
                        if !merged.iter().any(|(mk, _)| mk.name == k.name) {
                            merged.push((k, v));
                        }
                    }
                }
                continue;
            }
            if duplicate(&mut seen, &entries, key.name) {
                return Err(Diagnostic::at(
                    self.src,
                    key.pos,
                    format!("duplicate key `{}`", key.name),
                )
                .with_hint("each key may appear once per mapping; remove or merge one of them"));
            }
            entries.push((key, value));
        }
        for (k, v) in merged {
            if !entries.iter().any(|(ek, _)| ek.name == k.name) {
                entries.push((k, v));
            }
        }
        Ok(Node {
            pos,
            value: Value::Map(self.arena.alloc_slice_copy(&entries)),
        })
    }
}

impl Node<'_> {
    /// How many nodes this tree holds (itself included), and how many bytes of text.
    fn cost(&self) -> (usize, usize) {
        match &self.value {
            Value::Str(s) => (1, s.len()),
            Value::Seq(items) => items.iter().fold((1, 0), |(n, b), i| {
                let (ni, bi) = i.cost();
                (n + ni, b + bi)
            }),
            Value::Map(entries) => entries.iter().fold((1, 0), |(n, b), (k, v)| {
                let (nv, bv) = v.cost();
                (n + 1 + nv, b + k.name.len() + bv)
            }),
            _ => (1, 0),
        }
    }
}

/// Is `name` already a key of `entries`? Past 16 entries a set answers.
pub(super) fn duplicate(
    seen: &mut Option<std::collections::HashSet<String>>,
    entries: &[(MapKey<'_>, Node<'_>)],
    name: &str,
) -> bool {
    match seen {
        Some(set) => !set.insert(name.to_string()),
        None => {
            let dup = entries.iter().any(|(k, _)| k.name == name);
            if entries.len() >= 16 {
                *seen = Some(
                    entries
                        .iter()
                        .map(|(k, _)| k.name.to_string())
                        .chain([name.to_string()])
                        .collect(),
                );
            }
            dup
        }
    }
}

/// Types a scalar by the YAML 1.2 core schema; quoted and block scalars are text (copied into
/// `arena`).
fn scalar<'a>(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    arena: &'a Bump,
) -> Result<Value<'a>, String> {
    if let Some(tag) = tag {
        let as_text = || Value::Str(arena.alloc_str(text));
        if tag.is_yaml_core_schema_tag("str") {
            return Ok(as_text());
        }
        let typed = plain_scalar(arena.alloc_str(text));
        let ok = |want: &str| {
            matches!(
                (want, &typed),
                ("null", Value::Null)
                    | ("bool", Value::Bool(_))
                    | ("int", Value::Int(_) | Value::UInt(_))
                    | ("float", Value::Float(_) | Value::Int(_) | Value::UInt(_))
            )
        };
        for want in ["null", "bool", "int", "float"] {
            if tag.is_yaml_core_schema_tag(want) {
                return if ok(want) {
                    Ok(match (want, typed) {
                        ("float", Value::Int(i)) => Value::Float(i as f64),
                        (_, v) => v,
                    })
                } else {
                    Err(format!("`{text}` is not a valid `!!{want}`"))
                };
            }
        }
        return Err(format!(
            "the tag `{}{}` is not supported in workflow files",
            tag.handle(),
            tag.suffix()
        ));
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::Str(arena.alloc_str(text)));
    }
    // Typed from the arena's copy: a scalar that reads as text borrows it from there.
    Ok(plain_scalar(arena.alloc_str(text)))
}

/// The YAML 1.2 core schema for plain scalars.
pub(super) fn plain_scalar(text: &str) -> Value<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::Str(text);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
        if let Ok(u) = digits.parse::<u64>()
            && !text.starts_with('-')
        {
            return Value::UInt(u);
        }
        return text
            .parse::<f64>()
            .map(Value::Float)
            .unwrap_or_else(|_| Value::Str(text));
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Int(i);
    }
    if is_float(digits)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text)
}

/// `[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)?` with at least one digit before the exponent.
fn is_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, b),
        None => (mantissa, ""),
    };
    let digits_ok =
        int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit());
    let has_digit = !int.is_empty() || !frac.is_empty();
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    digits_ok && has_digit && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An arena for one test's tree (kept to the end of the test process).
    fn arena() -> &'static Bump {
        Box::leak(Box::new(Bump::new()))
    }

    fn yaml(text: &str) -> Result<Node<'_>, Diagnostic> {
        read(&Source::new("t.yaml", text), Format::Yaml, arena())
    }

    #[test]
    fn keys_and_values_carry_their_positions() {
        let node = yaml("name: x\nsteps:\n  - id: a\n    run: echo hi\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("not a map: {node:?}");
        };
        assert_eq!(entries[0].0.name, "name");
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(entries[0].1.pos, Pos { line: 1, col: 7 });
        let Value::Seq(steps) = &entries[1].1.value else {
            panic!("steps not a seq");
        };
        let Value::Map(step) = &steps[0].value else {
            panic!("step not a map");
        };
        assert_eq!(step[1].0.name, "run");
        assert_eq!(step[1].0.pos, Pos { line: 4, col: 5 });
        assert_eq!(step[1].1.value, Value::Str("echo hi"));
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second_key() {
        let err = yaml("name: a\nsteps: []\nname: b\n").unwrap_err();
        assert_eq!(err.message, "duplicate key `name`");
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn yaml_syntax_errors_have_a_place() {
        let err = yaml("name: a\nsteps: [a, b\n").unwrap_err();
        assert!(err.message.starts_with("YAML syntax error"), "{err}");
        assert!(err.line >= 2, "{err}");
    }

    #[test]
    fn json_with_tabs_is_read_with_columns_intact() {
        let text = "{\n\t\"name\": \"x\",\n\t\"steps\": []\n}\n";
        let node = read(&Source::new("t.json", text), Format::Json, arena()).unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("not a map");
        };
        assert_eq!(entries[1].0.pos, Pos { line: 3, col: 2 });
    }

    #[test]
    fn json_syntax_errors_have_a_place() {
        let err = read(
            &Source::new("t.json", "{\n  \"name\": \"x\"\n  \"steps\": []\n}"),
            Format::Json,
            arena(),
        )
        .unwrap_err();
        assert!(err.message.starts_with("JSON syntax error"), "{err}");
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn plain_yes_and_no_stay_text() {
        let node = yaml("a: yes\nb: true\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("not a map");
        };
        assert_eq!(entries[0].1.value, Value::Str("yes"));
        assert_eq!(entries[1].1.value, Value::Bool(true));
    }

    fn map_of<'t>(node: &Node<'t>) -> Vec<(String, Value<'t>)> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.name.to_string(), v.value))
                .collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn plain_scalars_follow_the_yaml_1_2_core_schema() {
        let node = yaml("a: 1\nb: -2.5\nc: 1.0.0\nd: ~\ne: 1e3\nf: '1'\ng: 0x1F\nh: 30s\ni: .5\nj: off\nk: 99999999999999999999\n").unwrap();
        let m = map_of(&node);
        assert_eq!(m[0].1, Value::Int(1));
        assert_eq!(m[1].1, Value::Float(-2.5));
        assert_eq!(m[2].1, Value::Str("1.0.0"));
        assert_eq!(m[3].1, Value::Null);
        assert_eq!(m[4].1, Value::Float(1000.0));
        assert_eq!(m[5].1, Value::Str("1"));
        assert_eq!(m[6].1, Value::Int(31));
        assert_eq!(m[7].1, Value::Str("30s"));
        assert_eq!(m[8].1, Value::Float(0.5));
        assert_eq!(m[9].1, Value::Str("off"));
        assert_eq!(m[10].1, Value::Float(1e20));
    }

    #[test]
    fn core_tags_force_a_type_and_other_tags_are_refused() {
        let m = map_of(&yaml("a: !!str 12\nb: !!float 3\n").unwrap());
        assert_eq!(m[0].1, Value::Str("12"));
        assert_eq!(m[1].1, Value::Float(3.0));
        let err = yaml("a: !secret x\n").unwrap_err();
        assert!(err.message.contains("not supported"), "{err}");
        assert_eq!((err.line, err.col), (1, 12), "{err}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand_with_explicit_keys_winning() {
        let node =
            yaml("base: &b { retry: 3, timeout: 1m }\nstep:\n  <<: *b\n  timeout: 5s\nsame: *b\n")
                .unwrap();
        let m = map_of(&node);
        let step = match &m[1].1 {
            Value::Map(e) => e.iter().map(|(k, v)| (k.name, v.value)).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            step,
            vec![("timeout", Value::Str("5s")), ("retry", Value::Int(3))]
        );
        assert!(matches!(&m[2].1, Value::Map(e) if e.len() == 2));
    }

    #[test]
    fn alias_bombs_stop_at_the_node_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let err = yaml(&text).unwrap_err();
        assert!(err.message.contains("expands to more than"), "{err}");
    }

    #[test]
    fn aliases_to_a_long_string_stop_at_the_byte_budget() {
        let mut text = format!("s: &s \"{}\"\nl: [", "x".repeat(100_000));
        text.push_str(&vec!["*s"; 1000].join(", "));
        text.push_str("]\n");
        let err = yaml(&text).unwrap_err();
        assert!(err.message.contains("copy more than 64 MiB"), "{err}");
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn more_than_one_document_is_refused() {
        let err = yaml("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("more than one YAML document"), "{err}");
        assert_eq!(err.line, 2);
    }

    #[test]
    fn a_file_of_comments_has_no_content() {
        let err = yaml("# just a comment\n").unwrap_err();
        assert!(err.message.contains("no content"), "{err}");
    }
}
