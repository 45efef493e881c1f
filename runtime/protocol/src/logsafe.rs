//! Client-chosen text in the servers' log lines. Both servers prefix an action's log lines with
//! its activation id and end every activation with a marker line, so an id holding a newline
//! could forge lines, or the marker, of its own. Such text is escaped, not refused: the protocol
//! lets the caller choose its ids, and the action still sees them unchanged.

use std::borrow::Cow;

/// `text` with every character that is not plainly printable (line breaks, other control and
/// format characters, unassigned ones…) and every backslash written as Rust's `escape_debug`
/// writes it (`\n`, `\u{2028}`, `\\`), so that the result holds no line break and reads back
/// unambiguously. Quotes are left as they are. Borrows `text` when nothing needs escaping.
pub fn log_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    !matches!(c, '"' | '\'') && c.escape_debug().len() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_controls_are_escaped_and_plain_ids_borrowed() {
        assert!(matches!(log_safe("0123abcd-ef"), Cow::Borrowed(_)));
        assert!(matches!(log_safe("λ☃ \"q\" 'q'"), Cow::Borrowed(_)));
        assert_eq!(log_safe("a\nXXX\r\nb"), "a\\nXXX\\r\\nb");
        assert_eq!(log_safe("tab\there\u{1b}[31m"), "tab\\there\\u{1b}[31m");
        assert_eq!(log_safe("x\u{2028}y\u{85}z"), "x\\u{2028}y\\u{85}z");
        assert_eq!(log_safe("back\\n"), "back\\\\n");
        assert_eq!(log_safe("rlo\u{202e}"), "rlo\\u{202e}");
        for s in ["\n", "a\u{2029}", "\u{b}\u{c}"] {
            assert!(
                !log_safe(s)
                    .chars()
                    .any(|c| c.is_control() || c == '\u{2029}')
            );
        }
    }
}
