//! The `detection` section (and the body of a filter): search identifiers, field matches,
//! values and the condition.

use std::borrow::Cow;
use std::path::Path;

use tocsin_yaml::Scalar;

use crate::ast::{
    Condition, Detection, FieldMatch, Location, Modifier, NamedSelection, Selection, SigmaValue,
};
use crate::condition;
use crate::error::{DocError, ErrorKind};
use crate::modifier;
use crate::yaml::{self, Node};

/// Reads a detection mapping.
///
/// Any key names a search identifier, even one a condition cannot spell (SigmaHQ has
/// `select_tree_execution|endswith:` as an identifier, reached through `1 of select*`). `context` is its YAML path (`detection` or `filter`);
/// `skip` lists keys that belong to the caller (a filter's `rules`).
pub(crate) fn parse_detection(
    node: &Node<'_>,
    context: &str,
    path: &Path,
    skip: &[&str],
) -> Result<Detection, DocError> {
    let entries =
        yaml::mapping(node).ok_or_else(|| yaml::wrong_type(node, context, "a mapping"))?;
    let mut selections = Vec::new();
    let mut condition_node = None;
    let mut timeframe = None;
    for (key, value) in entries {
        let Some(name) = yaml::key_text(key) else {
            return Err(yaml::wrong_type(key, context, "a string key"));
        };
        match name.as_str() {
            "condition" => condition_node = Some(value),
            "timeframe" => {
                timeframe = Some(yaml::scalar_text(value).ok_or_else(|| {
                    yaml::wrong_type(value, &format!("{context}.timeframe"), "a string")
                })?);
            }
            n if skip.contains(&n) => {}
            _ => {
                let ctx = format!("{context}.{name}");
                let selection = parse_selection(value, &ctx, path)?;
                selections.push(NamedSelection {
                    name,
                    selection,
                    location: location(path, key),
                });
            }
        }
    }
    let condition_node = condition_node.ok_or_else(|| {
        DocError::new(
            yaml::line(node),
            context,
            ErrorKind::MissingKey(Cow::Borrowed("condition")),
        )
    })?;
    let names: Vec<&str> = selections.iter().map(|s| s.name.as_str()).collect();
    let condition = parse_condition(condition_node, &format!("{context}.condition"), &names)?;
    Ok(Detection {
        selections,
        condition,
        timeframe,
    })
}

fn location(path: &Path, node: &Node<'_>) -> Location {
    Location {
        path: path.to_path_buf(),
        line: yaml::line(node),
    }
}

/// Reads a `condition`: one string, or a list of strings folded into one `Or`.
fn parse_condition(node: &Node<'_>, ctx: &str, names: &[&str]) -> Result<Condition, DocError> {
    let one = |item: &Node<'_>| -> Result<Condition, DocError> {
        let text = yaml::as_str(item).ok_or_else(|| yaml::wrong_type(item, ctx, "a string"))?;
        condition::parse(text, names).map_err(|kind| DocError::new(yaml::line(item), ctx, kind))
    };
    match yaml::sequence(node) {
        Some(items) => {
            let mut conditions = items.iter().map(one);
            let first = conditions.next().ok_or_else(|| {
                DocError::new(
                    yaml::line(node),
                    ctx,
                    ErrorKind::InvalidValue("the list of conditions is empty".into()),
                )
            })??;
            conditions.try_fold(first, |acc, c| Ok(condition::or(acc, c?)))
        }
        None => one(node),
    }
}

