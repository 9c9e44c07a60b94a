//! Copy to the operator's clipboard with OSC 52: the terminal (even over SSH) puts the text in
//! the local clipboard.

/// The escape sequence that sets the clipboard to `text`, without its escape sequences and
/// control characters: pasted into a shell, they would act there.
pub fn osc52(text: &str) -> String {
    let text = crate::sanitize::strip(text);
    format!("\x1b]52;c;{}\x07", crate::encoding::base64(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_wraps_the_text_for_the_clipboard() {
        assert_eq!(osc52("hi"), "\x1b]52;c;aGk=\x07");
        assert_eq!(osc52("h\x1b]0;title\x07\u{9b}2Ji"), osc52("h2Ji"));
        assert_eq!(osc52("a\tb\nc"), "\x1b]52;c;YQliCmM=\x07");
    }
}
