//! Cleaning text for a terminal: the one function every table tocsin prints goes through.
//!
//! Logs and rule files are third-party text, and an attacker writes some of it: a command
//! line, a host name, a rule title downloaded with a rule pack. A control character in it,
//! printed raw, is an instruction to the analyst's terminal (`ESC ]0;…BEL` retitles the
//! window, `ESC [2J` clears the screen, `ESC [8m` hides what follows, a carriage return
//! overwrites the line already shown), so every piece of such text is cleaned before it
//! reaches a table. CSV and JSON escape text by their own rules and need no cleaning.
//!
//! Unicode's bidirectional controls (`U+202E` and its kin) are cleaned too: they reorder
//! what follows them on screen, so `evil\u{202e}fdp.exe` would read as `evilexe.pdf`.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL and C1, as [`char::is_control`] says)
/// written as its Rust escape (`\n`, `\t`, `\u{1b}`, `\u{9b}`), so that it cannot drive
/// the terminal yet stays visible: the analyst sees that the text held an escape sequence,
/// and which.
///
/// Borrows when there is nothing to clean, the common case.
///
/// ```
/// assert_eq!(tocsin_output::clean("ws\x1b[2J01\n"), "ws\\u{1b}[2J01\\n");
/// assert_eq!(tocsin_output::clean("plain"), "plain");
/// ```
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_cleaning) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_cleaning(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `c` would act on the terminal rather than show: a control character or a
/// bidirectional control.
pub fn needs_cleaning(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let hostile = "\x1b]0;pwned\x07 \x1b[2J\u{9b}31m\r\tné";
        let cleaned = clean(hostile);
        assert!(!cleaned.chars().any(char::is_control), "{cleaned:?}");
        assert_eq!(
            cleaned,
            "\\u{1b}]0;pwned\\u{7} \\u{1b}[2J\\u{9b}31m\\r\\tné"
        );
        assert!(matches!(clean("plain ¦ text"), Cow::Borrowed(_)));
        assert_eq!(clean("evil\u{202e}fdp.exe"), "evil\\u{202e}fdp.exe");
    }
}
