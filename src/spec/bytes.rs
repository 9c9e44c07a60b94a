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
    }
}
