//! Typed reads from the node tree: each helper reads one value, reports a wrong type or a bad
//! value at its own place (with a hint), and carries on, so one pass finds every problem.

use indexmap::IndexMap;

use super::diag::{Diagnostic, Source, did_you_mean};
use super::duration::{Dur, parse_duration};
use super::node::{MapKey, Node, Value};
use super::types::Pos;

/// Collects problems while the tree is converted.
pub struct Reader<'s> {
    /// The file being read.
    pub src: &'s Source<'s>,
    /// Problems found so far.
    pub diags: Vec<Diagnostic>,
    /// Lists of asked keys that finished tables gave back, for the next tables: a step asks
    /// for some 45 keys, and a list of its own was an allocation and a free every step.
    spare_asked: Vec<Vec<AskedKey>>,
}

impl<'s> Reader<'s> {
    /// A reader over `src` with no problems yet.
    pub fn new(src: &'s Source<'s>) -> Reader<'s> {
        Reader {
            src,
            diags: Vec::new(),
            spare_asked: Vec::new(),
        }
    }

    /// A list for a table's asked keys: one a finished table gave back, or a new one with room
    /// for a step's keys from the start (no copy halfway through).
    #[inline(never)]
    fn spare_asked_list(&mut self) -> Vec<AskedKey> {
        self.spare_asked
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(64))
    }

    /// Records a problem at `pos`.
    pub fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        self.diags
            .push(Diagnostic::at(self.src, pos, message).with_hint_opt(hint));
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str, example: &str) {
        self.error(
            node.pos,
            format!(
                "`{what}` must be {expected}, not {}",
                node.value.type_name()
            ),
            Some(format!("write it like `{example}`")),
        );
    }

    /// Text; numbers and booleans are taken as written (`version: 1.2` is the text `1.2`).
    pub fn string(&mut self, node: &Node, what: &str, example: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.wrong_type(node, what, "text", example);
                None
            }
        }
    }

    /// Text that must not be empty.
    pub fn non_empty_string(&mut self, node: &Node, what: &str, example: &str) -> Option<String> {
        let s = self.string(node, what, example)?;
        if s.trim().is_empty() {
            self.error(
                node.pos,
                format!("`{what}` is empty"),
                Some(format!("write it like `{example}`")),
            );
            return None;
        }
        Some(s)
    }

    /// `true` or `false`.
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(node, what, "true or false", &format!("{what}: true"));
                None
            }
        }
    }

    /// A whole number between `min` and `max`.
    pub fn int(&mut self, node: &Node, what: &str, min: i64, max: i64) -> Option<i64> {
        let v = match &node.value {
            Value::Int(i) => *i,
            Value::UInt(_) => i64::MAX,
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => *f as i64,
            _ => {
                self.wrong_type(
                    node,
                    what,
                    "a whole number",
                    &format!("{what}: {}", min.max(1)),
                );
                return None;
            }
        };
        if v < min || v > max {
            let range = if max == i64::MAX {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            };
            self.error(
                node.pos,
                format!("`{what}` is {v}; it must be {range}"),
                Some(format!("write a number {range}")),
            );
            return None;
        }
        Some(v)
    }

    /// A number between `min` and `max`.
    pub fn float(&mut self, node: &Node, what: &str, min: f64, max: f64) -> Option<f64> {
        let v = match &node.value {
            Value::Int(i) => *i as f64,
            Value::UInt(u) => *u as f64,
            Value::Float(f) => *f,
            _ => {
                self.wrong_type(node, what, "a number", &format!("{what}: {min}"));
                return None;
            }
        };
        if !(min..=max).contains(&v) {
            self.error(
                node.pos,
                format!("`{what}` is {v}; it must be between {min} and {max}"),
                Some(format!("write a number between {min} and {max}")),
            );
            return None;
        }
        Some(v)
    }

    /// A duration like `30s` (a bare `0` is zero).
    pub fn duration(&mut self, node: &Node, what: &str) -> Option<Dur> {
        match &node.value {
            Value::Str(s) => match parse_duration(s) {
                Ok(d) => Some(Dur(d)),
                Err(e) => {
                    self.error(
                        node.pos,
                        format!("`{what}` is not a valid duration"),
                        Some(e.to_string()),
                    );
                    None
                }
            },
            Value::Int(0) => Some(Dur::default()),
            Value::Int(n) => {
                self.error(
                    node.pos,
                    format!("`{what}` is the number {n} without a unit"),
                    Some(format!(
                        "add a unit: `{n}s` for seconds, `{n}ms` for milliseconds, `{n}m` for minutes"
                    )),
                );
                None
            }
            _ => {
                self.wrong_type(node, what, "a duration", &format!("{what}: 30s"));
                None
            }
        }
    }

    /// A list of text; a single text is a list of one. Returns each item with its place.
    pub fn string_list(
        &mut self,
        node: &Node,
        what: &str,
        example: &str,
    ) -> Option<Vec<(String, Pos)>> {
        let (texts, places) = self.string_list_split(node, what, example)?;
        Some(texts.into_iter().zip(places).collect())
    }

    /// A list of text as two lists, the texts and their places (what a step keeps of its
    /// `depends_on`, with no third list to split).
    pub fn string_list_split(
        &mut self,
        node: &Node,
        what: &str,
        example: &str,
    ) -> Option<(Vec<String>, Vec<Pos>)> {
        match &node.value {
            Value::Seq(items) => {
                let mut texts = Vec::with_capacity(items.len());
                let mut places = Vec::with_capacity(items.len());
                for n in items.iter() {
                    if let Some(s) = self.string(n, what, example) {
                        texts.push(s);
                        places.push(n.pos);
                    }
                }
                Some((texts, places))
            }
            Value::Null => Some((Vec::new(), Vec::new())),
            _ => self
                .string(node, what, example)
                .map(|s| (vec![s], vec![node.pos])),
        }
    }

    /// A mapping's entries.
    pub fn map<'n>(
        &mut self,
        node: &'n Node<'n>,
        what: &str,
        example: &str,
    ) -> Option<&'n [(MapKey<'n>, Node<'n>)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            Value::Null => Some(&[]),
            _ => {
                self.wrong_type(node, what, "a mapping", example);
                None
            }
        }
    }

    /// A mapping of text to text (numbers and booleans taken as written); each value's place is
    /// returned beside it.
    pub fn string_map(
        &mut self,
        node: &Node,
        what: &str,
        example: &str,
    ) -> (IndexMap<String, String>, IndexMap<String, Pos>) {
        let mut out = IndexMap::new();
        let mut places = IndexMap::new();
        if let Some(entries) = self.map(node, what, example) {
            for (k, v) in entries {
                let item = format!("{what}.{}", k.name);
                if let Some(s) = self.string(v, &item, example) {
                    out.insert(k.name.to_string(), s);
                    places.insert(k.name.to_string(), v.pos);
                }
            }
        }
        (out, places)
    }
}

