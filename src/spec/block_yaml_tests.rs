//! The fast path against the full parser: whatever the fast path reads must be exactly the full
//! parser's tree (positions included), and whatever the full parser refuses the fast path must
//! give up on, so `node::read` gives the same tree and the same errors either way.

use bumpalo::Bump;
use proptest::prelude::*;

use super::read as fast;
use crate::spec::diag::Source;
use crate::spec::node::{self, Format};

/// Checks one document; returns whether the fast path read it.
fn agree(text: &str) -> bool {
    let src = Source::new("t.yaml", text);
    let arena = Bump::new();
    let full = node::read_full_yaml(&src, &arena);
    let quick = fast(text, &arena);
    if let Some(tree) = &quick {
        match &full {
            // Debug text, so that NaN equals NaN.
            Ok(reference) => assert_eq!(
                format!("{tree:?}"),
                format!("{reference:?}"),
                "the trees differ for:\n{text}"
            ),
            Err(e) => {
                panic!("the fast path read a document the full parser refuses ({e}):\n{text}")
            }
        }
    }
    let through_read = node::read(&src, Format::Yaml, &arena);
    assert_eq!(
        format!("{through_read:?}"),
        format!("{full:?}"),
        "node::read differs from the full parser for:\n{text}"
    );
    quick.is_some()
}

#[test]
fn workflows_as_usually_written_take_the_fast_path() {
    let texts = [
        "name: x\nsteps:\n  - id: a\n    run: echo hi\n",
        "# a comment\n---\nname: x # trailing\nsteps:\n- id: a\n  run: \"echo 'hi'\\n\"\n  depends_on: [b, 'c d']\n",
        "name: x\nparams:\n  env: { default: staging, enum: [staging, prod] }\nsteps:\n  - id: s0\n    transform: { expr: \"1\" }\n    when: params.env != \"prod\"\n    run: echo {{ params.env }} {{ steps['a'].stdout | trim }}\n",
        "name: é ü\nsteps:\n  - id: ünï\n    run: echo ☃ # snow\n    env: {A: \"\\u00e9\", B: 'it''s'}\n    retry: 3\n    timeout: 1.5\n",
        "steps:\n  -\n    id: a\n  - id: b\n    outputs:\n      - x\n      - [1, [2, {a: ~}]]\n\nname: y\n",
    ];
    for text in texts {
        assert!(agree(text), "the fast path gave up on:\n{text}");
    }
}

#[test]
fn anything_unusual_is_left_to_the_full_parser() {
    let texts = [
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: |\n  text\n",
        "a: b\n  continued\n",
        "a:\n",
        "a: 1\na: 2\n",
        "a: 1\n---\nb: 2\n",
        "a: [1,\n  2]\n",
        "a: \"x\n  y\"\n",
        "a:\tb\n",
        "<<: {a: 1}\n",
        "? a\n: b\n",
        "a: b: c\n",
        "- a\n",
        "a: \"\\q\"\n",
    ];
    for text in texts {
        assert!(!agree(text), "the fast path read:\n{text}");
    }
}

/// A value in the generated documents.
#[derive(Debug, Clone)]
enum Gen {
    /// A scalar written plain (0), single-quoted (1) or double-quoted (2).
    Scalar(String, u8),
    /// A sequence: flow, or block indented by 0..=3 more than its key.
    Seq(Vec<Gen>, bool, usize),
    /// A mapping: flow, or block indented by 1..=4 more than its key.
    Map(Vec<(String, u8, Gen)>, bool, usize),
}

const WORDS: &[&str] = &[
    "a",
    "id",
    "run",
    "x y",
    "yes",
    "true",
    "1",
    "-2.5",
    "1.0.0",
    "~",
    "null",
    "0x1F",
    "1e3",
    ".5",
    "30s",
    "a: b",
    "a:b",
    "#x",
    "a #b",
    "a#b",
    "é",
    "{{ x }}",
    "'q'",
    "\"d\"",
    "x,y",
    "[a]",
    " lead",
    "trail ",
    "-",
    "- x",
    "-x",
    ":x",
    "?x",
    "*x",
    "&a x",
    "!t x",
    "|",
    ">",
    "%x",
    "@x",
    "`x`",
    "it's",
    "back\\slash",
    "",
    "☃ snow",
    "a]",
    "b}",
    "<<",
    "---",
    "...",
    "99999999999999999999",
    ".inf",
    "-.NaN",
];

fn scalar() -> impl Strategy<Value = Gen> {
    (prop::sample::select(WORDS), 0u8..3).prop_map(|(w, s)| Gen::Scalar(w.to_string(), s))
}

fn gen_value() -> impl Strategy<Value = Gen> {
    scalar().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (
                prop::collection::vec(inner.clone(), 0..4),
                any::<bool>(),
                0usize..4
            )
                .prop_map(|(v, f, i)| Gen::Seq(v, f, i)),
            (
                prop::collection::vec(
                    (prop::sample::select(WORDS), 0u8..3, inner).prop_map(|(k, s, v)| (
                        k.to_string(),
                        s,
                        v
                    )),
                    0..4
                ),
                any::<bool>(),
                1usize..5
            )
                .prop_map(|(m, f, i)| Gen::Map(m, f, i)),
        ]
    })
}

