//! The raw layer: a YAML or JSON document read into a tree of nodes that remember where they were
//! written. The converter (`convert.rs`) walks this tree into the typed model, so that every
//! unknown key, wrong type and bad value can be reported at its own line and column, all at once,
//! instead of serde stopping at the first one.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::diag::{Diagnostic, Source};
use super::types::Pos;

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub pos: Pos,
    /// The value.
    pub value: Value,
}

/// A mapping key with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key's text (numbers and booleans as written in canonical form).
    pub name: String,
    /// Where the key starts.
    pub pos: Pos,
}

/// The shapes a node can have.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
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
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order (duplicate keys are rejected by the reader).
    Map(Vec<(Key, Node)>),
}

impl Value {
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
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(|n| n.value.to_json()).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }
}

fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    Pos {
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        col: u32::try_from(loc.column()).unwrap_or(u32::MAX),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            pos: pos_of(&spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML or JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("the number {v} is too large")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(|v| i64::try_from(v).map_or(Value::UInt(v), Value::Int))
            .map_err(|_| E::custom(format!("the number {v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Node>()?;
            entries.push((
                Key {
                    name: key.value.0,
                    pos: pos_of(&key.referenced),
                },
                value,
            ));
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key: any scalar, kept as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a plain key (text or a number)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<KeyText, E> {
                Ok(KeyText(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_string()))
            }
        }
        d.deserialize_any(KeyVisitor)
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

fn saphyr_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    // `yes`, `no`, `on`, `off` stay text; only true/false are booleans (YAML 1.2).
    options.strict_booleans = true;
    // We render our own snippets from the location.
    options.with_snippet = false;
    options
}

/// Reads `src.text` as `format` into a node tree; a syntax error, a duplicate key or a document
/// that is too large becomes one diagnostic with its place.
pub fn read(src: &Source<'_>, format: Format) -> Result<Node, Diagnostic> {
    if src.text.trim().is_empty() {
        return Err(Diagnostic::whole_file(src.file, "the file is empty")
            .with_hint("a workflow needs at least `name:` and `steps:`"));
    }
    match format {
        Format::Yaml => read_yaml(src, src.text),
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
                read_yaml(src, &untabbed)
            } else {
                read_yaml(src, src.text)
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

fn read_yaml(src: &Source<'_>, text: &str) -> Result<Node, Diagnostic> {
    serde_saphyr::from_str_with_options::<Node>(text, saphyr_options())
        .map_err(|e| yaml_error(src, &e))
}

fn yaml_error(src: &Source<'_>, e: &serde_saphyr::Error) -> Diagnostic {
    let inner = e.without_snippet();
    let pos = inner.location().map(|l| pos_of(&l)).unwrap_or(Pos::UNKNOWN);
    let raw = inner.to_string();
    let message = strip_yaml_position(&raw);
    match inner {
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => {
            let key = key.clone().unwrap_or_else(|| "?".to_string());
            Diagnostic::at(src, pos, format!("duplicate key `{key}`"))
                .with_hint("each key may appear once per mapping; remove or merge one of them")
        }
        serde_saphyr::Error::Budget { .. } => Diagnostic::at(src, pos, message)
            .with_hint("the document is too large or too deeply nested for a workflow"),
        _ => Diagnostic::at(src, pos, format!("YAML syntax error: {message}")).with_hint(
            "check the indentation (spaces, not tabs) and quoting at or just before this place",
        ),
    }
}

fn strip_yaml_position(message: &str) -> String {
    // saphyr appends " at line X, column Y"; the diagnostic shows the place itself.
    let cut = message
        .find(" at line ")
        .or_else(|| message.find(" at Line "));
    let text = match cut {
        Some(i) => &message[..i],
        None => message,
    };
    let text = text.trim();
    text.strip_prefix("error: ").unwrap_or(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<Node, Diagnostic> {
        read(&Source::new("t.yaml", text), Format::Yaml)
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
        assert_eq!(step[1].1.value, Value::Str("echo hi".into()));
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
        let node = read(&Source::new("t.json", text), Format::Json).unwrap();
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
        assert_eq!(entries[0].1.value, Value::Str("yes".into()));
        assert_eq!(entries[1].1.value, Value::Bool(true));
    }
}
