//! `tocsin search --sigma-condition`: a Sigma detection written on the command line (or in a
//! file named `@FILE`), compiled by the same engine as the hunt's rules, so that a hunter
//! can search with everything Sigma expresses (modifiers, lists, `1 of`, `not`, `|cidr`,
//! `|re`, ...) without writing a rule file.
//!
//! The text is YAML and either a whole `detection` block (named selections and a
//! `condition`), such as `{sel: {EventID: 4625}, adm: {TargetUserName|contains: adm},
//! condition: sel and not adm}`, or one selection alone, such as `{EventID: 4625,
//! TargetUserName|endswith: $}`, or a list of keywords, such as `[mimikatz, sekurlsa]`,
//! which is read as `selection: ...` with `condition: selection`. The detection meets
//! every event read, whatever its logsource, and field names resolve as in rules (the
//! same mapping and aliases).

use std::path::Path;

use anyhow::{bail, Context, Result};
use tocsin_engine::{Engine, EngineBuilder, Scratch};
use tocsin_event::Fields;
use tocsin_sigma::ast::Document;

/// The place errors of the detection are reported at.
const ORIGIN: &str = "--sigma-condition";

/// The detection is compiled once per logsource, so that it meets every event: Windows
/// event-log output meets only Windows rules, and every other event the rules that name
/// no logsource.
const LOGSOURCES: [&str; 2] = ["{product: windows}", "{}"];

/// A compiled `--sigma-condition`.
pub struct SigmaCondition {
    engine: Engine,
}

impl SigmaCondition {
    /// Compiles `spec`: YAML text, or `@FILE` for the text of FILE.
    ///
    /// # Errors
    ///
    /// The file cannot be read, the text is not a YAML mapping, or the detection does not
    /// compile (the error says why, with the line within the text).
    pub fn compile(spec: &str) -> Result<Self> {
        let text = match spec.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("{ORIGIN} @{path}: cannot read the file"))?,
            None => spec.to_owned(),
        };
        let text = one_kind_of_line_end(&text);
        let mut documents = Vec::new();
        for logsource in LOGSOURCES {
            let (rule, offset) = rule_text(&text, logsource)?;
            let parsed = tocsin_sigma::parse_documents(&rule, Path::new(ORIGIN));
            let document = match <[_; 1]>::try_from(parsed) {
                Ok([Ok(document)]) => document,
                Ok([Err(error)]) => bail!("{ORIGIN}: {}", user_lines(&error.to_string(), offset)),
                Err(_) => bail!("{ORIGIN}: expected one YAML document"),
            };
            if !matches!(document, Document::Rule(_)) {
                bail!("{ORIGIN}: expected a detection, not a correlation or filter");
            }
            documents.push(document);
        }
        let (engine, report) = EngineBuilder::new().build(&documents);
        if let Some(error) = report.errors.first().or(report.needs_placeholders.first()) {
            bail!("{ORIGIN}: {}", error.message);
        }
        if engine.rules().count() != LOGSOURCES.len() {
            bail!("{ORIGIN}: the detection did not compile");
        }
        Ok(SigmaCondition { engine })
    }

    /// Whether `event` meets the detection; `scratch` is the calling thread's.
    pub fn matches(&self, event: &dyn Fields, scratch: &mut Scratch) -> bool {
        !self.engine.evaluate(event, scratch).is_empty()
    }
}

/// The rule document around the user's detection, and how many lines come before the
/// user's first. The user's lines are indented under `detection:` (or under its one
/// selection), so nothing they write can reach the rule's top level.
fn rule_text(text: &str, logsource: &str) -> Result<(String, usize)> {
    let whole_block = top_level_keys(text)?.iter().any(|key| key == "condition");
    let mut rule = format!(
        "title: tocsin search --sigma-condition\nstatus: test\nlevel: informational\nlogsource: {logsource}\ndetection:\n"
    );
    let indent = if whole_block { "  " } else { "    " };
    if !whole_block {
        rule.push_str("  selection:\n");
    }
    let offset = rule.lines().count();
    for line in text.lines() {
        rule.push_str(indent);
        rule.push_str(line);
        rule.push('\n');
    }
    if !whole_block {
        rule.push_str("  condition: selection\n");
    }
    Ok((rule, offset))
}

