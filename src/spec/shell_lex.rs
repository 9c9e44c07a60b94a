//! A small POSIX shell lexer that finds where each value lands in a command.
//!
//! A `run:` command is rendered with a marker (`\0N\0`) in place of each interpolated value; this
//! finds the quoting context of every marker: a bare word, `"…"`, `'…'`, a heredoc body (quoted
//! delimiter or not), a comment, arithmetic, nested in `$(…)` and backquotes. Places where no
//! quoting is safe in every shell (`$'…'`, `${…}`, right after `\` or `$`, a heredoc delimiter)
//! are refused. `shell_quote.rs` then writes each value for its place.

use std::fmt;

/// How a value must be written at its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// A word of its own or part of one: single-quoted.
    Bare,
    /// Inside `"…"`: `\ " $` and backquote escaped.
    Double,
    /// Inside `'…'`: each `'` written as `'\''`.
    Single,
    /// In the body of a heredoc whose delimiter is unquoted: `\ $` and backquote escaped.
    Heredoc,
    /// In the body of a heredoc whose delimiter is quoted: written as is.
    QuotedHeredoc,
    /// In a comment: as is, but without a line break.
    Comment,
    /// Anywhere inside `$((…))` or `((…))`: only a whole number.
    Arith,
}

/// Why no quoting makes a value safe at some place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Right after a `\`, which would escape the first character of the quoting.
    AfterBackslash,
    /// Right after a `$`, which would start an expansion with the value.
    AfterDollar,
    /// Inside `$'…'`, which bash and dash read differently.
    AnsiC,
    /// Inside `${…}`, whose quoting rules differ between shells.
    Parameter,
    /// In a heredoc's delimiter word.
    HeredocDelimiter,
    /// In a heredoc inside backquotes.
    HeredocInBackquotes,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::AfterBackslash => "right after a `\\`",
            Refusal::AfterDollar => "right after a `$`",
            Refusal::AnsiC => "inside `$'…'` (bash and sh read it differently)",
            Refusal::Parameter => "inside `${…}`",
            Refusal::HeredocDelimiter => "in a heredoc's delimiter",
            Refusal::HeredocInBackquotes => "in a heredoc inside backquotes",
        })
    }
}

impl Refusal {
    /// What to write instead.
    pub fn hint(&self) -> &'static str {
        match self {
            Refusal::AfterBackslash | Refusal::AfterDollar => {
                "put the value in a word of its own, or use `| raw` on a value you control"
            }
            Refusal::AnsiC => "use \"…\" or '…' around the value instead of $'…'",
            Refusal::Parameter => {
                "assign the value to a variable first: `v={{ … }}; echo \"${v:-x}\"`"
            }
            Refusal::HeredocDelimiter => "write the heredoc delimiter literally (`<<EOF`)",
            Refusal::HeredocInBackquotes => "use `$(…)` instead of backquotes around the heredoc",
        }
    }
}

/// One value's place in the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The marker's number (the order in which values were rendered).
    pub index: usize,
    /// Byte offset of the marker in the lexed text.
    pub offset: usize,
    /// How to quote the value, or why it cannot be placed.
    pub quoting: Result<Quoting, Refusal>,
    /// How many backquote levels it is nested in.
    pub backquotes: u8,
}

/// A heredoc body of the lexed text (top level, not inside backquotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Byte offset where the body starts.
    pub start: usize,
    /// Byte offset of the start of its terminator line (the text's end when it has none).
    pub end: usize,
    /// The delimiter, quotes removed.
    pub delimiter: String,
    /// `<<-`: leading tabs are stripped before comparing.
    pub strip_tabs: bool,
    /// Was the delimiter quoted (no expansion, no line joining)?
    pub quoted: bool,
}

/// Every value's place and every heredoc body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The places, in text order.
    pub sites: Vec<Site>,
    /// The heredoc bodies, in text order.
    pub bodies: Vec<Body>,
}

