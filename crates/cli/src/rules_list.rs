//! `tocsin rules list`: one line per rule (file, id, level, title, logsource), from rule
//! files or the built-in rules, as an aligned table or JSON.

use std::borrow::Cow;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use tocsin_output::clean;
use tocsin_sigma::ast::{Document, LogSource, Metadata};

use crate::args::{ListFormatArg, RulesListArgs};
use crate::ruleset::{self, BUILTIN_RULES};

/// One listed document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    file: String,
    id: String,
    level: String,
    title: String,
    /// `product/service/category` for a rule, `correlation` or `filter` otherwise.
    logsource: String,
}

/// Lists the rules; returns the exit code (2 when nothing could be loaded).
pub fn run(args: &RulesListArgs) -> Result<i32> {
    let mut paths = args.paths.clone();
    if args.builtin {
        paths.push(PathBuf::from(BUILTIN_RULES));
    }
    let mut hold = None;
    if paths.is_empty() {
        let installed = ruleset::paths_or_installed(&paths, true).context(
            "name rule files or folders, use --builtin for the built-in rules, or install rules",
        )?;
        paths = installed.paths;
        hold = installed.hold;
    }
    let outcome = ruleset::load_documents(&paths);
    drop(hold);
    for error in &outcome.errors {
        eprintln!("warning: rule skipped: {}", clean(&error.to_string()));
    }
    let listed: Vec<Listed> = outcome.documents.iter().map(listed).collect();
    if listed.is_empty() {
        eprintln!("error: no rule could be loaded");
        return Ok(2);
    }
    let text = match args.format {
        ListFormatArg::Table => table(&listed),
        ListFormatArg::Json => json_list(&listed),
    };
    print!("{text}");
    Ok(0)
}

fn listed(document: &Document) -> Listed {
    let (meta, logsource) = match document {
        Document::Rule(rule) => (&rule.meta, logsource_text(&rule.logsource)),
        Document::Filter(filter) => (&filter.meta, "filter".to_owned()),
        Document::Correlation(rule) => (&rule.meta, "correlation".to_owned()),
    };
    Listed {
        file: meta.location.path.display().to_string(),
        id: rule_id(meta),
        level: meta
            .level
            .map_or_else(|| "-".to_owned(), |l| format!("{l:?}").to_lowercase()),
        title: meta.title.clone(),
        logsource,
    }
}

/// The id, else the name, else `-`.
fn rule_id(meta: &Metadata) -> String {
    meta.id
        .clone()
        .or_else(|| meta.name.clone())
        .unwrap_or_else(|| "-".to_owned())
}

/// `product/service/category`, leaving out the parts not given.
fn logsource_text(logsource: &LogSource) -> String {
    let parts: Vec<&str> = [&logsource.product, &logsource.service, &logsource.category]
        .into_iter()
        .filter_map(|part| part.as_deref())
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join("/")
    }
}

/// Aligned columns with a header; the title comes last as it is the longest. Every cell is
/// cleaned ([`clean`]): rule files are third-party text, and a title holding an escape
/// sequence must not drive the terminal. JSON escapes control characters itself.
fn table(rows: &[Listed]) -> String {
    let cells: Vec<[Cow<'_, str>; 5]> = rows
        .iter()
        .map(|r| [&r.file, &r.id, &r.level, &r.logsource, &r.title].map(|text| clean(text)))
        .collect();
    let headers = ["FILE", "ID", "LEVEL", "LOGSOURCE", "TITLE"];
    let widths: [usize; 4] = std::array::from_fn(|column| {
        cells
            .iter()
            .map(|row| row[column].chars().count())
            .chain([headers[column].len()])
            .max()
            .unwrap_or(0)
    });
    let mut out = String::new();
    for row in std::iter::once(headers.map(Cow::Borrowed)).chain(cells) {
        for (cell, width) in row.iter().zip(widths) {
            out.push_str(&format!("{cell:width$}  "));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}

fn json_list(rows: &[Listed]) -> String {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            json!({
                "file": row.file,
                "id": row.id,
                "level": row.level,
                "title": row.title,
                "logsource": row.logsource,
            })
        })
        .collect();
    let mut text = serde_json::Value::Array(values).to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_rule_is_listed_with_its_logsource() {
        let outcome = ruleset::load_documents(&[PathBuf::from(BUILTIN_RULES)]);
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        let rows: Vec<Listed> = outcome.documents.iter().map(listed).collect();
        assert_eq!(rows.len(), tocsin_rules::builtin().len());
        let session = rows
            .iter()
            .find(|r| r.file == "builtin/rs_api_session_start.yml")
            .map(|r| r.logsource.as_str());
        assert_eq!(session, Some("remote_support/api_audit"));
        assert!(rows.iter().any(|r| r.logsource == "correlation"));
        assert!(rows.iter().all(|r| r.id != "-" && r.level != "-"));
    }

    #[test]
    fn table_columns_line_up() {
        let rows = [
            Listed {
                file: "a.yml".into(),
                id: "1".into(),
                level: "high".into(),
                title: "First".into(),
                logsource: "windows".into(),
            },
            Listed {
                file: "longer.yml".into(),
                id: "22".into(),
                level: "low".into(),
                title: "Second".into(),
                logsource: "-".into(),
            },
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        let title_at = |line: &str, title: &str| line.find(title);
        assert_eq!(title_at(lines[0], "TITLE"), title_at(lines[1], "First"));
        assert_eq!(title_at(lines[1], "First"), title_at(lines[2], "Second"));
    }

    #[test]
    fn cells_are_cleaned_and_aligned_as_shown() {
        let row = |id: &str, title: &str| Listed {
            file: "a.yml".into(),
            id: id.into(),
            level: "high".into(),
            title: title.into(),
            logsource: "windows".into(),
        };
        let text = table(&[row("1\x1b[2J", "Evil\x1b]0;x\x07"), row("2", "Plain")]);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].ends_with("Evil\\u{1b}]0;x\\u{7}"), "{text}");
        assert_eq!(lines[1].find("Evil"), lines[2].find("Plain"));
    }

    #[test]
    fn logsource_leaves_out_missing_parts() {
        let logsource = LogSource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            ..LogSource::default()
        };
        assert_eq!(logsource_text(&logsource), "windows/process_creation");
        assert_eq!(logsource_text(&LogSource::default()), "-");
    }
}
