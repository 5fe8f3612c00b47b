//! The table printer: one readable line per detection, coloured by level on terminals.
//!
//! Every piece of event or rule text is cleaned of control characters first ([`clean`]), so
//! that a hostile log cannot move the cursor or recolour the analyst's terminal.

use crate::Details;
use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::record::ELLIPSIS;
use crate::{clean, DetectionRecord};

/// The most characters of details shown on one line.
pub const MAX_DETAILS_CHARS: usize = 200;

/// The separator between `key=value` pairs of the details column.
const PAIR_SEPARATOR: &str = " ¦ ";

/// Width of the timestamp column (`2023-11-14T22:13:20.123456Z`).
const TIMESTAMP_WIDTH: usize = 27;
/// Minimal width of the computer column.
const COMPUTER_WIDTH: usize = 16;
/// Width of the level column (`CRITICAL`).
const LEVEL_WIDTH: usize = 8;

/// Resets all colours.
pub(crate) const RESET: &str = "\x1b[0m";
/// Bold, for headings.
pub(crate) const BOLD: &str = "\x1b[1m";

/// The ANSI style of a level name, or `None` for the terminal's default.
pub(crate) fn level_style(level: &str) -> Option<&'static str> {
    match level {
        "critical" => Some("\x1b[1;31m"),
        "high" => Some("\x1b[31m"),
        "medium" => Some("\x1b[33m"),
        "low" => Some("\x1b[32m"),
        "informational" => Some("\x1b[2m"),
        _ => None,
    }
}

/// `text` wrapped in `style` and a reset when `color` is on and there is a style.
pub(crate) fn paint<'a>(text: &'a str, style: Option<&str>, color: bool) -> Cow<'a, str> {
    match style {
        Some(style) if color => Cow::Owned(format!("{style}{text}{RESET}")),
        _ => Cow::Borrowed(text),
    }
}

/// The short upper-case label of a level.
fn level_label(level: &str) -> Cow<'_, str> {
    match level {
        "informational" => Cow::Borrowed("INFO"),
        other => Cow::Owned(clean(other).to_uppercase()),
    }
}

/// Appends the line of `r` to `buf`.
pub(crate) fn write(buf: &mut Vec<u8>, r: &DetectionRecord, color: bool) {
    let mut line = String::with_capacity(128);
    let _ = write!(
        line,
        "{:<TIMESTAMP_WIDTH$}  {:<COMPUTER_WIDTH$}  {:<LEVEL_WIDTH$}  {}",
        r.timestamp.as_deref().unwrap_or("-"),
        clean(r.computer.as_deref().unwrap_or("-")),
        level_label(&r.level),
        clean(&r.rule_title),
    );
    let details = details(&r.details);
    if !details.is_empty() {
        line.push_str("  ");
        line.push_str(&details);
    }
    buf.extend_from_slice(paint(&line, level_style(&r.level), color).as_bytes());
    buf.push(b'\n');
}

/// `k=v ¦ k=v`, cleaned and cut to [`MAX_DETAILS_CHARS`] characters.
fn details(map: &Details) -> String {
    let mut out = String::new();
    for (key, value) in map {
        if !out.is_empty() {
            out.push_str(PAIR_SEPARATOR);
        }
        out.push_str(&clean(key));
        out.push('=');
        push_value(&mut out, value);
    }
    match out.char_indices().nth(MAX_DETAILS_CHARS - 1) {
        Some((cut, _)) if out[cut..].chars().nth(1).is_some() => {
            out.truncate(cut);
            out.push(ELLIPSIS);
            out
        }
        _ => out,
    }
}

/// Appends a detail value as plain text; array elements are separated by `, `.
fn push_value(out: &mut String, value: &Json) {
    match value {
        Json::Null => {}
        Json::String(s) => out.push_str(&clean(s)),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_value(out, item);
            }
        }
        other => out.push_str(&clean(&other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, new_record, windows_event};
    use tocsin_event::Level;
    use tocsin_event::Value;

    fn line(record: &DetectionRecord, color: bool) -> String {
        let mut buf = Vec::new();
        write(&mut buf, record, color);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn plain_line_has_the_columns_and_no_escapes() {
        let r = new_record(&meta(Some(Level::High), &[]), &windows_event());
        let text = line(&r, false);
        assert_eq!(
            text,
            "2023-11-14T22:13:20.123456Z  WS01.corp         HIGH      Whoami Execution  \
             Image=C:\\Windows\\cmd.exe ¦ CommandLine=cmd /c whoami ¦ ProcessId=4242\n"
        );
    }

    #[test]
    fn hostile_text_cannot_inject_escapes() {
        let mut e = windows_event();
        e.push(
            "Event.EventData.Evil",
            "Evil",
            Value::from("\x1b[2J\x1b]0;pwned\x07\nnext"),
        );
        let r = new_record(&meta(Some(Level::Critical), &["Evil"]), &e);
        let text = line(&r, false);
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(text.contains("Evil=\\u{1b}[2J"), "{text:?}");
        assert_eq!(text.matches('\n').count(), 1);
    }

    #[test]
    fn color_wraps_the_line_in_the_level_style() {
        for (level, style) in [
            (Level::Critical, "\x1b[1;31m"),
            (Level::High, "\x1b[31m"),
            (Level::Medium, "\x1b[33m"),
            (Level::Low, "\x1b[32m"),
            (Level::Informational, "\x1b[2m"),
        ] {
            let r = new_record(&meta(Some(level), &[]), &windows_event());
            let text = line(&r, true);
            assert!(text.starts_with(style), "{level:?}: {text:?}");
            assert!(text.ends_with("\x1b[0m\n"), "{level:?}: {text:?}");
            assert_eq!(text.replace(style, "").replace(RESET, ""), line(&r, false));
        }
        let mut r = new_record(&meta(None, &[]), &windows_event());
        r.level = "unknown".into();
        assert!(!line(&r, true).contains('\x1b'), "a level without a style");
    }

    #[test]
    fn details_are_cut_to_the_limit() {
        let mut e = windows_event();
        e.push("Event.EventData.Long", "Long", Value::from("x".repeat(500)));
        let r = new_record(&meta(None, &["Long"]), &e);
        let d = details(&r.details);
        assert_eq!(d.chars().count(), MAX_DETAILS_CHARS);
        assert_eq!(d, format!("Long={}…", "x".repeat(MAX_DETAILS_CHARS - 6)));

        let exact = "y".repeat(MAX_DETAILS_CHARS - 2);
        let mut map = Details::new();
        map.insert("k", Json::from(exact.as_str()));
        assert_eq!(details(&map), format!("k={exact}"));
    }

    #[test]
    fn arrays_and_missing_columns() {
        let mut e = tocsin_event::Event::default();
        e.push("tags", "", Value::from("a"));
        e.push("tags", "", Value::from("b"));
        let r = new_record(&meta(Some(Level::Informational), &[]), &e);
        let text = line(&r, false);
        assert!(
            text.starts_with(&format!("{:<27}  {:<16}  INFO ", "-", "-")),
            "{text:?}"
        );
        assert!(text.ends_with("Whoami Execution  tags=a, b\n"), "{text:?}");
    }
}