/// Reads one search identifier's definition.
fn parse_selection(node: &Node<'_>, ctx: &str, path: &Path) -> Result<Selection, DocError> {
    let empty = || {
        DocError::new(
            yaml::line(node),
            ctx,
            ErrorKind::InvalidValue("the search identifier is empty".into()),
        )
    };
    if let Some(entries) = yaml::mapping(node) {
        if entries.is_empty() {
            return Err(empty());
        }
        return Ok(Selection {
            alternatives: vec![parse_map(&entries, ctx, path)?],
        });
    }
    if let Some(items) = yaml::sequence(node) {
        if items.is_empty() {
            return Err(empty());
        }
        // Plain values form one keyword alternative, placed where the first one was
        // written; each map is an alternative of its own.
        let mut alternatives = Vec::new();
        let mut keywords: Vec<SigmaValue> = Vec::new();
        let mut keyword_slot = None;
        for (i, item) in items.iter().enumerate() {
            let item_ctx = format!("{ctx}[{i}]");
            if let Some(entries) = yaml::mapping(item) {
                if entries.is_empty() {
                    return Err(DocError::new(
                        yaml::line(item),
                        item_ctx,
                        ErrorKind::InvalidValue("empty mapping in a list of alternatives".into()),
                    ));
                }
                alternatives.push(parse_map(&entries, &item_ctx, path)?);
            } else {
                let value = value(item, &item_ctx)?;
                keyword_slot.get_or_insert(alternatives.len());
                keywords.push(value);
            }
        }
        if let Some(slot) = keyword_slot {
            let first_line = items
                .iter()
                .find(|item| yaml::mapping(item).is_none())
                .map_or(yaml::line(node), yaml::line);
            let matcher = keyword_match(
                keywords,
                Location {
                    path: path.to_path_buf(),
                    line: first_line,
                },
                ctx,
            )?;
            alternatives.insert(slot, vec![matcher]);
        }
        return Ok(Selection { alternatives });
    }
    if yaml::is_null(node) {
        return Err(empty());
    }
    let value = value(node, ctx)?;
    let matcher = keyword_match(vec![value], location(path, node), ctx)?;
    Ok(Selection {
        alternatives: vec![vec![matcher]],
    })
}

/// A keyword field match without modifiers.
fn keyword_match(
    values: Vec<SigmaValue>,
    location: Location,
    ctx: &str,
) -> Result<FieldMatch, DocError> {
    if values.iter().any(|v| matches!(v, SigmaValue::Null)) {
        return Err(DocError::new(
            location.line,
            ctx,
            ErrorKind::InvalidValue("null cannot be a keyword".into()),
        ));
    }
    modifier::check_values(&[], &values).map_err(|kind| DocError::new(location.line, ctx, kind))?;
    Ok(FieldMatch {
        field: None,
        modifiers: Vec::new(),
        values,
        location,
    })
}

/// Reads a map of `field|modifiers: values` into one alternative (an AND).
fn parse_map(
    entries: &[(&Node<'_>, &Node<'_>)],
    ctx: &str,
    path: &Path,
) -> Result<Vec<FieldMatch>, DocError> {
    let mut out = Vec::new();
    for &(key, value_node) in entries {
        let line = yaml::line(key);
        let key_text =
            yaml::as_str(key).ok_or_else(|| yaml::wrong_type(key, ctx, "a field name"))?;
        let mut parts = key_text.split('|');
        let field = parts.next().unwrap_or_default();
        let field = (!field.is_empty()).then(|| field.to_owned());
        let mut modifiers = Vec::new();
        for name in parts {
            let modifier = Modifier::from_name(name).ok_or_else(|| {
                let kind = if name.is_empty() {
                    ErrorKind::ModifierChain {
                        chain: key_text.to_owned(),
                        reason: "empty modifier name".into(),
                    }
                } else {
                    ErrorKind::UnknownModifier(name.to_owned())
                };
                DocError::new(line, ctx, kind)
            })?;
            modifiers.push(modifier);
        }
        let keyword = field.is_none();
        if keyword && modifiers.is_empty() {
            return Err(DocError::new(
                line,
                ctx,
                ErrorKind::InvalidValue("empty field name".into()),
            ));
        }
        modifier::check_chain(&modifiers, keyword).map_err(|reason| {
            DocError::new(
                line,
                ctx,
                ErrorKind::ModifierChain {
                    chain: modifier::chain_text(&modifiers),
                    reason,
                },
            )
        })?;
        let field_ctx = format!("{ctx}.{key_text}");
        let values = values(value_node, &field_ctx)?;
        modifier::check_values(&modifiers, &values)
            .map_err(|kind| DocError::new(line, &field_ctx, kind))?;
        if keyword && values.iter().any(|v| matches!(v, SigmaValue::Null)) {
            return Err(DocError::new(
                line,
                field_ctx,
                ErrorKind::InvalidValue("null cannot be a keyword".into()),
            ));
        }
        out.push(FieldMatch {
            field,
            modifiers,
            values,
            location: location(path, key),
        });
    }
    Ok(out)
}

