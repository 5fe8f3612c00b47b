//! Correlation rules (Sigma correlation specification v2.1).
//!
//! Decisions where the specification is loose:
//! - `group-by` is optional (empty means one group), although the schema lists it as
//!   required: a global count is meaningful and pySigma accepts it.
//! - `timespan` is a positive number followed by `s`, `m`, `h`, `d` (the specification's
//!   units) or `w` (a week, as pySigma accepts); months and years have no fixed length and
//!   are rejected. This is tocsin's one duration grammar
//!   ([`tocsin_event::parse_duration_micros`]), which the command line's durations share.
//! - `condition.field` is one field name; the schema's list of fields is rejected, since
//!   the model holds one.
//! - `percentile` (0 to 100) may be written in the correlation section or in its
//!   condition, only for `value_percentile`; it is optional.
//! - `generate` may be written at the top level (where the specification lists it) or in
//!   the correlation section.
//! - Unknown keys in the correlation section or its condition are errors, to catch typos
//!   such as `groupby`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use tocsin_event::parse_duration_micros;
use tocsin_yaml::Scalar;

use crate::ast::CorrelationRule;
use crate::ast::{Comparison, CorrelationCondition, CorrelationType, Metadata};
use crate::error::{DocError, ErrorKind};
use crate::metadata::text;
use crate::yaml::{self, Node};

/// Reads a correlation document, given its metadata, its `correlation` node and the
/// top-level `generate` node if any.
pub(crate) fn parse_correlation(
    meta: Metadata,
    node: &Node<'_>,
    top_generate: Option<&Node<'_>>,
) -> Result<CorrelationRule, DocError> {
    const CTX: &str = "correlation";
    let entries = yaml::mapping(node).ok_or_else(|| yaml::wrong_type(node, CTX, "a mapping"))?;
    let mut kind = None;
    let mut rules = None;
    let mut group_by = Vec::new();
    let mut timespan = None;
    let mut condition_node = None;
    let mut percentile_node = None;
    let mut aliases = BTreeMap::new();
    let mut generate = match top_generate {
        Some(n) => boolean(n, "generate")?,
        None => false,
    };
    for (key, value) in entries {
        let name = yaml::key_text(key).ok_or_else(|| yaml::wrong_type(key, CTX, "a string key"))?;
        let ctx = format!("{CTX}.{name}");
        match name.as_str() {
            "type" => kind = Some(correlation_type(value, &ctx)?),
            "rules" => {
                let list = yaml::string_list(value, &ctx, true)?;
                if list.is_empty() {
                    return Err(DocError::new(
                        yaml::line(value),
                        ctx,
                        ErrorKind::InvalidValue("no rules to correlate".into()),
                    ));
                }
                rules = Some(list);
            }
            "group-by" => group_by = yaml::string_list(value, &ctx, true)?,
            "timespan" => timespan = Some(parse_timespan(value, &ctx)?),
            "condition" => condition_node = Some(value),
            "percentile" => percentile_node = Some(value),
            "aliases" => aliases = parse_aliases(value, &ctx)?,
            "generate" => generate = boolean(value, &ctx)?,
            _ => {
                return Err(DocError::new(
                    yaml::line(key),
                    CTX,
                    ErrorKind::Invalid(format!(
                        "unknown key '{name}' (expected type, rules, group-by, timespan, \
                         condition, aliases, generate)"
                    )),
                ))
            }
        }
    }
    let missing = |key| {
        DocError::new(
            yaml::line(node),
            CTX,
            ErrorKind::MissingKey(Cow::Borrowed(key)),
        )
    };
    let kind = kind.ok_or_else(|| missing("type"))?;
    let rules = rules.ok_or_else(|| missing("rules"))?;
    let timespan_seconds = timespan.ok_or_else(|| missing("timespan"))?;

    let mut condition = condition_node
        .map(|n| parse_condition(n, "correlation.condition"))
        .transpose()?;
    if let Some(p) = percentile_node {
        let value = percentile(p, "correlation.percentile")?;
        match condition.as_mut() {
            Some(c) if c.percentile.is_none() => c.percentile = Some(value),
            Some(_) => {
                return Err(DocError::new(
                    yaml::line(p),
                    "correlation.percentile",
                    ErrorKind::Invalid("percentile is also given in the condition".into()),
                ))
            }
            None => {}
        }
    }
    check_kind(kind, condition.as_ref(), percentile_node.is_some(), node)?;
    Ok(CorrelationRule {
        meta,
        kind,
        rules,
        group_by,
        timespan_seconds,
        condition,
        aliases,
        generate,
    })
}

