//! One YAML document -> a [`Document`]: dispatch on the document kind.

use std::borrow::Cow;
use std::path::Path;

use crate::ast::{Document, FilterRule, Rule};
use crate::correlation::parse_correlation;
use crate::detection::parse_detection;
use crate::error::{DocError, ErrorKind, SigmaError};
use crate::metadata::{identity, parse_logsource, parse_metadata};
use crate::yaml::{self, Node};

/// Parses one YAML document: a correlation if it has `correlation`, a filter if it has
/// `filter`, else a rule (which needs `logsource` and `detection`).
pub(crate) fn parse_document(root: &Node<'_>, path: &Path) -> Result<Document, SigmaError> {
    let (title, id) = identity(root);
    parse(root, path).map_err(|e| e.locate(path, title, id))
}

fn parse(root: &Node<'_>, path: &Path) -> Result<Document, DocError> {
    let entries = yaml::mapping(root)
        .ok_or_else(|| yaml::wrong_type(root, "", "a mapping (a Sigma document)"))?;
    let get = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| yaml::as_str(k) == Some(name))
            .map(|&(_, v)| v)
    };
    let missing = |key| {
        DocError::new(
            yaml::line(root),
            "",
            ErrorKind::MissingKey(Cow::Borrowed(key)),
        )
    };

    if let Some(correlation) = get("correlation") {
        let meta = parse_metadata(root, &entries, &["correlation", "generate"], path)?;
        let rule = parse_correlation(meta, correlation, get("generate"))?;
        return Ok(Document::Correlation(Box::new(rule)));
    }
    if let Some(filter) = get("filter") {
        let meta = parse_metadata(root, &entries, &["filter", "logsource"], path)?;
        let logsource = parse_logsource(get("logsource").ok_or_else(|| missing("logsource"))?)?;
        let filter_entries =
            yaml::mapping(filter).ok_or_else(|| yaml::wrong_type(filter, "filter", "a mapping"))?;
        let rules_node = filter_entries
            .iter()
            .find(|(k, _)| yaml::as_str(k) == Some("rules"))
            .map(|&(_, v)| v)
            .ok_or_else(|| {
                DocError::new(
                    yaml::line(filter),
                    "filter",
                    ErrorKind::MissingKey(Cow::Borrowed("rules")),
                )
            })?;
        let rules = yaml::string_list(rules_node, "filter.rules", true)?;
        if rules.is_empty() {
            return Err(DocError::new(
                yaml::line(rules_node),
                "filter.rules",
                ErrorKind::InvalidValue("no rules to filter".into()),
            ));
        }
        let detection = parse_detection(filter, "filter", path, &["rules"])?;
        return Ok(Document::Filter(Box::new(FilterRule {
            meta,
            logsource,
            rules,
            detection,
        })));
    }
    let meta = parse_metadata(root, &entries, &["logsource", "detection"], path)?;
    let logsource = parse_logsource(get("logsource").ok_or_else(|| missing("logsource"))?)?;
    let detection = parse_detection(
        get("detection").ok_or_else(|| missing("detection"))?,
        "detection",
        path,
        &[],
    )?;
    Ok(Document::Rule(Box::new(Rule {
        meta,
        logsource,
        detection,
    })))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde_json::json;

    use crate::ast::{Document, Level, LogSource, Related, Status};
    use crate::error::SigmaError;

    fn parse(text: &str) -> Result<Document, SigmaError> {
        let mut results = crate::parse_documents(text, Path::new("rules/x.yml"));
        assert_eq!(results.len(), 1, "one document expected: {results:?}");
        results.remove(0)
    }

    const FULL: &str = "\
title: Full Rule
id: 929a690e-bef0-4204-a928-ef5e620d6fcc
name: full_rule
related:
    - id: 08fbc97d-0a2f-491c-ae21-8ffcfd3174e9
      type: derived
taxonomy: sigma
status: test
description: Everything at once
license: DRL-1.1
author: Someone, Someone Else
references:
    - https://example.org/a