/// `text` with every line ending a line feed. YAML 1.2 also ends a line at a lone carriage
/// return, which `str::lines` does not: left alone, such a line would escape the
/// indentation [`rule_text`] gives the user's lines and reach the rule's top level. (NEL,
/// U+2028 and U+2029 end lines only in YAML 1.1, not in the parser rules are read with, so
/// they stay characters of the user's values.)
fn one_kind_of_line_end(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The keys of the text's top-level mapping (none for a list of keywords).
fn top_level_keys(text: &str) -> Result<Vec<String>> {
    let documents = tocsin_yaml::load(text, 32).map_err(|error| match &error {
        tocsin_yaml::LoadError::Syntax { line, .. } => {
            anyhow::anyhow!("{ORIGIN}: line {line}: {error}")
        }
        _ => anyhow::anyhow!("{ORIGIN}: {error}"),
    })?;
    let [node] = documents.as_slice() else {
        bail!("{ORIGIN}: expected one YAML mapping (a selection, or selections and a condition)");
    };
    if tocsin_yaml::sequence(node).is_some() {
        return Ok(Vec::new());
    }
    let Some(entries) = tocsin_yaml::mapping(node) else {
        bail!("{ORIGIN}: expected a YAML mapping such as {{EventID: 4625}} or {{sel: {{EventID: 4625}}, condition: sel}}, or a list of keywords");
    };
    Ok(entries
        .iter()
        .filter_map(|(key, _)| tocsin_yaml::as_str(key).map(str::to_owned))
        .collect())
}

/// An error of the wrapped rule told in the user's terms: `N: rule '...': what` becomes
/// `line K: what`, K counting lines of the user's text.
fn user_lines(message: &str, offset: usize) -> String {
    let message = message
        .strip_prefix(&format!("{ORIGIN}:"))
        .unwrap_or(message)
        .trim_start();
    let (line, rest) = match message.split_once(": ") {
        Some((line, rest)) => (line.parse::<usize>().ok(), rest),
        None => (None, message),
    };
    let rest = rest
        .strip_prefix("rule 'tocsin search --sigma-condition': ")
        .unwrap_or(rest);
    match line
        .and_then(|line| line.checked_sub(offset))
        .filter(|&line| line > 0)
    {
        Some(line) => format!("line {line}: {rest}"),
        None if line.is_some() => rest.to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_event::{Event, Value};

    fn event(fields: &[(&str, Value)]) -> Event {
        let mut event = Event::default();
        for (name, value) in fields {
            event.push(name, name, value.clone());
        }
        event
    }

    fn matches(spec: &str, event: &Event) -> bool {
        SigmaCondition::compile(spec)
            .expect("compiles")
            .matches(event, &mut Scratch::default())
    }

    #[test]
    fn one_selection_or_a_whole_block() {
        let failed = event(&[
            ("EventID", Value::Int(4625)),
            ("TargetUserName", Value::from("svc_admin$")),
        ]);
        assert!(matches(
            "{EventID: 4625, TargetUserName|endswith: $}",
            &failed
        ));
        assert!(matches(
            "EventID: 4625\nTargetUserName|contains: ADMIN",
            &failed
        ));
        assert!(!matches("{EventID: 4624}", &failed));
        let block = "{sel: {EventID: 4625}, adm: {TargetUserName|contains: adm}, condition: sel and not adm}";
        assert!(!matches(block, &failed));
        assert!(matches(
            "sel:\n  EventID: [4624, 4625]\ncondition: 1 of sel*",
            &failed
        ));
    }

    #[test]
    fn bad_detections_are_named_errors() {
        for (spec, says) in [
            ("just text", "expected a YAML mapping"),
            (
                "{sel: {EventID: 1}, condition: sel and}",
                "line 1: detection.condition",
            ),
            (
                "sel:\n  EventID|nosuchmodifier: 1\ncondition: sel",
                "line 2: detection.sel: unknown modifier 'nosuchmodifier'",
            ),
            ("{EventID: 4625", "YAML syntax error"),
            ("@/nonexistent/condition.yml", "cannot read the file"),
        ] {
            let error = match SigmaCondition::compile(spec) {
                Ok(_) => panic!("{spec} compiled"),
                Err(error) => format!("{error:#}"),
            };
            assert!(error.contains(says), "{spec}: {error}");
        }
    }

    #[test]
    fn user_text_cannot_reach_the_rule_top_level() {
        let spec = "EventID: 1\n---\ntitle: other";
        assert!(SigmaCondition::compile(spec).is_err());
        let (rule, offset) = rule_text("EventID: 1\nlogsource: x", "{}").expect("wraps");
        assert_eq!(rule.lines().nth(offset), Some("    EventID: 1"));
        assert!(rule.contains("\n    logsource: x\n"), "{rule}");
    }

    #[test]
    fn every_yaml_line_break_is_indented_with_the_user_text() {
        for spec in [
            "EventID: 1\rlogsource: {product: linux}",
            "EventID: 1\r\nlogsource: {product: linux}",
            "EventID: 1\r\rlogsource: {product: linux}",
        ] {
            let text = one_kind_of_line_end(spec);
            let (rule, _) = rule_text(&text, "{}").expect("wraps");
            assert!(
                rule.contains("\n    logsource: {product: linux}\n"),
                "{rule:?}"
            );
            assert_eq!(rule.matches("\nlogsource:").count(), 1, "{rule:?}");
            assert!(!rule.contains('\r'), "{rule:?}");
        }
    }
}