/// A field's value(s): a scalar or a non-empty list of scalars.
fn values(node: &Node<'_>, ctx: &str) -> Result<Vec<SigmaValue>, DocError> {
    match yaml::sequence(node) {
        Some([]) => Err(DocError::new(
            yaml::line(node),
            ctx,
            ErrorKind::InvalidValue("empty list of values".into()),
        )),
        Some(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| value(item, &format!("{ctx}[{i}]")))
            .collect(),
        None => Ok(vec![value(node, ctx)?]),
    }
}

/// One scalar value, typed as YAML typed it; strings are kept verbatim.
fn value(node: &Node<'_>, ctx: &str) -> Result<SigmaValue, DocError> {
    match yaml::scalar(node) {
        Some(Scalar::Null) => Ok(SigmaValue::Null),
        Some(Scalar::Boolean(b)) => Ok(SigmaValue::Bool(*b)),
        Some(Scalar::Integer(i)) => Ok(SigmaValue::Int(*i)),
        Some(Scalar::FloatingPoint(f)) => Ok(SigmaValue::Float(f.into_inner())),
        Some(Scalar::String(s)) => Ok(SigmaValue::String(s.to_string())),
        None => Err(yaml::wrong_type(
            node,
            ctx,
            "a plain value (string, number, boolean or null)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::ast::{
        Condition, Detection, Document, FieldMatch, Modifier, SelectionPattern, SigmaValue,
    };
    use crate::error::{ErrorKind, SigmaError};

    /// A rule whose `detection:` section is `body` (indented by four spaces); the body
    /// starts on line 4.
    fn rule(body: &str) -> String {
        let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
        format!("title: T\nlogsource: {{product: windows}}\ndetection:\n{indented}")
    }

    fn detection(body: &str) -> Detection {
        match crate::parse_documents(&rule(body), Path::new("t.yml")).remove(0) {
            Ok(Document::Rule(rule)) => rule.detection,
            other => panic!("expected a rule, got {other:?}"),
        }
    }

    fn error(body: &str) -> SigmaError {
        match crate::parse_documents(&rule(body), Path::new("t.yml")).remove(0) {
            Err(err) => err,
            Ok(doc) => panic!("expected an error, got {doc:?}"),
        }
    }

    fn s(text: &str) -> SigmaValue {
        SigmaValue::String(text.into())
    }

    fn fm(
        field: Option<&str>,
        modifiers: &[Modifier],
        values: Vec<SigmaValue>,
        line: usize,
    ) -> FieldMatch {
        FieldMatch {
            field: field.map(str::to_owned),
            modifiers: modifiers.to_vec(),
            values,
            location: crate::ast::Location {
                path: "t.yml".into(),
                line,
            },
        }
    }

    #[test]
    fn map_is_one_alternative_of_field_matches() {
        let d = detection(
            "selection:\n    EventID: 4688\n    Image|endswith: '\\cmd.exe'\n    Ratio: 1.5\n    Flag: true\n    Gone: null\n    CommandLine|contains|all:\n        - 'a*b'\n        - \"x\"\ncondition: selection",
        );
        assert_eq!(d.selections.len(), 1);
        assert_eq!(d.selections[0].name, "selection");
        assert_eq!(d.selections[0].location.line, 4);
        assert_eq!(
            d.selections[0].selection.alternatives,
            vec![vec![
                fm(Some("EventID"), &[], vec![SigmaValue::Int(4688)], 5),
                fm(
                    Some("Image"),
                    &[Modifier::EndsWith],
                    vec![s(r"\cmd.exe")],
                    6
                ),
                fm(Some("Ratio"), &[], vec![SigmaValue::Float(1.5)], 7),
                fm(Some("Flag"), &[], vec![SigmaValue::Bool(true)], 8),
                fm(Some("Gone"), &[], vec![SigmaValue::Null], 9),
                fm(
                    Some("CommandLine"),
                    &[Modifier::Contains, Modifier::All],
                    vec![s("a*b"), s("x")],
                    10
                ),
            ]]
        );
        assert_eq!(d.condition, Condition::Selection("selection".into()));
        assert_eq!(d.timeframe, None);
    }

    #[test]
    fn list_of_maps_is_alternatives() {
        let d = detection("sel:\n    - A: 1\n      B: 2\n    - C|startswith: x\ncondition: sel");
        assert_eq!(
            d.selections[0].selection.alternatives,
            vec![
                vec![
                    fm(Some("A"), &[], vec![SigmaValue::Int(1)], 5),
                    fm(Some("B"), &[], vec![SigmaValue::Int(2)], 6),
                ],
                vec![fm(Some("C"), &[Modifier::StartsWith], vec![s("x")], 7)],
            ]
        );
    }

    #[test]
    fn keyword_forms() {
        let d = detection("keywords:\n    - 'evil'\n    - 42\nsingle: 'lonely'\nall_kw:\n    '|all':\n        - a\n        - b\ncondition: keywords or single or all_kw");
        assert_eq!(
            d.selections[0].selection.alternatives,
            vec![vec![fm(None, &[], vec![s("evil"), SigmaValue::Int(42)], 5)]]
        );
        assert_eq!(
            d.selections[1].selection.alternatives,
            vec![vec![fm(None, &[], vec![s("lonely")], 7)]]
        );
        assert_eq!(
            d.selections[2].selection.alternatives,
            vec![vec![fm(None, &[Modifier::All], vec![s("a"), s("b")], 9)]]
        );
    }

    #[test]
    fn mixed_list_splits_keywords_and_maps() {
        let d = detection("sel:\n    - A: 1\n    - 'kw1'\n    - B: 2\n    - 'kw2'\ncondition: sel");
        assert_eq!(
            d.selections[0].selection.alternatives,
            vec![
                vec![fm(Some("A"), &[], vec![SigmaValue::Int(1)], 5)],
                vec![fm(None, &[], vec![s("kw1"), s("kw2")], 6)],
                vec![fm(Some("B"), &[], vec![SigmaValue::Int(2)], 7)],
            ]
        );
    }

    #[test]
    fn condition_list_is_or_and_timeframe_is_kept() {
        let d = detection("a: x\nb: y\ntimeframe: 5m\ncondition:\n    - a\n    - 1 of b*");
        assert_eq!(
            d.condition,
            Condition::Or(vec![
                Condition::Selection("a".into()),
                Condition::OneOf(SelectionPattern::Pattern("b*".into())),
            ])
        );
        assert_eq!(d.timeframe.as_deref(), Some("5m"));
    }

    /// Asserts the error's line, context and message.
    fn check_error(body: &str, line: usize, context: &str, message: &str) {
        let err = error(body);
        assert_eq!(err.location.line, line, "{err}");
        assert_eq!(err.context, context, "{err}");
        assert!(
            err.kind.to_string().contains(message),
            "{err} does not contain {message:?}"
        );
    }

    #[test]
    fn located_errors() {
        check_error(
            "sel:\n    Image|contians: x\ncondition: sel",
            5,
            "detection.sel",
            "unknown modifier 'contians'",
        );
        check_error(
            "sel:\n    Image||contains: x\ncondition: sel",
            5,
            "detection.sel",
            "empty modifier name",
        );
        check_error(
            "sel:\n    A: 1\n    Image|re|contains: x\ncondition: sel",
            6,
            "detection.sel",
            "invalid modifier chain '|re|contains': 're' cannot be combined with 'contains'",
        );
        check_error(
            "sel:\n    - A: 1\n    - B|i: x\ncondition: sel",
            6,
            "detection.sel[1]",
            "'i' is only allowed after 're'",
        );
        check_error(
            "sel:\n    A|all: x\ncondition: sel",
            5,
            "detection.sel.A|all",
            "'all' needs at least two values",
        );
        check_error(
            "sel:\n    A|re: '(x'\ncondition: sel",
            5,
            "detection.sel.A|re",
            "invalid regular expression '(x'",
        );
        check_error(
            "sel:\n    A: []\ncondition: sel",
            5,
            "detection.sel.A",
            "empty list of values",
        );
        check_error(
            "sel:\n    A:\n        - x\n        - {b: c}\ncondition: sel",
            7,
            "detection.sel.A[1]",
            "expected a plain value",
        );
        check_error(
            "sel:\n    A:\n        - ''\n        - null\ncondition: sel",
            5,
            "detection.sel.A",
            "null cannot be part of a list",
        );
        check_error(
            "sel:\ncondition: sel",
            4,
            "detection.sel",
            "the search identifier is empty",
        );
        check_error(
            "sel: []\ncondition: sel",
            4,
            "detection.sel",
            "the search identifier is empty",
        );
        check_error(
            "sel:\n    - [a]\ncondition: sel",
            5,
            "detection.sel[0]",
            "expected a plain value",
        );
        check_error("sel: x", 4, "detection", "missing required key 'condition'");
        check_error(
            "sel: x\ncondition: sel and nope",
            5,
            "detection.condition",
            "unknown search identifier 'nope'",
        );
        check_error(
            "sel: x\ncondition:\n    - sel\n    - (sel",
            7,
            "detection.condition",
            "unbalanced '('",
        );
        check_error(
            "sel: x\ncondition: []",
            5,
            "detection.condition",
            "the list of conditions is empty",
        );
        check_error(
            "sel: x\ncondition: 5",
            5,
            "detection.condition",
            "expected a string, found an integer",
        );
        check_error(
            "sel: x\ncondition: sel | count() > 5",
            5,
            "detection.condition",
            "use a Sigma correlation rule",
        );
        check_error(
            "- a\n- b",
            4,
            "detection",
            "expected a mapping, found a list",
        );
        check_error(
            "sel:\n    - null\ncondition: sel",
            5,
            "detection.sel",
            "null cannot be a keyword",
        );
    }

    #[test]
    fn identifiers_a_condition_cannot_spell_are_reached_by_patterns() {
        let d = detection("select_a|endswith:\n    Image: x\ncondition: 1 of select*");
        assert_eq!(d.selections[0].name, "select_a|endswith");
    }

    #[test]
    fn cidr_and_exists_values() {
        let d = detection(
            "sel:\n    Ip|cidr: ['10.0.0.0/8', '::1/128']\n    Pw|exists: false\ncondition: sel",
        );
        let alt = &d.selections[0].selection.alternatives[0];
        assert_eq!(alt[0].modifiers, vec![Modifier::Cidr]);
        assert_eq!(alt[1].values, vec![SigmaValue::Bool(false)]);
        let err = error("sel:\n    Ip|cidr: '10.0.0.300/8'\ncondition: sel");
        assert_eq!(err.kind, ErrorKind::InvalidCidr("10.0.0.300/8".into()));
    }
}
