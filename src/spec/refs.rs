//! Which variables a template or expression reads, found without running it: minijinja's own
//! analysis (dotted paths), a scan for `name["key"]` subscripts it does not follow, and a fast
//! path that reads plain `{{ path | filter }}` templates without compiling them at all.

use std::borrow::Cow;
use std::fmt;

use super::bytes::find_any;
use super::idhash::IdSet;

/// A variable a template reads: `steps.build.output.risk` is root `steps`, path
/// `[build, output, risk]`. Only the statically known part of the path is kept. Names are
/// borrowed from the template's text where they appear in it as they are (a validation
/// reads some thousand references per thousand steps, and a copy of each name was a fifth
/// of its allocations); minijinja's own analysis gives owned ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference<'a> {
    /// The top-level name (`params`, `steps`, `env`, `run`, ...).
    pub root: Cow<'a, str>,
    /// Attribute names after the root.
    pub path: RefPath<'a>,
}

/// The attribute names after a reference's root, read as a slice. Up to three are kept in
/// place (nearly every reference has one to three: `params.env`, `steps.build.output.risk`),
/// more in a list: a validation reads a thousand references or so per thousand steps, and a
/// list for each was an allocation each.
#[derive(Clone, Default)]
pub struct RefPath<'a> {
    inline: [Cow<'a, str>; 3],
    len: usize,
    /// All of them, once there are more than three.
    spilled: Vec<Cow<'a, str>>,
}

impl<'a> RefPath<'a> {
    /// Adds a name at the end.
    pub fn push(&mut self, name: Cow<'a, str>) {
        if self.spilled.is_empty() && self.len < self.inline.len() {
            self.inline[self.len] = name;
            self.len += 1;
            return;
        }
        if self.spilled.is_empty() {
            let kept = self.inline[..self.len].iter_mut().map(std::mem::take);
            self.spilled = kept.collect();
            self.len = 0;
        }
        self.spilled.push(name);
    }
}

impl<'a> std::ops::Deref for RefPath<'a> {
    type Target = [Cow<'a, str>];

    fn deref(&self) -> &[Cow<'a, str>] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

impl<'a> FromIterator<Cow<'a, str>> for RefPath<'a> {
    fn from_iter<I: IntoIterator<Item = Cow<'a, str>>>(names: I) -> RefPath<'a> {
        let mut path = RefPath::default();
        for name in names {
            path.push(name);
        }
        path
    }
}

impl<'r, 'a> IntoIterator for &'r RefPath<'a> {
    type Item = &'r Cow<'a, str>;
    type IntoIter = std::slice::Iter<'r, Cow<'a, str>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for RefPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for RefPath<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for RefPath<'_> {}

impl PartialOrd for RefPath<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RefPath<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl std::hash::Hash for RefPath<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)?;
        for p in &self.path {
            write!(f, ".{p}")?;
        }
        Ok(())
    }
}

/// The names a template environment defines itself (`range`, `dict`, ...), which are not
/// variables. Asked of every reference: most roots (`steps`, `params`) start with a letter no
/// global starts with, and are told apart without hashing.
#[derive(Debug, Clone)]
pub(super) struct Globals {
    names: IdSet<String>,
    firsts: super::bytes::ByteSet,
}

impl Globals {
    pub(super) fn new(names: impl IntoIterator<Item = String>) -> Globals {
        let names: IdSet<String> = names.into_iter().collect();
        let mut firsts = [false; 256];
        for n in &names {
            if let Some(&b) = n.as_bytes().first() {
                firsts[b as usize] = true;
            }
        }
        Globals { names, firsts }
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        name.as_bytes()
            .first()
            .is_some_and(|&b| self.firsts[b as usize])
            && self.names.contains(name)
    }
}

/// The parts of a template inside `{{ }}` and `{% %}`.
pub(super) fn subscript_regions(tpl: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = tpl;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start..];
        let close = if after.starts_with("{{") {
            "}}"
        } else if after.starts_with("{%") {
            "%}"
        } else {
            rest = &rest[start + 1..];
            continue;
        };
        match after[2..].find(close) {
            Some(end) => {
                out.push(&after[2..2 + end]);
                rest = &after[2 + end + 2..];
            }
            None => {
                out.push(&after[2..]);
                break;
            }
        }
    }
    out
}

