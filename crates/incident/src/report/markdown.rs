//! The Markdown [`Sink`](super::Sink).

use super::Sink;

/// Writes GitHub-flavoured Markdown, escaping all given text.
#[derive(Debug, Default)]
pub(super) struct Markdown {
    out: String,
}

/// Escapes inline markup, table pipes, raw HTML and line breaks, and writes any other
/// character that would act on a terminal (an escape sequence, a bidirectional control) as
/// its Rust escape, since reports are read with `cat` and `less` as often as rendered. An
/// `&` is escaped only
/// where it would start a character reference (`&lt;`, `&#60;`), so that `ATT&CK` reads as
/// written in the raw text too.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' if starts_reference(&text[at + 1..]) => out.push_str("&amp;"),
            '\r' | '\n' => out.push(' '),
            c if tocsin_output::needs_cleaning(c) => out.extend(c.escape_default()),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Whether the text after an `&` makes it a character reference: a name or `#` number of up
/// to 32 characters, then `;`.
fn starts_reference(after: &str) -> bool {
    let name = after
        .bytes()
        .take(33)
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'#')
        .count();
    name > 0 && name <= 32 && after.as_bytes().get(name) == Some(&b';')
}

impl Sink for Markdown {
    fn heading(&mut self, level: u8, text: &str) {
        let hashes = "#".repeat(usize::from(level.clamp(1, 6)));
        self.out.push_str(&format!("{hashes} {}\n\n", escape(text)));
    }

    fn paragraph(&mut self, text: &str) {
        self.out.push_str(&escape(text));
        self.out.push_str("\n\n");
    }

    fn facts(&mut self, facts: &[(&str, String)]) {
        for (name, value) in facts {
            self.out
                .push_str(&format!("- **{}**: {}\n", escape(name), escape(value)));
        }
        self.out.push('\n');
    }

    fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            self.out.push_str("(none)\n\n");
            return;
        }
        let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        self.out
            .push_str(&row(headers.iter().map(|h| escape(h)).collect()));
        self.out
            .push_str(&row(headers.iter().map(|_| "---".to_owned()).collect()));
        for cells in rows {
            self.out
                .push_str(&row(cells.iter().map(|c| escape(c)).collect()));
        }
        self.out.push('\n');
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_written_as_escapes() {
        // Issue 20, finding 15.
        let escaped = escape("ws\x1b]0;pwned\x07\u{9b}2J\u{202e}fdp.exe");
        assert!(
            !escaped.chars().any(tocsin_output::needs_cleaning),
            "{escaped:?}"
        );
        assert!(escaped.contains("\\u{1b}"), "{escaped}");
        assert!(escaped.contains("\\u{202e}"), "{escaped}");
    }

    #[test]
    fn an_ampersand_is_escaped_only_where_it_starts_a_reference() {
        assert_eq!(escape("MITRE ATT&CK"), "MITRE ATT&CK");
        assert_eq!(escape("a & b &"), "a & b &");
        assert_eq!(escape("&lt;script&gt;"), "&amp;lt;script&amp;gt;");
        assert_eq!(escape("&#60;"), "&amp;\\#60;");
        assert_eq!(escape("<b>"), "&lt;b&gt;");
    }
}
