//! Secret masking: every value known to be secret (provider keys, a workflow's `secrets:` and
//! `env_file:`) is replaced by `***` in everything baton stores or shows, together with its
//! base64 (standard and URL-safe, at each of the three byte alignments) and percent-encoded
//! forms, and the user-info of any URL (`https://user:pass@host` → `https://***@host`).
//!
//! Output arrives line by line, and a value may be cut by a line break (`fold`, `base64`'s
//! wrapping, the reader's split of very long lines): line breaks are transparent to the
//! matching. [`Redactor::mask_line`] keeps, per stream, which secret forms the previous line
//! ended partway through; the end of that line is masked when at least [`MIN_PARTIAL`] bytes of
//! a form are there, and the rest of the form is masked at the start of the next line.

pub mod env_file;

use std::borrow::Cow;
use std::ops::Range;

use crate::encoding;

/// Values shorter than this are not masked: they would blank out ordinary words.
pub const MIN_SECRET: usize = 4;

/// How much of a secret form a line must end with to be masked before the next line shows
/// whether the form goes on. Shorter tails stay visible (and the rest is masked on the next
/// line): masking every line that ends with a secret's first byte would garble ordinary output.
pub const MIN_PARTIAL: usize = 4;

/// What stands in for a secret.
pub const MASK: &str = "***";

/// Replaces every known secret, in each of its forms, with `***`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// The values as given (for adding more).
    values: Vec<String>,
    /// Every form to look for, longest first.
    forms: Vec<String>,
}

/// Which secret forms the previous line of a stream ended partway through.
#[derive(Debug, Clone, Default)]
pub struct StreamMask {
    /// (form index, bytes of it already seen).
    open: Vec<(usize, usize)>,
}

impl Redactor {
    /// A redactor for these values (shorter than [`MIN_SECRET`] ignored).
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET)
            .collect();
        values.sort();
        values.dedup();
        let mut forms: Vec<String> = values.iter().flat_map(|v| forms_of(v)).collect();
        forms.retain(|f| f.len() >= MIN_SECRET);
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Redactor { values, forms }
    }

    /// This redactor with more values.
    pub fn with(&self, more: impl IntoIterator<Item = String>) -> Redactor {
        Redactor::new(self.values.iter().cloned().chain(more))
    }

    /// Whether there is no secret to mask (URL user-info is masked all the same).
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// The text with every secret form and URL user-info masked; line breaks inside it are
    /// transparent to the matching.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.forms.is_empty() && !text.contains("://") {
            return Cow::Borrowed(text);
        }
        let mut state = StreamMask::default();
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let masked = self.mask_line(&mut state, line);
            changed |= matches!(masked, Cow::Owned(_));
            out.push_str(&masked);
        }
        if changed {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(text)
        }
    }

    /// One line of a stream masked, `state` carrying forms cut by the previous line break.
    pub fn mask_line<'a>(&self, state: &mut StreamMask, line: &'a str) -> Cow<'a, str> {
        if line.is_empty() {
            return Cow::Borrowed(line);
        }
        let mut ranges = Vec::new();
        let mut open = Vec::new();
        for &(f, seen) in &state.open {
            let rest = &self.forms[f][seen..];
            if line.starts_with(rest) {
                ranges.push(0..rest.len());
            } else if rest.starts_with(line) {
                ranges.push(0..line.len());
                open.push((f, seen + line.len()));
            }
        }
        for (f, form) in self.forms.iter().enumerate() {
            ranges.extend(
                line.match_indices(form.as_str())
                    .map(|(i, m)| i..i + m.len()),
            );
            self.dangling(f, line, &mut ranges, &mut open);
        }
        state.open = open;
        let masked = replace_ranges(line, ranges);
        match mask_userinfo(&masked) {
            Cow::Owned(o) => Cow::Owned(o),
            Cow::Borrowed(_) => masked,
        }
    }

    /// Records (and masks, when long enough) a tail of `line` that begins form `f`.
    fn dangling(
        &self,
        f: usize,
        line: &str,
        ranges: &mut Vec<Range<usize>>,
        open: &mut Vec<(usize, usize)>,
    ) {
        let form = &self.forms[f];
        let from = line.len().saturating_sub(form.len() - 1);
        let first = form.as_bytes()[0];
        for p in from..line.len() {
            if line.as_bytes()[p] != first || !line.is_char_boundary(p) {
                continue;
            }
            let tail = &line[p..];
            if form.starts_with(tail) {
                if tail.len() >= MIN_PARTIAL {
                    ranges.push(p..line.len());
                }
                open.push((f, tail.len()));
            }
        }
    }
}