/// Merges minijinja's dotted paths with the `name["key"]` subscripts it does not follow, and
/// drops the environment's own globals (`range`, `dict`, ...).
pub(super) fn collect_references<'a>(
    nested: std::collections::HashSet<String>,
    regions: &[&'a str],
    globals: &Globals,
) -> Vec<Reference<'a>> {
    let mut out: Vec<Reference<'a>> = Vec::with_capacity(nested.len());
    for dotted in nested {
        let mut parts = dotted.split('.').map(|p| Cow::Owned(p.to_string()));
        let Some(root) = parts.next() else { continue };
        out.push(Reference {
            root,
            path: parts.collect(),
        });
    }
    // minijinja reports `steps["a-b"].x` as a bare `steps`; the scan adds the precise path,
    // and `dedupe` drops the bare prefix.
    for region in regions {
        out.extend(scan_subscripts(region));
    }
    dedupe(out, globals)
}

/// Drops globals, repeats, and a path that is a prefix of another (keeps the longest).
pub(super) fn dedupe<'a>(mut all: Vec<Reference<'a>>, globals: &Globals) -> Vec<Reference<'a>> {
    dedupe_in_place(&mut all, globals);
    all
}

/// [`dedupe`] on a list the caller keeps.
pub(super) fn dedupe_in_place(all: &mut Vec<Reference<'_>>, globals: &Globals) {
    all.retain(|r| !globals.contains(&r.root));
    if all.len() < 2 {
        return;
    }
    all.sort_unstable();
    all.dedup();
    // Sorted, a path's longer extensions come right after it (before any other path that
    // sorts after it), so a prefix is found by looking at its successor only.
    let mut kept = 0;
    for i in 0..all.len() {
        let extended = all.get(i + 1).is_some_and(|b| {
            let a = &all[i];
            b.root == a.root && b.path.len() > a.path.len() && b.path.starts_with(&a.path)
        });
        if !extended {
            all.swap(kept, i);
            kept += 1;
        }
    }
    all.truncate(kept);
}

/// [`simple_references_into`] into a list of its own; `None` where that gives false.
#[cfg(test)]
pub(super) fn simple_references(tpl: &str) -> Option<Vec<Reference<'_>>> {
    let mut refs = Vec::new();
    simple_references_into(tpl, &mut refs).then_some(refs)
}

/// Finds `name["key"]...` and `name['key'].attr...` chains in expression text.
fn scan_subscripts(text: &str) -> Vec<Reference<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !(bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
            || (i > 0
                && (bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b'.'))
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let root = &text[start..i];
        let mut path = RefPath::default();
        let mut j = i;
        loop {
            if text[j..].starts_with('.') {
                let s = j + 1;
                let mut e = s;
                while e < bytes.len() && (bytes[e].is_ascii_alphanumeric() || bytes[e] == b'_') {
                    e += 1;
                }
                if e == s {
                    break;
                }
                path.push(Cow::Borrowed(&text[s..e]));
                j = e;
            } else if let Some((key, end)) = quoted_subscript(text, j) {
                path.push(Cow::Borrowed(key));
                j = end;
            } else {
                break;
            }
        }
        // Only chains that contain a subscript are news; plain dotted paths minijinja reports.
        if text[i..j].contains('[') {
            out.push(Reference {
                root: Cow::Borrowed(root),
                path,
            });
        }
        i = j.max(i + 1);
    }
    out
}

/// `["key"]` or `['key']` at `at`: the key and the index after `]`.
fn quoted_subscript(text: &str, at: usize) -> Option<(&str, usize)> {
    let rest = text.get(at..)?;
    let rest_trim = rest.strip_prefix('[')?;
    let quote = rest_trim
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest_trim[1..];
    let end = body.find(quote)?;
    let key = &body[..end];
    let after = body[end + 1..].strip_prefix(']')?;
    Some((key, text.len() - after.len()))
}