fn styled(text: &str, style: u8) -> String {
    match style {
        0 => text.to_string(),
        1 => format!("'{}'", text.replace('\'', "''")),
        _ => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// A value written on one line (collections as flow).
fn inline(g: &Gen) -> String {
    match g {
        Gen::Scalar(t, s) => styled(t, *s),
        Gen::Seq(items, ..) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Gen::Map(entries, ..) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, s, v)| format!("{}: {}", styled(k, *s), inline(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

fn is_block(g: &Gen) -> bool {
    match g {
        Gen::Seq(v, flow, _) => !flow && !v.is_empty(),
        Gen::Map(m, flow, _) => !flow && !m.is_empty(),
        Gen::Scalar(..) => false,
    }
}

/// Writes a block mapping's entries at `indent`; the first one after `first` (already written
/// on the current line) when given.
fn block_map(entries: &[(String, u8, Gen)], indent: usize, mut first: bool, out: &mut String) {
    for (k, s, v) in entries {
        if !first {
            out.push_str(&" ".repeat(indent));
        }
        first = false;
        out.push_str(&styled(k, *s));
        out.push(':');
        value_after(v, indent, out);
    }
}

/// Writes a value after `key:` (the key at `indent`).
fn value_after(v: &Gen, indent: usize, out: &mut String) {
    if !is_block(v) {
        out.push(' ');
        out.push_str(&inline(v));
        out.push('\n');
        return;
    }
    out.push('\n');
    match v {
        Gen::Seq(items, _, more) => block_seq(items, indent + more, out),
        Gen::Map(entries, _, more) => block_map(entries, indent + more, false, out),
        Gen::Scalar(..) => {}
    }
}

fn block_seq(items: &[Gen], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Gen::Map(entries, false, _) if !entries.is_empty() => {
                out.push(' ');
                block_map(entries, indent + 2, true, out);
            }
            Gen::Seq(inner, false, more) if !inner.is_empty() => {
                out.push('\n');
                block_seq(inner, indent + 1 + more, out);
            }
            _ => {
                out.push(' ');
                out.push_str(&inline(item));
                out.push('\n');
            }
        }
    }
}

fn document() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            (prop::sample::select(WORDS), 0u8..3, gen_value())
                .prop_map(|(k, s, v)| (k.to_string(), s, v)),
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(entries, marker)| {
            let mut out = String::from(if marker { "---\n" } else { "" });
            block_map(&entries, 0, false, &mut out);
            out
        })
}

/// Inserts (`Some(c)`) or deletes (`None`) a character near the given fraction of the text.
fn mutate(text: &str, edits: &[(f64, Option<char>)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, edit) in edits {
        let i = ((chars.len() as f64) * at) as usize;
        match edit {
            Some(c) => chars.insert(i.min(chars.len()), *c),
            None if i < chars.len() => {
                chars.remove(i);
            }
            None => {}
        }
    }
    chars.into_iter().collect()
}

fn edit() -> impl Strategy<Value = (f64, Option<char>)> {
    let c = prop::sample::select(vec![
        ' ', ' ', '\n', ':', '-', '#', '"', '\'', '[', ']', '{', '}', ',', '&', '*', '!', '|', '>',
        '?', '\t', 'x', '\\', 'é', '\r',
    ]);
    (0.0..1.0f64, prop::option::weighted(0.7, c))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn generated_documents_read_the_same_either_way(text in document()) {
        agree(&text);
    }

    #[test]
    fn mutated_documents_read_the_same_either_way(
        text in document(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        agree(&mutate(&text, &edits));
    }
}

#[test]
fn most_generated_documents_take_the_fast_path() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = document();
    let total = 1000;
    let fast = (0..total)
        .filter(|_| match strategy.new_tree(&mut runner) {
            Ok(tree) => agree(&tree.current()),
            Err(_) => false,
        })
        .count();
    // The word list holds many values that are not plain YAML (`*x`, `|`, `a: b`): those
    // documents are the full parser's, by design.
    assert!(
        fast * 5 >= total,
        "only {fast} of {total} took the fast path"
    );
    eprintln!("{fast} of {total} generated documents took the fast path");
}

/// Keys and scalars written without escapes are borrowed from the text, not copied; text that
/// escapes or doubles a quote is built (in the arena), and reads as the full parser reads it.
#[test]
fn text_is_borrowed_from_the_file_unless_it_has_escapes() {
    use crate::spec::node::Value;

    let text = "name: plain\nsteps:\n  - id: 'q'\n    run: \"echo hi\"\n    env: { A: 'it''s', B: \"a\\tb\", C: c }\n";
    assert!(agree(text));
    let arena = Bump::new();
    let root = fast(text, &arena).unwrap();
    let mut borrowed = Vec::new();
    let mut owned = Vec::new();
    /// Borrowed: the text lies inside the file's own.
    fn note(file: &str, s: &str, b: &mut Vec<String>, o: &mut Vec<String>) {
        let inside = file.as_bytes().as_ptr_range();
        if inside.contains(&s.as_ptr()) {
            b.push(s.to_string());
        } else {
            o.push(s.to_string());
        }
    }
    fn walk(file: &str, v: &Value<'_>, b: &mut Vec<String>, o: &mut Vec<String>) {
        match v {
            Value::Str(s) => note(file, s, b, o),
            Value::Seq(items) => items.iter().for_each(|n| walk(file, &n.value, b, o)),
            Value::Map(entries) => {
                for (k, n) in entries.iter() {
                    note(file, k.name, b, o);
                    walk(file, &n.value, b, o);
                }
            }
            _ => {}
        }
    }
    walk(text, &root.value, &mut borrowed, &mut owned);
    assert_eq!(owned, ["it's", "a\tb"]);
    assert_eq!(
        borrowed,
        [
            "name", "plain", "steps", "id", "q", "run", "echo hi", "env", "A", "B", "C", "c"
        ]
    );
}
