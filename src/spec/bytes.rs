//! Byte classes for the scanners of the spec (the YAML reader, template references, the
//! command check): a table lookup per byte instead of a chain of comparisons, for the loops
//! that read most of a workflow's text.

/// A set of bytes, as a table indexed by the byte.
pub(super) type ByteSet = [bool; 256];

/// The set of `members`.
pub(super) const fn byte_set(members: &[u8]) -> ByteSet {
    let mut set = [false; 256];
    let mut k = 0;
    while k < members.len() {
        set[members[k] as usize] = true;
        k += 1;
    }
    set
}

/// The bytes of a name after its first: ASCII letters, digits and `_`.
pub(super) const WORD_BYTES: ByteSet = {
    let mut set = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        set[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    set
};

/// How many bytes of `bytes` come before the first one in `stops` (all of them if none is).
pub(super) fn skip_until(bytes: &[u8], stops: &ByteSet) -> usize {
    bytes
        .iter()
        .position(|&b| stops[b as usize])
        .unwrap_or(bytes.len())
}

/// How many bytes of `bytes` come before the first of `set` (all of them if none is): eight
/// bytes at a time (a word with none of them is skipped whole), for the scans that read most of
/// a workflow's text (plain scalars, each `run` command's checks).
pub(super) fn skip_until_any<const N: usize>(bytes: &[u8], set: [u8; N]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `w` that equals `x` (and maybe of bytes after the first
    // one that does, which the lowest set bit ignores).
    let equal = |w: u64, x: u8| {
        let v = w ^ (ONES * u64::from(x));
        v.wrapping_sub(ONES) & !v & HIGHS
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let found = set.iter().fold(0, |f, &x| f | equal(w, x));
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = chunks.remainder();
    at + rest
        .iter()
        .position(|b| set.contains(b))
        .unwrap_or(rest.len())
}

/// Where the first byte of `set` is in `bytes`, if one is ([`skip_until_any`] as a search).
pub(super) fn find_any<const N: usize>(bytes: &[u8], set: [u8; N]) -> Option<usize> {
    let k = skip_until_any(bytes, set);
    (k < bytes.len()).then_some(k)
}

/// How many bytes of `bytes` come before the first one not in `set`.
pub(super) fn skip_while(bytes: &[u8], set: &ByteSet) -> usize {
    bytes
        .iter()
        .position(|&b| !set[b as usize])
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_stop_at_the_first_byte_of_the_class_or_the_end() {
        const STOPS: ByteSet = byte_set(b":#\n");
        assert_eq!(skip_until(b"ab c: d", &STOPS), 4);
        assert_eq!(skip_until(b"abc", &STOPS), 3);
        assert_eq!(skip_until(b"", &STOPS), 0);
        assert_eq!(skip_while(b"a_1-b", &WORD_BYTES), 3);
        assert_eq!(skip_while(b"\xc3\xa9", &WORD_BYTES), 0);
        assert_eq!(skip_while(b"Zz9", &WORD_BYTES), 3);
        assert_eq!(find_any(b"a {{ b }}", [b'{']), Some(2));
        assert_eq!(find_any(b"0123456789 }", [b'}']), Some(11));
        assert_eq!(find_any(b"no brace here", [b'{', b'}']), None);
        assert_eq!(find_any(b"", [b'{']), None);
    }

    /// The word-at-a-time scan finds what a plain byte-by-byte one finds, wherever the byte
    /// falls in its word, and whatever bytes (high ones included) come before it.
    #[test]
    fn the_word_scan_agrees_with_a_byte_scan() {
        let mut text: Vec<u8> = Vec::new();
        for k in 0..600u32 {
            text.push(match k % 37 {
                0 => b':',
                5 => 0xff,
                9 => 0x80,
                13 => b'#',
                21 => b'\n',
                30 => 0x01,
                _ => b'a' + (k % 26) as u8,
            });
        }
        for start in 0..text.len() {
            for end in [
                start,
                (start + 3).min(text.len()),
                (start + 40).min(text.len()),
            ] {
                let part = &text[start..end];
                let slow = part
                    .iter()
                    .position(|&x| matches!(x, b':' | b'#' | b'\n'))
                    .unwrap_or(part.len());
                assert_eq!(
                    skip_until_any(part, [b'\n', b':', b'#']),
                    slow,
                    "{start}..{end}"
                );
            }
        }
    }
}