/// The fast path of [`Templates::template_references`]: when every tag of `tpl` is a plain
/// `{{ path | filter(literal, ...) }}`, the template certainly compiles and its references are
/// the paths, so minijinja's compiler (two parses) is not needed: they are appended to `refs`.
/// False for anything else (statements, comments, operators, calls, unusual literals), with
/// `refs` left part-filled: the caller then asks minijinja.
pub(super) fn simple_references_into<'a>(tpl: &'a str, refs: &mut Vec<Reference<'a>>) -> bool {
    let bytes = tpl.as_bytes();
    let mut i = 0;
    while let Some(k) = find_any(&bytes[i..], [b'{']).map(|k| i + k) {
        match bytes.get(k + 1) {
            Some(b'{') => {}
            Some(b'%' | b'#') => return false,
            _ => {
                i = k + 1;
                continue;
            }
        }
        let start = k + 2;
        let Some(end) = closing_braces(bytes, start) else {
            return false;
        };
        let mut inner = &tpl[start..end];
        inner = inner.strip_prefix('-').unwrap_or(inner);
        inner = inner.strip_suffix('-').unwrap_or(inner);
        if inner.as_bytes().contains(&b'{') {
            return false;
        }
        let Some(reference) = simple_expression(inner) else {
            return false;
        };
        refs.push(reference);
        i = end + 2;
    }
    true
}

/// The fast path of [`Templates::expression_references`]: an expression that is operands
/// (paths with filters, or literals, each after any number of `not`) joined by binary
/// operators certainly compiles, and its references are the paths. `None` for anything else
/// (calls, tests, `in`, brackets, unusual literals): the caller then asks minijinja.
pub(super) fn simple_expression_references(expr: &str) -> Option<Vec<Reference<'_>>> {
    let mut c = Cursor::new(expr, 0);
    let mut refs = Vec::new();
    loop {
        c.ws();
        while c.word("not") {
            c.ws();
        }
        let start = c.i;
        if c.literal().is_none() {
            c.i = start;
            let (reference, end) = path_with_filters(&expr[start..])?;
            refs.push(reference);
            c.i = start + end;
        }
        c.ws();
        if c.i == c.s.len() {
            return Some(refs);
        }
        if !c.binary_operator() {
            return None;
        }
    }
}

/// Words that are not variables in an expression (a `match`, not a list search: this is asked
/// for every name of every template).
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "true"
            | "false"
            | "none"
            | "True"
            | "False"
            | "None"
            | "not"
            | "and"
            | "or"
            | "in"
            | "is"
            | "if"
            | "else"
            | "loop"
            | "self"
    )
}

/// `path (| filter (args)?)*` → the path; `None` for any other shape.
fn simple_expression(text: &str) -> Option<Reference<'_>> {
    let (reference, end) = path_with_filters(text)?;
    let mut c = Cursor::new(text, end);
    c.ws();
    (c.i == c.s.len()).then_some(reference)
}

/// A `path (| filter (args)?)*` at the start of `text` (after blanks): its path, and where it
/// ends.
fn path_with_filters(text: &str) -> Option<(Reference<'_>, usize)> {
    let mut c = Cursor::new(text, 0);
    c.ws();
    let root = c.ident()?;
    if is_keyword(root) {
        return None;
    }
    let mut path = RefPath::default();
    loop {
        if c.eat(b'.') {
            path.push(Cow::Borrowed(c.ident()?));
        } else if c.peek() == Some(b'[') {
            c.i += 1;
            path.push(Cow::Borrowed(c.string()?));
            if !c.eat(b']') {
                return None;
            }
        } else {
            break;
        }
    }
    c.ws();
    while c.eat(b'|') {
        c.ws();
        let filter = c.ident()?;
        if is_keyword(filter) {
            return None;
        }
        c.ws();
        if c.eat(b'(') {
            c.ws();
            if !c.eat(b')') {
                loop {
                    c.literal()?;
                    c.ws();
                    if c.eat(b')') {
                        break;
                    }
                    if !c.eat(b',') {
                        return None;
                    }
                    c.ws();
                }
            }
            c.ws();
        }
    }
    Some((
        Reference {
            root: Cow::Borrowed(root),
            path,
        },
        c.i,
    ))
}