/// The forms of one value that are masked: itself, percent-encoded, and the parts of its
/// base64 encodings that do not depend on the bytes around it.
fn forms_of(value: &str) -> Vec<String> {
    let mut forms = vec![
        value.to_string(),
        encoding::percent(value, false),
        lower_hex(&encoding::percent(value, false)),
        encoding::percent(value, true),
    ];
    for offset in 0..3 {
        let mut data = vec![0u8; offset];
        data.extend_from_slice(value.as_bytes());
        // Characters made only of the value's bits: drop those mixed with the padding before
        // it and with whatever follows it.
        let whole = data.len() * 8 / 6;
        let skip = (offset * 8).div_ceil(6);
        for encoded in [encoding::base64(&data), encoding::base64_url(&data)] {
            if let Some(core) = encoded.get(skip..whole) {
                forms.push(core.to_string());
            }
        }
    }
    forms
}

/// Lower-case hex digits in `%XX` escapes.
fn lower_hex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escape = 0;
    for c in text.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with the ranges (possibly overlapping) replaced by one `***` each.
fn replace_ranges(text: &str, mut ranges: Vec<Range<usize>>) -> Cow<'_, str> {
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut current: Option<Range<usize>> = None;
    for r in ranges {
        match &mut current {
            Some(c) if r.start <= c.end => c.end = c.end.max(r.end),
            _ => {
                if let Some(c) = current.take() {
                    out.push_str(&text[at..c.start]);
                    out.push_str(MASK);
                    at = c.end;
                }
                current = Some(r);
            }
        }
    }
    if let Some(c) = current {
        out.push_str(&text[at..c.start]);
        out.push_str(MASK);
        at = c.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// URLs with their user-info masked: `https://user:pass@host/x` → `https://***@host/x`.
pub fn mask_userinfo(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut ranges = Vec::new();
    for (i, _) in text.match_indices("://") {
        let start = i + 3;
        let authority_len = text[start..]
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`') || c.is_whitespace()
            })
            .unwrap_or(text.len() - start);
        let authority = &text[start..start + authority_len];
        if let Some(at) = authority.rfind('@')
            && at > 0
        {
            ranges.push(start..start + at);
        }
    }
    replace_ranges(text, ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-Secret/Value+42 x";

    fn lines(r: &Redactor, lines: &[&str]) -> Vec<String> {
        let mut state = StreamMask::default();
        lines
            .iter()
            .map(|l| r.mask_line(&mut state, l).into_owned())
            .collect()
    }

    #[test]
    fn every_form_of_a_secret_is_masked() {
        let r = Redactor::new([KEY.to_string(), "abc".to_string()]);
        assert_eq!(r.redact(&format!("key={KEY} abc")), "key=*** abc");
        for encoded in [
            encoding::base64(KEY.as_bytes()),
            encoding::base64(format!("x{KEY}").as_bytes()),
            encoding::base64(format!("xy{KEY}z").as_bytes()),
            encoding::base64_url(format!("user:{KEY}").as_bytes()),
            encoding::percent(KEY, false),
            lower_hex(&encoding::percent(KEY, false)),
            encoding::percent(KEY, true),
        ] {
            let masked = r.redact(&encoded).into_owned();
            assert!(masked.contains(MASK), "{encoded} → {masked}");
            assert!(masked.len() <= MASK.len() + 8, "{encoded} → {masked}");
        }
    }

    #[test]
    fn a_secret_cut_by_line_breaks_is_masked_on_both_sides() {
        let r = Redactor::new([KEY.to_string()]);
        let (a, b) = KEY.split_at(10);
        assert_eq!(
            lines(&r, &[&format!("head {a}"), &format!("{b} tail")]),
            ["head ***", "*** tail"]
        );
        // In three pieces, the middle one a whole line.
        let (b1, b2) = b.split_at(6);
        assert_eq!(lines(&r, &[a, b1, b2]), ["***", "***", "***"]);
        // A short tail stays (too common to mask) but the rest is masked.
        let (c, d) = KEY.split_at(2);
        assert_eq!(lines(&r, &[c, d]), [c, "***"]);
        // Whole-text redaction treats line breaks the same way.
        let folded = encoding::base64(KEY.as_bytes());
        let (x, y) = folded.split_at(12);
        let masked = r.redact(&format!("{x}\n{y}")).into_owned();
        assert!(
            masked.starts_with("***\n***") && masked.len() <= 10,
            "{masked}"
        );
    }

    #[test]
    fn ordinary_lines_are_left_alone() {
        let r = Redactor::new([KEY.to_string()]);
        let text = "sk-\nsk-test done\nplain";
        assert_eq!(lines(&r, &["plain sk", "other"]), ["plain sk", "other"]);
        assert_eq!(r.redact(text), text);
        assert!(matches!(Redactor::default().redact("x"), Cow::Borrowed(_)));
    }

    #[test]
    fn url_user_info_is_masked() {
        let r = Redactor::default();
        assert_eq!(
            r.redact("GET http://bob:hunter2@127.0.0.1:80/x?a=b@c and https://h/p"),
            "GET http://***@127.0.0.1:80/x?a=b@c and https://h/p"
        );
        assert_eq!(r.redact("ssh://git@host"), "ssh://***@host");
    }
}