/// The marker that stands for value `index` while a command is lexed.
pub fn marker(index: usize) -> String {
    let mut out = String::with_capacity(8);
    push_marker(&mut out, index);
    out
}

/// Appends [`marker`]`(index)` to `out`, allocating nothing of its own.
pub fn push_marker(out: &mut String, index: usize) {
    use std::fmt::Write;
    out.push('\0');
    let _ = write!(out, "{index}");
    out.push('\0');
}

/// Finds the place of every marker in `text`.
pub fn lex(text: &str) -> Layout {
    let mut lx = Lexer::new(text.as_bytes(), 0);
    lx.command(End::Eof);
    lx.layout
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    Paren,
}

struct Pending {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    layout: Layout,
    pending: Vec<Pending>,
    backquotes: u8,
    /// Inside arithmetic: every value must be a number.
    arith: bool,
    /// Inside a construct where any value is refused.
    refuse: Option<Refusal>,
}

impl<'a> Lexer<'a> {
    fn new(s: &'a [u8], backquotes: u8) -> Lexer<'a> {
        Lexer {
            s,
            i: 0,
            layout: Layout::default(),
            pending: Vec::new(),
            backquotes,
            arith: false,
            refuse: None,
        }
    }

    fn at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    /// The marker starting at `i`, as (index, length).
    fn marker_at(&self, i: usize) -> Option<(usize, usize)> {
        if self.s.get(i) != Some(&0) {
            return None;
        }
        let digits = self.s[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || self.s.get(i + 1 + digits) != Some(&0) {
            return None;
        }
        let n = std::str::from_utf8(&self.s[i + 1..i + 1 + digits])
            .ok()?
            .parse()
            .ok()?;
        Some((n, digits + 2))
    }

    /// Records the marker at the cursor (if any) in `quoting` and steps over it.
    fn site(&mut self, quoting: Quoting) -> bool {
        let Some((index, len)) = self.marker_at(self.i) else {
            return false;
        };
        let quoting = match (self.refuse, self.arith) {
            (Some(r), _) => Err(r),
            (None, true) if quoting != Quoting::Comment => Ok(Quoting::Arith),
            _ => Ok(quoting),
        };
        self.layout.sites.push(Site {
            index,
            offset: self.i,
            quoting,
            backquotes: self.backquotes,
        });
        self.i += len;
        true
    }

    /// Records the marker at the cursor as refused for `why`.
    fn refused_site(&mut self, why: Refusal) -> bool {
        let saved = self.refuse.replace(why);
        let found = self.site(Quoting::Bare);
        self.refuse = saved;
        found
    }

    /// A `\`: a line continuation, an escaped character, or a refused value after it.
    fn backslash(&mut self) {
        self.i += 1;
        if !self.refused_site(Refusal::AfterBackslash) && self.i < self.s.len() {
            self.i += 1;
        }
    }

    /// A reserved word that matters here, at the cursor and ending there.
    fn keyword(&self) -> Option<&'static str> {
        const WORDS: [&str; 11] = [
            "case", "esac", "then", "do", "else", "elif", "if", "while", "until", "time", "!",
        ];
        WORDS.into_iter().find(|w| {
            self.s[self.i..].starts_with(w.as_bytes())
                && self
                    .s
                    .get(self.i + w.len())
                    .is_none_or(|b| b" \t\n;&|()<>".contains(b))
        })
    }

    /// A command list up to `end`; `(`, `)` nest, and a `)` inside `case … esac` ends a pattern.
    fn command(&mut self, end: End) {
        let (mut depth, mut cases) = (0usize, 0usize);
        let (mut word_start, mut command_start) = (true, true);
        while let Some(c) = self.at(0) {
            let was_start = word_start;
            word_start = false;
            if was_start && command_start && c != b'\n' {
                if let Some(word) = self.keyword() {
                    match word {
                        "case" => cases += 1,
                        "esac" => cases = cases.saturating_sub(1),
                        _ => {}
                    }
                    self.i += word.len();
                    // After `case` and `esac` comes a word that is not a command.
                    command_start = !matches!(word, "case" | "esac");
                    continue;
                }
                if !b" \t;&|()<>#".contains(&c) {
                    command_start = false;
                }
            }
            match c {
                0 if self.site(Quoting::Bare) => {}
                b'\\' => self.backslash(),
                b'\'' => self.single(),
                b'"' => self.double(),
                b'`' => self.backquote(),
                b'$' => self.dollar(false),
                b'#' if was_start => self.comment(),
                b'\n' => {
                    self.i += 1;
                    (word_start, command_start) = (true, true);
                    self.bodies();
                }
                b'(' if was_start && self.at(1) == Some(b'(') => self.arith(2),
                b')' if depth == 0 && cases == 0 && end == End::Paren => {
                    self.i += 1;
                    return;
                }
                b'(' | b')' | b';' | b'&' | b'|' => {
                    match c {
                        b'(' => depth += 1,
                        b')' if depth > 0 => depth -= 1,
                        _ => {} // a `)` ending a case pattern, or a separator
                    }
                    self.i += 1;
                    (word_start, command_start) = (true, true);
                }
                b'<' if self.at(1) == Some(b'<') && self.at(2) != Some(b'<') => self.heredoc(),
                b'<' if self.at(1) == Some(b'<') => self.i += 3,
                b' ' | b'\t' | b'<' | b'>' => {
                    self.i += 1;
                    word_start = true;
                }
                _ => self.i += 1,
            }
        }
    }

    fn comment(&mut self) {
        while let Some(c) = self.at(0) {
            if c == b'\n' {
                return;
            }
            if !self.site(Quoting::Comment) {
                self.i += 1;
            }
        }
    }

    fn single(&mut self) {
        self.i += 1;
        while let Some(c) = self.at(0) {
            if c == b'\'' {
                self.i += 1;
                return;
            }
            if !self.site(Quoting::Single) {
                self.i += 1;
            }
        }
    }

    fn double(&mut self) {
        self.i += 1;
        while let Some(c) = self.at(0) {
            match c {
                b'"' => {
                    self.i += 1;
                    return;
                }
                0 if self.site(Quoting::Double) => {}
                b'\\' => self.backslash(),
                b'`' => self.backquote(),
                b'$' => self.dollar(true),
                _ => self.i += 1,
            }
        }
    }

    /// `$`: `$((`, `$(`, `${`, `$'`, or a plain `$`.
    fn dollar(&mut self, in_double: bool) {
        match (self.at(1), self.at(2)) {
            (Some(b'('), Some(b'(')) => {
                self.i += 1;
                self.arith(2);
            }
            (Some(b'('), _) => {
                self.i += 2;
                // A command substitution is a new command, but what surrounds it still holds.
                self.command(End::Paren);
            }
            (Some(b'{'), _) => {
                let saved = self.refuse.replace(Refusal::Parameter);
                self.i += 2;
                self.braces();
                self.refuse = saved;
            }
            (Some(b'\''), _) if !in_double => {
                self.i += 2;
                while let Some(c) = self.at(0) {
                    match c {
                        b'\'' => {
                            self.i += 1;
                            return;
                        }
                        b'\\' => self.i += 2,
                        _ if self.refused_site(Refusal::AnsiC) => {}
                        _ => self.i += 1,
                    }
                }
            }
            _ => {
                self.i += 1;
                self.refused_site(Refusal::AfterDollar);
            }
        }
    }

    /// The inside of `${…}` up to its `}` (every value in it is refused by the caller).
    fn braces(&mut self) {
        while let Some(c) = self.at(0) {
            match c {
                b'}' => {
                    self.i += 1;
                    return;
                }
                0 if self.site(Quoting::Bare) => {}
                b'\\' => self.backslash(),
                b'\'' => self.single(),
                b'"' => self.double(),
                b'`' => self.backquote(),
                b'$' => self.dollar(false),
                _ => self.i += 1,
            }
        }
    }

    /// `((…))` after `skip` opening bytes: everything inside is arithmetic.
    fn arith(&mut self, skip: usize) {
        self.i += skip;
        let saved = self.arith;
        self.arith = true;
        let mut depth = 0usize;
        while let Some(c) = self.at(0) {
            match c {
                b')' if depth == 0 && self.at(1) == Some(b')') => {
                    self.i += 2;
                    break;
                }
                b'(' => {
                    depth += 1;
                    self.i += 1;
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    self.i += 1;
                }
                0 if self.site(Quoting::Arith) => {}
                b'\\' => self.backslash(),
                b'\'' => self.single(),
                b'"' => self.double(),
                b'`' => self.backquote(),
                b'$' => self.dollar(false),
                _ => self.i += 1,
            }
        }
        self.arith = saved;
    }

    /// A backquoted command: its text is unescaped one level and lexed as a command of its own.
    fn backquote(&mut self) {
        self.i += 1;
        let mut inner = Vec::new();
        let mut offsets = Vec::new();
        while let Some(c) = self.at(0) {
            match c {
                b'`' => break,
                b'\\' if matches!(self.at(1), Some(b'\\' | b'`' | b'$')) => {
                    offsets.push(self.i + 1);
                    inner.push(self.s[self.i + 1]);
                    self.i += 2;
                }
                _ => {
                    offsets.push(self.i);
                    inner.push(c);
                    self.i += 1;
                }
            }
        }
        self.i += 1; // the closing backquote (or past the end)
        let mut sub = Lexer::new(&inner, self.backquotes.saturating_add(1));
        sub.arith = self.arith;
        sub.refuse = self.refuse;
        sub.command(End::Eof);
        let bodies = std::mem::take(&mut sub.layout.bodies);
        for mut site in sub.layout.sites {
            if bodies
                .iter()
                .any(|b| site.offset >= b.start && site.offset < b.end.max(b.start + 1))
            {
                site.quoting = Err(Refusal::HeredocInBackquotes);
            }
            site.offset = offsets.get(site.offset).copied().unwrap_or(self.i);
            self.layout.sites.push(site);
        }
    }

    /// `<<` or `<<-` and the delimiter word; the body is read after the line ends.
    fn heredoc(&mut self) {
        self.i += 2;
        let strip_tabs = self.at(0) == Some(b'-');
        if strip_tabs {
            self.i += 1;
        }
        while matches!(self.at(0), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        let mut delimiter = Vec::new();
        let mut quoted = false;
        let mut quote: Option<u8> = None;
        while let Some(c) = self.at(0) {
            if self.refused_site(Refusal::HeredocDelimiter) {
                continue;
            }
            match (quote, c) {
                (None, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')') => {
                    break;
                }
                (None, b'\'' | b'"') => {
                    quoted = true;
                    quote = Some(c);
                }
                (Some(q), _) if c == q => quote = None,
                (None, b'\\') => {
                    quoted = true;
                    self.i += 1;
                    if let Some(n) = self.at(0) {
                        delimiter.push(n);
                    }
                }
                _ => delimiter.push(c),
            }
            self.i += 1;
        }
        self.pending.push(Pending {
            delimiter: String::from_utf8_lossy(&delimiter).into_owned(),
            strip_tabs,
            quoted,
        });
    }

    /// The bodies of the heredocs opened on the line that just ended.
    fn bodies(&mut self) {
        for h in std::mem::take(&mut self.pending) {
            let start = self.i;
            let mut end = self.s.len();
            let mut next = self.s.len();
            let mut line_start = start;
            while line_start < self.s.len() {
                let line_end = self.s[line_start..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(self.s.len(), |p| line_start + p);
                if is_terminator(&self.s[line_start..line_end], &h.delimiter, h.strip_tabs) {
                    end = line_start;
                    next = (line_end + 1).min(self.s.len());
                    break;
                }
                line_start = line_end + 1;
            }
            self.body(start, end, h.quoted);
            self.i = next;
            self.layout.bodies.push(Body {
                start,
                end,
                delimiter: h.delimiter,
                strip_tabs: h.strip_tabs,
                quoted: h.quoted,
            });
        }
    }

    /// Lexes one heredoc body: literal when quoted, otherwise like `"…"` without the quotes.
    fn body(&mut self, start: usize, end: usize, quoted: bool) {
        self.i = start;
        while self.i < end {
            let c = self.s[self.i];
            if quoted {
                if !self.site(Quoting::QuotedHeredoc) {
                    self.i += 1;
                }
                continue;
            }
            match c {
                0 if self.site(Quoting::Heredoc) => {}
                b'\\' => self.backslash(),
                b'`' => self.backquote(),
                b'$' => self.dollar(true),
                _ => self.i += 1,
            }
        }
    }
}

/// Is `line` the terminator `delimiter` (after leading tabs when `strip_tabs`)?
pub fn is_terminator(line: &[u8], delimiter: &str, strip_tabs: bool) -> bool {
    let line = if strip_tabs {
        let tabs = line.iter().take_while(|&&b| b == b'\t').count();
        &line[tabs..]
    } else {
        line
    };
    line == delimiter.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quoting of each value in `shape`, where `V` stands for a value.
    fn places(shape: &str) -> Vec<Result<(Quoting, u8), Refusal>> {
        let mut text = String::new();
        for (i, part) in shape.split('V').enumerate() {
            if i > 0 {
                text.push_str(&marker(i - 1));
            }
            text.push_str(part);
        }
        let mut sites = lex(&text).sites;
        sites.sort_by_key(|s| s.index);
        sites
            .into_iter()
            .map(|s| s.quoting.map(|q| (q, s.backquotes)))
            .collect()
    }

    #[test]
    fn each_quoting_context_is_found() {
        use Quoting::*;
        assert_eq!(
            places("echo V \"a V\" 'V' # V"),
            vec![
                Ok((Bare, 0)),
                Ok((Double, 0)),
                Ok((Single, 0)),
                Ok((Comment, 0))
            ]
        );
        assert_eq!(
            places("x=\"$(echo 'V' \"V\" V)\" `echo \"V\"`"),
            vec![
                Ok((Single, 0)),
                Ok((Double, 0)),
                Ok((Bare, 0)),
                Ok((Double, 1))
            ]
        );
        assert_eq!(
            places("cat <<EOF; cat <<-'X'\n$(echo V) V\nEOF\n\tV\n\tX\necho V"),
            vec![
                Ok((Bare, 0)),
                Ok((Heredoc, 0)),
                Ok((QuotedHeredoc, 0)),
                Ok((Bare, 0))
            ]
        );
        assert_eq!(
            places("echo $(( V + $(echo V) )) a#V"),
            vec![Ok((Arith, 0)), Ok((Arith, 0)), Ok((Bare, 0))]
        );
        // A `)` that ends a case pattern does not end the substitution; `case` as an argument
        // starts nothing.
        assert_eq!(
            places("\"$(case x in a) echo V;; (b) x;; esac) V\" \"$(echo case) V\""),
            vec![Ok((Bare, 0)), Ok((Double, 0)), Ok((Double, 0))]
        );
    }

    #[test]
    fn places_no_quoting_makes_safe_are_refused() {
        use Refusal::*;
        assert_eq!(
            places("echo \\V \"\\V\" $V ${x:-V} $'V' <<V"),
            vec![
                Err(AfterBackslash),
                Err(AfterBackslash),
                Err(AfterDollar),
                Err(Parameter),
                Err(AnsiC),
                Err(HeredocDelimiter)
            ]
        );
        assert_eq!(
            places("x=`cat <<E\nV\nE\n`"),
            vec![Err(HeredocInBackquotes)]
        );
        // An escaped backslash escapes nothing after it.
        assert_eq!(places("echo \\\\V"), vec![Ok((Quoting::Bare, 0))]);
    }
}
