//! The Markdown [`Sink`](super::Sink).

use super::Sink;

/// Writes GitHub-flavoured Markdown, escaping all given text.
#[derive(Debug, Default)]
pub(super) struct Markdown {
    out: String,
}

/// Escapes inline markup, table pipes, raw HTML and line breaks.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
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