/// Where the first `}}` at or after `from` starts.
fn closing_braces(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += find_any(bytes.get(at..)?, [b'}'])?;
        if bytes.get(at + 1) == Some(&b'}') {
            return Some(at);
        }
        at += 1;
    }
}

struct Cursor<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, i: usize) -> Cursor<'a> {
        Cursor {
            text,
            s: text.as_bytes(),
            i,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn ident(&mut self) -> Option<&'a str> {
        let start = self.i;
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.i += 1,
            _ => return None,
        }
        self.i += super::bytes::skip_while(&self.s[self.i..], &super::bytes::WORD_BYTES);
        // ASCII letters, digits and `_` only: the ends are character boundaries.
        self.text.get(start..self.i)
    }
    /// The keyword `w`, not the start of a longer name.
    fn word(&mut self, w: &str) -> bool {
        let end = self.i + w.len();
        let whole = self.s.get(self.i..end) == Some(w.as_bytes())
            && !matches!(self.s.get(end), Some(b) if b.is_ascii_alphanumeric() || *b == b'_');
        if whole {
            self.i = end;
        }
        whole
    }
    /// A binary operator: arithmetic, comparison, `~`, `and`, `or`.
    fn binary_operator(&mut self) -> bool {
        const OPERATORS: [&str; 14] = [
            "**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "~",
        ];
        let rest = &self.s[self.i..];
        if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(op.as_bytes())) {
            self.i += op.len();
            return true;
        }
        self.word("and") || self.word("or")
    }
    /// A quoted string without escapes.
    fn string(&mut self) -> Option<&'a str> {
        let quote = self.peek().filter(|q| *q == b'"' || *q == b'\'')?;
        let start = self.i + 1;
        let len = self.s[start..]
            .iter()
            .position(|b| *b == quote || *b == b'\\')?;
        if self.s[start + len] != quote {
            return None;
        }
        self.i = start + len + 1;
        // Between two ASCII quotes: the ends are character boundaries.
        self.text.get(start..start + len)
    }
    /// A string, a plain decimal number, `true`, `false` or `none`.
    fn literal(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' | b'\'' => self.string().map(|_| ()),
            b'-' | b'0'..=b'9' => {
                self.eat(b'-');
                let digits = self.i;
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
                if self.i == digits {
                    return None;
                }
                if self.eat(b'.') {
                    let frac = self.i;
                    while matches!(self.peek(), Some(b'0'..=b'9')) {
                        self.i += 1;
                    }
                    if self.i == frac {
                        return None;
                    }
                }
                // `1.e3`, `1e3`, `0x1`, `1_000`... are left to minijinja.
                match self.peek() {
                    Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' => None,
                    _ => Some(()),
                }
            }
            _ => match self.ident()? {
                "true" | "false" | "none" => Some(()),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Globals;

    #[test]
    fn a_path_reads_the_same_in_place_and_spilled() {
        use std::borrow::Cow;
        for n in 0..7 {
            let names: Vec<Cow<'_, str>> = (0..n).map(|i| Cow::Owned(format!("p{i}"))).collect();
            let path: super::RefPath<'_> = names.iter().cloned().collect();
            assert_eq!(&*path, names.as_slice(), "{n} names");
            let mut pushed = super::RefPath::default();
            for name in &names {
                pushed.push(name.clone());
            }
            assert_eq!(pushed, path);
            assert_eq!(format!("{pushed:?}"), format!("{names:?}"));
        }
        let short: super::RefPath<'_> = ["a"].map(Cow::Borrowed).into_iter().collect();
        let long: super::RefPath<'_> = ["a", "b", "c", "d"]
            .map(Cow::Borrowed)
            .into_iter()
            .collect();
        assert!(short < long && long.starts_with(&short));
    }

    #[test]
    fn globals_are_told_from_other_names_whatever_their_first_letter() {
        let g = Globals::new(["range", "dict", "r"].map(String::from));
        for name in ["range", "dict", "r"] {
            assert!(g.contains(name), "{name}");
        }
        // `rangex`, `ra` and `d` share a first letter with a global, `steps` does not.
        for name in ["rangex", "ra", "d", "steps", "params", ""] {
            assert!(!g.contains(name), "{name}");
        }
    }
}