/// Per-type requirements on the condition.
fn check_kind(
    kind: CorrelationType,
    condition: Option<&CorrelationCondition>,
    loose_percentile: bool,
    node: &Node<'_>,
) -> Result<(), DocError> {
    let fail = |message: String| {
        Err(DocError::new(
            yaml::line(node),
            "correlation",
            ErrorKind::Invalid(message),
        ))
    };
    let name = kind.name();
    let temporal = matches!(
        kind,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    let needs_field = matches!(
        kind,
        CorrelationType::ValueCount
            | CorrelationType::ValueSum
            | CorrelationType::ValueAvg
            | CorrelationType::ValuePercentile
    );
    let Some(condition) = condition else {
        if temporal {
            return Ok(());
        }
        return fail(format!("{name} needs a condition"));
    };
    if needs_field && condition.field.is_none() {
        return fail(format!("{name} needs 'field' in its condition"));
    }
    if !needs_field && condition.field.is_some() {
        return fail(format!("{name} takes no 'field' in its condition"));
    }
    if kind != CorrelationType::ValuePercentile
        && (condition.percentile.is_some() || loose_percentile)
    {
        return fail(format!(
            "'percentile' only applies to value_percentile, not {name}"
        ));
    }
    Ok(())
}

fn correlation_type(node: &Node<'_>, ctx: &str) -> Result<CorrelationType, DocError> {
    let value = text(node, ctx)?;
    let kind = [
        CorrelationType::EventCount,
        CorrelationType::ValueCount,
        CorrelationType::Temporal,
        CorrelationType::TemporalOrdered,
        CorrelationType::ValueSum,
        CorrelationType::ValueAvg,
        CorrelationType::ValuePercentile,
    ]
    .into_iter()
    .find(|&k| k.name() == value);
    kind.ok_or_else(|| {
        DocError::new(
            yaml::line(node),
            ctx,
            ErrorKind::UnknownValue {
                what: Cow::Borrowed("correlation type"),
                value,
                expected: Cow::Borrowed(
                    "event_count, value_count, temporal, temporal_ordered, value_sum, \
                           value_avg, value_percentile",
                ),
            },
        )
    })
}

fn boolean(node: &Node<'_>, ctx: &str) -> Result<bool, DocError> {
    match yaml::scalar(node) {
        Some(Scalar::Boolean(b)) => Ok(*b),
        _ => Err(yaml::wrong_type(node, ctx, "true or false")),
    }
}

/// `30s`, `5m`, `1h`, `2d`, `1w` -> seconds, in tocsin's one duration grammar.
fn parse_timespan(node: &Node<'_>, ctx: &str) -> Result<u64, DocError> {
    let raw = text(node, ctx)?;
    let micros = parse_duration_micros(&raw).map_err(|_| {
        DocError::new(
            yaml::line(node),
            ctx,
            ErrorKind::InvalidValue(format!(
                "timespan '{raw}' is not a positive number followed by s, m, h, d or w"
            )),
        )
    })?;
    // Every unit is a whole number of seconds, and the duration is positive.
    Ok((micros / 1_000_000).unsigned_abs())
}

fn number(node: &Node<'_>, ctx: &str) -> Result<f64, DocError> {
    match yaml::scalar(node) {
        Some(Scalar::Integer(i)) => Ok(*i as f64),
        Some(Scalar::FloatingPoint(f)) if f.is_finite() => Ok(f.into_inner()),
        _ => Err(yaml::wrong_type(node, ctx, "a number")),
    }
}

fn percentile(node: &Node<'_>, ctx: &str) -> Result<f64, DocError> {
    let value = number(node, ctx)?;
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(DocError::new(
            yaml::line(node),
            ctx,
            ErrorKind::InvalidValue(format!("percentile {value} is not between 0 and 100")),
        ))
    }
}

