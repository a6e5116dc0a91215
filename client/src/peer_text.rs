//! Text from the server (an `Error` frame's message), made fit to print.
//!
//! # Design
//!
//! The client's diagnostics are single lines on a terminal, and an `Error`
//! message is whatever bytes the peer chose: newlines would forge extra
//! lines, escape sequences would drive the terminal, invalid UTF-8 would
//! garble it, and a megabyte would bury everything else. So every
//! server-supplied string passes through [`sanitize`] before it is printed:
//! invalid UTF-8 becomes U+FFFD, control and bidirectional-formatting
//! characters are escaped the way Rust's `escape_debug` writes them
//! (`\n`, `\u{1b}`), and the result is cut at [`MAX_PEER_TEXT`] characters
//! with a marker saying how much was dropped. Command *output* is never
//! touched: it is the user's data, passed on byte for byte.

/// The most characters of a server-supplied message printed; enough for
/// any honest message, short enough to keep the line a line.
pub const MAX_PEER_TEXT: usize = 512;

/// One printable line for a server-supplied message.
///
/// ```
/// use client::peer_text::sanitize;
/// assert_eq!(sanitize(b"idle for 1 s; closing"), "idle for 1 s; closing");
/// assert_eq!(sanitize(b"two\nlines\x1b[31m\xff"), "two\\nlines\\u{1b}[31m\u{fffd}");
/// let long = sanitize(&[b'x'; 2000]);
/// assert!(long.starts_with(&"x".repeat(512)));
/// assert!(long.ends_with("[… 1488 more characters cut]"));
/// ```
pub fn sanitize(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let mut out = String::with_capacity(text.len().min(MAX_PEER_TEXT * 2));
    let mut chars = text.chars();
    for c in chars.by_ref().take(MAX_PEER_TEXT) {
        if needs_escape(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    let rest = chars.count();
    if rest > 0 {
        out.push_str(&format!("[… {rest} more characters cut]"));
    }
    out
}

/// Characters that would move the cursor, start an escape sequence, or
/// reorder what the line shows.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_the_message_stays_one_line() {
        let line = sanitize(b"a\r\nb\tc\x07\x7f\xc2\x9b");
        assert_eq!(line, "a\\r\\nb\\tc\\u{7}\\u{7f}\\u{9b}");
        assert!(!line.chars().any(char::is_control));
    }

    #[test]
    fn bidi_overrides_are_escaped() {
        assert_eq!(sanitize("x\u{202e}y".as_bytes()), "x\\u{202e}y");
    }

    #[test]
    fn printable_unicode_is_kept() {
        assert_eq!(sanitize("größe ✓".as_bytes()), "größe ✓");
    }

    #[test]
    fn a_megabyte_message_is_cut_at_the_bound_with_a_marker() {
        let line = sanitize(&vec![b'\n'; 1 << 20]);
        assert!(line.starts_with(&"\\n".repeat(MAX_PEER_TEXT)));
        assert!(line.ends_with(&format!(
            "[… {} more characters cut]",
            (1 << 20) - MAX_PEER_TEXT
        )));
        assert!(line.len() < 4 * MAX_PEER_TEXT);
    }

    #[test]
    fn exactly_the_bound_is_not_cut() {
        assert_eq!(sanitize(&[b'y'; MAX_PEER_TEXT]), "y".repeat(MAX_PEER_TEXT));
    }
}
