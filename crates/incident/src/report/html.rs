//! The HTML [`Sink`](super::Sink): one self-contained page, every given text escaped.

use tocsin_output::html::{escape, page_start, PAGE_END};

use super::Sink;

/// Writes an HTML page with inline CSS and nothing to fetch, framed and escaped by
/// [`tocsin_output::html`], the helpers every HTML page of tocsin shares.
#[derive(Debug)]
pub(super) struct Html {
    out: String,
}

impl Html {
    /// A page titled `title`.
    pub(super) fn new(title: &str) -> Self {
        Html {
            out: page_start(title, ""),
        }
    }
}

impl Sink for Html {
    fn heading(&mut self, level: u8, text: &str) {
        let level = level.clamp(1, 6);
        self.out
            .push_str(&format!("<h{level}>{}</h{level}>\n", escape(text)));
    }

    fn paragraph(&mut self, text: &str) {
        self.out.push_str(&format!("<p>{}</p>\n", escape(text)));
    }

    fn facts(&mut self, facts: &[(&str, String)]) {
        self.out.push_str("<dl>");
        for (name, value) in facts {
            self.out.push_str(&format!(
                "<dt>{}</dt><dd>{}</dd>",
                escape(name),
                escape(value)
            ));
        }
        self.out.push_str("</dl>\n");
    }

    fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
        if rows.is_empty() {
            self.out.push_str("<p>(none)</p>\n");
            return;
        }
        self.out.push_str("<table><thead><tr>");
        for header in headers {
            self.out.push_str(&format!("<th>{}</th>", escape(header)));
        }
        self.out.push_str("</tr></thead><tbody>\n");
        for cells in rows {
            self.out.push_str("<tr>");
            for cell in cells {
                self.out.push_str(&format!("<td>{}</td>", escape(cell)));
            }
            self.out.push_str("</tr>\n");
        }
        self.out.push_str("</tbody></table>\n");
    }

    fn finish(mut self) -> String {
        self.out.push_str(PAGE_END);
        self.out
    }
}