/// The keys of one mapping, taken one by one; whatever is left at the end is an unknown key.
pub struct Table<'n> {
    entries: &'n [(MapKey<'n>, Node<'n>)],
    /// Which entries were taken: a bit each for the first 64, then `more`.
    taken: u64,
    more: Vec<bool>,
    /// Every key asked for, with its aliases: the known keys an unknown one is compared with.
    /// Taken from the reader's spare lists at the first key asked, given back by `finish`.
    asked: Vec<AskedKey>,
    /// A 64-bit filter of the entries' names, so most absent keys are ruled out without
    /// comparing strings.
    filter: u64,
}

/// A key asked of a table, with its aliases.
type AskedKey = (&'static str, &'static [&'static str]);

fn filter_bit(name: &str) -> u64 {
    let first = name.as_bytes().first().copied().unwrap_or(0) as usize;
    1 << ((name.len() * 7 + first) % 64)
}

impl<'n> Table<'n> {
    /// A table over a mapping's entries.
    pub fn new(entries: &'n [(MapKey<'n>, Node<'n>)]) -> Table<'n> {
        Table {
            entries,
            taken: 0,
            more: Vec::new(),
            asked: Vec::new(),
            filter: entries.iter().fold(0, |f, (k, _)| f | filter_bit(k.name)),
        }
    }

    fn mark(&mut self, i: usize) {
        if i < 64 {
            self.taken |= 1 << i;
        } else {
            if self.more.is_empty() {
                self.more = vec![false; self.entries.len() - 64];
            }
            self.more[i - 64] = true;
        }
    }

    fn is_taken(&self, i: usize) -> bool {
        if i < 64 {
            self.taken & (1 << i) != 0
        } else {
            self.more.get(i - 64).copied().unwrap_or(false)
        }
    }

    /// Takes the key named `name` or one of its `aliases`. Two spellings of the same key at
    /// once is an error (reported at the second).
    #[inline(always)]
    pub fn take(
        &mut self,
        r: &mut Reader<'_>,
        name: &'static str,
        aliases: &'static [&'static str],
    ) -> Option<(&'n MapKey<'n>, &'n Node<'n>)> {
        if self.asked.capacity() == 0 {
            self.asked = r.spare_asked_list();
        }
        self.asked.push((name, aliases));
        if self.filter & filter_bit(name) == 0
            && aliases.iter().all(|a| self.filter & filter_bit(a) == 0)
        {
            return None;
        }
        self.find(r, name, aliases)
    }

    /// [`Table::take`] past the filter: the entries are compared.
    #[inline(never)]
    fn find(
        &mut self,
        r: &mut Reader<'_>,
        name: &'static str,
        aliases: &'static [&'static str],
    ) -> Option<(&'n MapKey<'n>, &'n Node<'n>)> {
        let mut found: Option<(&'n MapKey<'n>, &'n Node<'n>)> = None;
        let entries = self.entries;
        for (i, (k, v)) in entries.iter().enumerate() {
            if k.name == name || aliases.contains(&k.name) {
                self.mark(i);
                match found {
                    None => found = Some((k, v)),
                    Some((first, _)) => r.error(
                        k.pos,
                        format!(
                            "`{}` and `{}` are two spellings of the same key",
                            first.name, k.name
                        ),
                        Some(format!("keep only one; `{name}` is the usual spelling")),
                    ),
                }
            }
        }
        found
    }

    /// Takes a key; only the value.
    #[inline(always)]
    pub fn get(
        &mut self,
        r: &mut Reader<'_>,
        name: &'static str,
        aliases: &'static [&'static str],
    ) -> Option<&'n Node<'n>> {
        self.take(r, name, aliases).map(|(_, v)| v)
    }

    /// Is this key present (without taking it)?
    pub fn has(&self, name: &str) -> Option<&'n MapKey<'n>> {
        self.entries.iter().map(|(k, _)| k).find(|k| k.name == name)
    }

    /// Reports every key nobody took as unknown, with the closest known key as a hint.
    pub fn finish(self, r: &mut Reader<'_>, context: impl std::fmt::Display) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if self.is_taken(i) {
                continue;
            }
            let asked = self
                .asked
                .iter()
                .flat_map(|(name, aliases)| std::iter::once(*name).chain(aliases.iter().copied()));
            let hint = did_you_mean(k.name, asked).or_else(|| {
                let mut known: Vec<&str> = self.asked.iter().map(|(name, _)| *name).collect();
                known.sort_unstable();
                known.dedup();
                Some(format!("known keys here: {}", known.join(", ")))
            });
            r.error(
                k.pos,
                format!("unknown key `{}` in {context}", k.name),
                hint,
            );
        }
        let mut asked = self.asked;
        if asked.capacity() > 0 {
            asked.clear();
            r.spare_asked.push(asked);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Tables hand their lists of asked keys on to later ones: each hint still names only the
    /// keys of its own mapping (a parameter's table finishes before the first step's starts).
    #[test]
    fn each_unknown_key_is_told_the_known_keys_of_its_own_mapping() {
        let y = "name: t\nparams:\n  env: { default: a, zzzz: 1 }\nsteps:\n  - id: b\n    run: echo\n    qqqq: 1\n";
        let err = super::super::parse_str(y, Path::new("t.yaml")).unwrap_err();
        let hint = |key: &str| {
            let d = err
                .0
                .iter()
                .find(|d| d.message.contains(&format!("`{key}`")))
                .unwrap_or_else(|| panic!("no problem with `{key}`: {err}"));
            d.hint.clone().unwrap_or_default()
        };
        let param = hint("zzzz");
        assert!(param.contains("enum"), "{param}");
        assert!(!param.contains("depends_on"), "{param}");
        let step = hint("qqqq");
        assert!(step.contains("depends_on"), "{step}");
        assert!(!step.contains("enum"), "{step}");
    }

    /// A step with more keys than the table's 64-bit record of taken keys: the keys past the
    /// 64th are taken and reported like the first ones.
    #[test]
    fn keys_past_the_sixty_fourth_are_taken_and_reported_alike() {
        let mut y = String::from("name: wide\nsteps:\n  - ");
        for i in 0..70 {
            y.push_str(&format!("x{i}: 1\n    "));
        }
        y.push_str("id: a\n    run: echo\n    retyr: 2\n");
        let err = super::super::parse_str(&y, Path::new("wide.yaml")).unwrap_err();
        let unknown: Vec<&str> = err
            .0
            .iter()
            .filter_map(|d| d.message.strip_prefix("unknown key `"))
            .collect();
        assert_eq!(unknown.len(), 71, "{err}");
        assert!(
            unknown.iter().all(|m| m.ends_with("` in step `a`")),
            "{err}"
        );
        let typo = err
            .0
            .iter()
            .find(|d| d.message.contains("`retyr`"))
            .unwrap();
        assert_eq!(typo.line, 75, "{err}");
        assert!(
            typo.hint.as_deref().unwrap_or("").contains("retry"),
            "{err}"
        );
    }
}