fn parse_condition(node: &Node<'_>, ctx: &str) -> Result<CorrelationCondition, DocError> {
    let entries = yaml::mapping(node).ok_or_else(|| yaml::wrong_type(node, ctx, "a mapping"))?;
    let mut condition = CorrelationCondition {
        field: None,
        percentile: None,
        comparisons: Vec::new(),
    };
    for (key, value) in entries {
        let name = yaml::key_text(key).ok_or_else(|| yaml::wrong_type(key, ctx, "a string key"))?;
        let key_ctx = format!("{ctx}.{name}");
        let comparison = match name.as_str() {
            "gt" => Comparison::Gt,
            "gte" => Comparison::Gte,
            "lt" => Comparison::Lt,
            "lte" => Comparison::Lte,
            "eq" => Comparison::Eq,
            "neq" => Comparison::Neq,
            "field" => {
                if yaml::sequence(value).is_some() {
                    return Err(DocError::new(
                        yaml::line(value),
                        key_ctx,
                        ErrorKind::Invalid(
                            "a list of fields is not supported; name one field".into(),
                        ),
                    ));
                }
                condition.field = Some(text(value, &key_ctx)?);
                continue;
            }
            "percentile" => {
                condition.percentile = Some(percentile(value, &key_ctx)?);
                continue;
            }
            _ => {
                return Err(DocError::new(
                    yaml::line(key),
                    ctx,
                    ErrorKind::Invalid(format!(
                        "unknown key '{name}' (expected gt, gte, lt, lte, eq, neq, field)"
                    )),
                ))
            }
        };
        condition
            .comparisons
            .push((comparison, number(value, &key_ctx)?));
    }
    if condition.comparisons.is_empty() {
        return Err(DocError::new(
            yaml::line(node),
            ctx,
            ErrorKind::Invalid(
                "the condition needs at least one of gt, gte, lt, lte, eq, neq".into(),
            ),
        ));
    }
    Ok(condition)
}