date: 2024-01-02
modified: '2024/03/04'
logsource:
    category: process_creation
    product: windows
    service: sysmon
    definition: 'Requires: Sysmon'
    custom_key: extra
detection:
    selection:
        Image|endswith: '\\whoami.exe'
    condition: selection
fields:
    - CommandLine
falsepositives: Admins
level: high
tags:
    - attack.discovery
    - attack.t1033
scope:
    - server
regression_tests_path: regression_data/x.yml
simulation:
    - type: atomic-red-team
      technique: T1033
      atomic_guid: 1b2c3d
custom_number: 7
";

    #[test]
    fn metadata_round_trip_keeps_custom_fields() {
        let Ok(Document::Rule(rule)) = parse(FULL) else {
            panic!("rule expected");
        };
        let meta = &rule.meta;
        assert_eq!(meta.title, "Full Rule");
        assert_eq!(
            meta.id.as_deref(),
            Some("929a690e-bef0-4204-a928-ef5e620d6fcc")
        );
        assert_eq!(meta.name.as_deref(), Some("full_rule"));
        assert_eq!(
            meta.related,
            vec![Related {
                id: "08fbc97d-0a2f-491c-ae21-8ffcfd3174e9".into(),
                kind: "derived".into()
            }]
        );
        assert_eq!(meta.taxonomy.as_deref(), Some("sigma"));
        assert_eq!(meta.status, Some(Status::Test));
        assert_eq!(meta.description.as_deref(), Some("Everything at once"));
        assert_eq!(meta.license.as_deref(), Some("DRL-1.1"));
        assert_eq!(meta.author.as_deref(), Some("Someone, Someone Else"));
        assert_eq!(meta.references, vec!["https://example.org/a"]);
        assert_eq!(meta.date.as_deref(), Some("2024-01-02"));
        assert_eq!(meta.modified.as_deref(), Some("2024/03/04"));
        assert_eq!(meta.fields, vec!["CommandLine"]);
        assert_eq!(meta.falsepositives, vec!["Admins"]);
        assert_eq!(meta.level, Some(Level::High));
        assert_eq!(meta.tags, vec!["attack.discovery", "attack.t1033"]);
        assert_eq!(meta.scope, vec!["server"]);
        assert_eq!(meta.location.path, Path::new("rules/x.yml"));
        assert_eq!(meta.location.line, 1);
        let expected_custom: BTreeMap<String, serde_json::Value> = [
            (
                "regression_tests_path".to_owned(),
                json!("regression_data/x.yml"),
            ),
            (
                "simulation".to_owned(),
                json!([{"type": "atomic-red-team", "technique": "T1033", "atomic_guid": "1b2c3d"}]),
            ),
            ("custom_number".to_owned(), json!(7)),
        ]
        .into_iter()
        .collect();
        assert_eq!(meta.custom, expected_custom);
        assert_eq!(
            rule.logsource,
            LogSource {
                category: Some("process_creation".into()),
                product: Some("windows".into()),
                service: Some("sysmon".into()),
                definition: Some("Requires: Sysmon".into()),
                custom: [("custom_key".to_owned(), "extra".to_owned())]
                    .into_iter()
                    .collect(),
            }
        );
    }

    /// Parses `text`, expecting an error at `line` whose message contains `message`.
    fn check_error(text: &str, line: usize, message: &str) {
        let err = parse(text).expect_err("an error");
        assert_eq!(err.location.line, line, "{err}");
        assert!(
            err.to_string().contains(message),
            "{err} does not contain {message:?}"
        );
    }

    const DETECTION: &str =
        "logsource: {product: windows}\ndetection:\n    sel: x\n    condition: sel\n";

    #[test]
    fn metadata_errors_are_located() {
        check_error(
            &format!("title: T\nstatus: draft\n{DETECTION}"),
            2,
            "status: unknown status 'draft' (expected one of: stable, test",
        );
        check_error(
            &format!("title: T\nlevel: severe\n{DETECTION}"),
            2,
            "level: unknown level 'severe'",
        );
        check_error(
            &format!("id: 1\n{DETECTION}"),
            1,
            "rule (id 1): missing required key 'title'",
        );
        check_error(&format!("title: ''\n{DETECTION}"), 1, "the title is empty");
        check_error(
            &format!("title: T\ntags: attack.t1\n{DETECTION}"),
            2,
            "tags: expected a list of strings, found a string",
        );
        check_error(
            &format!("title: T\ntags:\n    - a\n    - [b]\n{DETECTION}"),
            4,
            "tags[1]: expected a string, found a list",
        );
        check_error(
            &format!("title: T\nrelated:\n    - id: x\n      type: cousin\n{DETECTION}"),
            4,
            "related[0].type: unknown relation type 'cousin'",
        );
        check_error(
            &format!("title: T\nrelated:\n    - id: x\n{DETECTION}"),
            3,
            "related[0]: missing required key 'type'",
        );
        check_error(
            "title: T\ndetection:\n    sel: x\n    condition: sel\n",
            1,
            "missing required key 'logsource'",
        );
        check_error(
            "title: T\nlogsource: {product: windows}\n",
            1,
            "missing required key 'detection'",
        );
        check_error(
            "title: T\nlogsource: windows\ndetection: {sel: x, condition: sel}\n",
            2,
            "logsource: expected a mapping, found a string",
        );
        check_error(
            "- just\n- a list\n",
            1,
            "expected a mapping (a Sigma document), found a list",
        );
    }

    #[test]
    fn malformed_rule_names_file_line_and_rule() {
        let text = "\
title: Foo
id: 1234
logsource:
    product: windows
detection:
    selection:
        CommandLine|contains: x
        Image|contians: y
    condition: selection
";
        let err = parse(text).expect_err("an error");
        assert_eq!(
            err.to_string(),
            "rules/x.yml:8: rule 'Foo' (id 1234): detection.selection: unknown modifier 'contians'"
        );
        assert_eq!(err.title.as_deref(), Some("Foo"));
        assert_eq!(err.id.as_deref(), Some("1234"));
    }

    #[test]
    fn filters() {
        let text = "\
title: Filter admins
logsource:
    category: process_creation
    product: windows
filter:
    rules:
        - 6f3e2987-db24-4c78-a860-b4f4095a7095
        - some_rule_name
    selection:
        User|startswith: 'adm_'
    condition: not selection
";
        let Ok(Document::Filter(filter)) = parse(text) else {
            panic!("filter expected");
        };
        assert_eq!(filter.meta.title, "Filter admins");
        assert_eq!(
            filter.rules,
            vec!["6f3e2987-db24-4c78-a860-b4f4095a7095", "some_rule_name"]
        );
        assert_eq!(
            filter.logsource.category.as_deref(),
            Some("process_creation")
        );
        assert_eq!(filter.detection.selections.len(), 1);
        assert_eq!(filter.detection.selections[0].name, "selection");
        assert!(filter.meta.custom.is_empty());

        let single = text.replace(
            "    rules:\n        - 6f3e2987-db24-4c78-a860-b4f4095a7095\n        - some_rule_name\n",
            "    rules: one_rule\n",
        );
        let Ok(Document::Filter(filter)) = parse(&single) else {
            panic!("filter expected");
        };
        assert_eq!(filter.rules, vec!["one_rule"]);
    }

    #[test]
    fn filter_errors() {
        check_error(
            "title: F\nlogsource: {product: x}\nfilter:\n    sel: x\n    condition: sel\n",
            4,
            "filter: missing required key 'rules'",
        );
        check_error("title: F\nlogsource: {product: x}\nfilter:\n    rules: []\n    sel: x\n    condition: sel\n", 4, "no rules to filter");
        check_error(
            "title: F\nfilter:\n    rules: [r]\n    sel: x\n    condition: sel\n",
            1,
            "missing required key 'logsource'",
        );
        check_error("title: F\nlogsource: {product: x}\nfilter:\n    rules: [r]\n    sel: x\n    condition: other\n", 6, "filter.condition: condition 'other': unknown search identifier 'other'");
    }
}
