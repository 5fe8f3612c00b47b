//! Self-contained HTML pages: the one escaping helper and page frame that every HTML output
//! of tocsin shares (the incident report of `tocsin-incident`, the hunt report
//! [`HuntReport`]), so that what makes a page safe is written once.
//!
//! Everything that comes from logs or rules is hostile text. A page is safe to open from an
//! e-mail or a ticket when every such text goes through [`escape`], and when it loads
//! nothing: its CSS sits in a `<style>` block, charts are inline SVG, there is no script, and
//! a Content Security Policy forbids fetching anything should a bug let markup through.
//!
//! Pages are also well-formed XML (void elements closed with `/>`, only numeric character
//! references), so that tests and other tools can read them with an XML parser.

mod chart;
mod hunt;

pub use hunt::{HuntFacts, HuntReport, TABLE_ROWS};

/// The style shared by tocsin's pages: readable tables and fact lists in system fonts.
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}\
h1{font-size:1.5em;border-bottom:2px solid #a33}h2{font-size:1.2em;margin-top:1.5em}\
h3{font-size:1em}table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td{word-break:break-word;font-family:ui-monospace,monospace;font-size:.9em}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}";

/// What closes a page begun with [`page_start`].
pub const PAGE_END: &str = "</body></html>\n";

/// Escapes the five HTML-special characters, so that `text` reads as text in an element or
/// an attribute value, and writes control characters (but line feeds and tabs) and
/// bidirectional controls as their Rust escapes, as [`clean`](crate::clean()) does for a
/// terminal: a C0 control is not allowed in an HTML or XML document, even as a character
/// reference, and a bidirectional override would reorder what the analyst reads
/// (`evil\u{202e}fdp.exe`).
///
/// ```
/// assert_eq!(
///     tocsin_output::html::escape("<script>alert('x')</script> & \"y\""),
///     "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
/// );
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if crate::clean::needs_cleaning(c) => out.extend(c.escape_default()),
            _ => out.push(c),
        }
    }
    out
}

/// The start of a page titled `title` (escaped here), up to the opening `<body>`: the
/// policy that forbids loading anything, [`STYLE`] and the page's own `extra_style`.
pub fn page_start(title: &str, extra_style: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"/>\
         <title>{}</title><style>{STYLE}{extra_style}</style></head><body>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_turns_markup_into_text() {
        assert_eq!(escape("a<b>&'\""), "a&lt;b&gt;&amp;&#39;&quot;");
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn escape_leaves_no_control_character_a_document_forbids() {
        let hostile = "a\u{0}b\u{1b}[2J\u{7f}\u{85}\r\n\tevil\u{202e}fdp.exe";
        let escaped = escape(hostile);
        assert!(
            !escaped
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{escaped:?}"
        );
        assert_eq!(
            escaped,
            "a\\u{0}b\\u{1b}[2J\\u{7f}\\u{85}\\r\n\tevil\\u{202e}fdp.exe"
        );
    }

    #[test]
    fn a_page_loads_nothing_and_escapes_its_title() {
        let page = page_start("<img src=x>", "p{}");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>&lt;img src=x&gt;</title>"), "{page}");
        assert!(page.contains("default-src 'none'"));
        assert!(page.contains("p{}</style>"));
    }
}