fn parse_aliases(
    node: &Node<'_>,
    ctx: &str,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, DocError> {
    let entries = yaml::mapping(node).ok_or_else(|| yaml::wrong_type(node, ctx, "a mapping"))?;
    let mut out = BTreeMap::new();
    for (alias, map) in entries {
        let alias =
            yaml::key_text(alias).ok_or_else(|| yaml::wrong_type(alias, ctx, "a string key"))?;
        let alias_ctx = format!("{ctx}.{alias}");
        let inner = yaml::mapping(map)
            .ok_or_else(|| yaml::wrong_type(map, &alias_ctx, "a mapping of rule to field"))?;
        let mut fields = BTreeMap::new();
        for (rule, field) in inner {
            let rule = yaml::key_text(rule)
                .ok_or_else(|| yaml::wrong_type(rule, &alias_ctx, "a rule id or name"))?;
            fields.insert(rule.clone(), text(field, &format!("{alias_ctx}.{rule}"))?);
        }
        out.insert(alias, fields);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Document;
    use crate::error::SigmaError;
    use std::path::Path;

    fn parse_all(text: &str) -> Vec<Result<Document, SigmaError>> {
        crate::parse_documents(text, Path::new("c.yml"))
    }

    fn correlation(body: &str) -> CorrelationRule {
        let text = format!("title: C\ncorrelation:\n{body}");
        match parse_all(&text).remove(0) {
            Ok(Document::Correlation(c)) => *c,
            other => panic!("expected a correlation, got {other:?}"),
        }
    }

    fn error(body: &str) -> SigmaError {
        let text = format!("title: C\ncorrelation:\n{body}");
        match parse_all(&text).remove(0) {
            Err(e) => e,
            Ok(doc) => panic!("expected an error, got {doc:?}"),
        }
    }

    #[test]
    fn event_count() {
        let c = correlation(
            "    type: event_count\n    rules:\n        - 5638f7c0\n    group-by:\n        - ComputerName\n    timespan: 1h\n    condition:\n        gte: 100\n",
        );
        assert_eq!(c.kind, CorrelationType::EventCount);
        assert_eq!(c.rules, vec!["5638f7c0"]);
        assert_eq!(c.group_by, vec!["ComputerName"]);
        assert_eq!(c.timespan_seconds, 3_600);
        assert_eq!(
            c.condition,
            Some(CorrelationCondition {
                field: None,
                percentile: None,
                comparisons: vec![(Comparison::Gte, 100.0)],
            })
        );
        assert!(c.aliases.is_empty());
        assert!(!c.generate);
        assert_eq!(c.meta.title, "C");
    }

    #[test]
    fn value_types_need_a_field() {
        for (kind, ty) in [
            ("value_count", CorrelationType::ValueCount),
            ("value_sum", CorrelationType::ValueSum),
            ("value_avg", CorrelationType::ValueAvg),
            ("value_percentile", CorrelationType::ValuePercentile),
        ] {
            let c = correlation(&format!(
                "    type: {kind}\n    rules: r\n    group-by: [Host]\n    timespan: 1d\n    condition:\n        field: User\n        gt: 100\n        lte: 200.5\n"
            ));
            assert_eq!(c.kind, ty);
            assert_eq!(c.rules, vec!["r"]);
            let cond = c.condition.expect("condition");
            assert_eq!(cond.field.as_deref(), Some("User"));
            assert_eq!(
                cond.comparisons,
                vec![(Comparison::Gt, 100.0), (Comparison::Lte, 200.5)]
            );

            let err = error(&format!(
                "    type: {kind}\n    rules: r\n    timespan: 1d\n    condition:\n        gt: 1\n"
            ));
            assert!(
                err.to_string()
                    .contains(&format!("{kind} needs 'field' in its condition")),
                "{err}"
            );
        }
    }

    #[test]
    fn temporal_without_condition_with_aliases_and_generate() {
        let c = correlation(
            "    type: temporal\n    rules:\n        - internal_error\n        - new_network_connection\n    group-by:\n        - internal_ip\n    timespan: 10s\n    aliases:\n        internal_ip:\n            internal_error: destination.ip\n            new_network_connection: source.ip\n    generate: true\n",
        );
        assert_eq!(c.kind, CorrelationType::Temporal);
        assert_eq!(c.condition, None);
        assert_eq!(c.timespan_seconds, 10);
        assert!(c.generate);
        let alias = &c.aliases["internal_ip"];
        assert_eq!(alias["internal_error"], "destination.ip");
        assert_eq!(alias["new_network_connection"], "source.ip");

        let text = "title: C\ngenerate: true\ncorrelation:\n    type: temporal_ordered\n    rules: [a, b]\n    timespan: 5m\n    condition:\n        eq: 2\n";
        let Ok(Document::Correlation(c)) = parse_all(text).remove(0) else {
            panic!("correlation expected");
        };
        assert_eq!(c.kind, CorrelationType::TemporalOrdered);
        assert!(c.generate);
        assert!(c.group_by.is_empty());
        assert!(c.meta.custom.is_empty(), "generate is not a custom field");
    }

    #[test]
    fn percentile() {
        let c = correlation("    type: value_percentile\n    rules: r\n    timespan: 1d\n    percentile: 95\n    condition:\n        field: Size\n        gt: 1000\n");
        assert_eq!(c.condition.and_then(|c| c.percentile), Some(95.0));
        let c = correlation("    type: value_percentile\n    rules: r\n    timespan: 1d\n    condition:\n        field: Size\n        percentile: 50\n        lte: 1\n");
        assert_eq!(c.condition.and_then(|c| c.percentile), Some(50.0));
    }

    fn check_error(body: &str, line: usize, message: &str) {
        let err = error(body);
        assert_eq!(err.location.line, line, "{err}");
        assert!(
            err.to_string().contains(message),
            "{err} does not contain {message:?}"
        );
    }

    #[test]
    fn errors() {
        check_error(
            "    type: event_sum\n    rules: r\n    timespan: 1h\n",
            3,
            "unknown correlation type 'event_sum'",
        );
        check_error(
            "    rules: r\n    timespan: 1h\n",
            3,
            "missing required key 'type'",
        );
        check_error(
            "    type: temporal\n    timespan: 1h\n",
            3,
            "missing required key 'rules'",
        );
        check_error(
            "    type: temporal\n    rules: []\n    timespan: 1h\n",
            4,
            "no rules to correlate",
        );
        check_error(
            "    type: temporal\n    rules: r\n",
            3,
            "missing required key 'timespan'",
        );
        check_error(
            "    type: temporal\n    rules: r\n    timespan: 1 hour\n",
            5,
            "timespan '1 hour' is not a positive number",
        );
        check_error(
            "    type: temporal\n    rules: r\n    timespan: 1h\n    groupby: [a]\n",
            6,
            "unknown key 'groupby'",
        );
        check_error(
            "    type: event_count\n    rules: r\n    timespan: 1h\n",
            3,
            "event_count needs a condition",
        );
        check_error("    type: event_count\n    rules: r\n    timespan: 1h\n    condition:\n        field: x\n        gt: 1\n", 3, "event_count takes no 'field'");
        check_error("    type: event_count\n    rules: r\n    timespan: 1h\n    condition:\n        gt: many\n", 7, "condition.gt: expected a number, found a string");
        check_error("    type: event_count\n    rules: r\n    timespan: 1h\n    condition:\n        over: 1\n", 7, "unknown key 'over'");
        check_error("    type: value_count\n    rules: r\n    timespan: 1h\n    condition:\n        field: x\n", 7, "needs at least one of gt");
        check_error("    type: value_count\n    rules: r\n    timespan: 1h\n    condition:\n        field: [a, b]\n        gt: 1\n", 7, "a list of fields is not supported");
        check_error("    type: event_count\n    rules: r\n    timespan: 1h\n    percentile: 5\n    condition:\n        gt: 1\n", 3, "'percentile' only applies to value_percentile");
        check_error("    type: value_percentile\n    rules: r\n    timespan: 1h\n    condition:\n        field: x\n        percentile: 101\n        gt: 1\n", 8, "percentile 101 is not between 0 and 100");
        check_error(
            "    type: temporal\n    rules: r\n    timespan: 1h\n    generate: yes\n",
            6,
            "generate: expected true or false",
        );
    }

    #[test]
    fn specification_multi_document_example() {
        let text = "\
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
";
        let docs = parse_all(text);
        assert_eq!(docs.len(), 3);
        assert!(
            matches!(&docs[0], Ok(Document::Correlation(c)) if c.kind == CorrelationType::TemporalOrdered && c.timespan_seconds == 600)
        );
        assert!(
            matches!(&docs[1], Ok(Document::Correlation(c)) if c.meta.name.as_deref() == Some("multiple_failed_login"))
        );
        assert!(matches!(&docs[2], Ok(Document::Rule(r)) if r.meta.location.line == 26));
    }

    /// The grammar itself is tested in `tocsin_event`; here, that a rule reads it in seconds
    /// and words a refusal its own way.
    #[test]
    fn timespans() {
        let body = |span: &str| format!("    type: temporal\n    rules: r\n    timespan: {span}\n");
        for (text, seconds) in [
            ("30s", 30),
            ("90m", 5_400),
            ("2d", 172_800),
            ("5w", 3_024_000),
        ] {
            assert_eq!(correlation(&body(text)).timespan_seconds, seconds, "{text}");
        }
        for text in [
            "h",
            "0s",
            "5",
            "5M",
            "1y",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            let message = error(&body(text)).to_string();
            let expected =
                format!("timespan '{text}' is not a positive number followed by s, m, h, d or w");
            assert!(message.contains(&expected), "{message}");
        }
    }
}
