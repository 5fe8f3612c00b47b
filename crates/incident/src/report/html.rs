//! The HTML [`Sink`](super::Sink): one self-contained page, every given text escaped.

use super::Sink;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}\
h1{font-size:1.5em;border-bottom:2px solid #a33}h2{font-size:1.2em;margin-top:1.5em}\
h3{font-size:1em}table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td{word-break:break-word;font-family:ui-monospace,monospace;font-size:.9em}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}";

/// Writes an HTML page with inline CSS and nothing to fetch.
#[derive(Debug)]
pub(super) struct Html {
    out: String,
}

/// Escapes the five HTML-special characters.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

impl Html {
    /// A page titled `title`.
    pub(super) fn new(title: &str) -> Self {
        let out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n",
            escape(title)
        );
        Html { out }
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
        self.out.push_str("</body></html>\n");
        self.out
    }
}
