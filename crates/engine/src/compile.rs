//! Compiling Sigma detections into [`Expr`] trees.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use tocsin_sigma::ast::{Condition, Detection, FieldMatch, Modifier, SelectionPattern, SigmaValue};
use tocsin_sigma::string::{SigmaString, StringPart};

use crate::encode::{self, Utf16};
use crate::expr::{Expr, FieldTest, KeywordTest};
use crate::matcher::{Cmp, RefMode, TimePart, ValueMatcher};
use crate::needle_set::{gather_matchers, gather_patterns};
use crate::text::{Part, TextPattern};

/// Placeholder name (without `%`) -> the values it stands for.
pub type Placeholders = HashMap<String, Vec<String>>;

/// Why a rule could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// What is wrong, prefixed with the selection and field it is in.
    pub message: String,
    /// Whether the rule is wrong or only lacks placeholder values.
    pub kind: CompileErrorKind,
    /// The 1-based line of the offending item, when known.
    pub line: Option<usize>,
}

/// Whether a compile error is a fault of the rule or a missing input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileErrorKind {
    /// The rule cannot mean anything as written.
    Invalid,
    /// The rule uses an `expand` placeholder that no placeholder file gives values for:
    /// the rule is sound but cannot run here until the user says what the placeholder means.
    MissingPlaceholder,
}

impl CompileError {
    fn invalid(message: impl Into<String>) -> Self {
        CompileError {
            message: message.into(),
            kind: CompileErrorKind::Invalid,
            line: None,
        }
    }

    /// The same error with `prefix: ` in front of its message.
    fn context(self, prefix: &str) -> Self {
        CompileError {
            message: format!("{prefix}: {}", self.message),
            ..self
        }
    }

    /// The same error, located at `line` unless it already has a line.
    fn at_line(self, line: usize) -> Self {
        CompileError {
            line: self.line.or(Some(line).filter(|l| *l > 0)),
            ..self
        }
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError::invalid(message))
}

/// Field names referenced by compiled rules, each given a dense id.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(into = "Vec<Box<str>>", from = "Vec<Box<str>>")]
pub(crate) struct Interner {
    ids: HashMap<Box<str>, u32>,
    pub(crate) names: Vec<Box<str>>,
}

/// An interner is stored as its names; the lookup table is rebuilt from them.
impl From<Interner> for Vec<Box<str>> {
    fn from(interner: Interner) -> Self {
        interner.names
    }
}

impl From<Vec<Box<str>>> for Interner {
    fn from(names: Vec<Box<str>>) -> Self {
        let ids = names
            .iter()
            .enumerate()
            .map(|(id, name)| (name.clone(), id as u32))
            .collect();
        Interner { ids, names }
    }
}

impl Interner {
    /// The id of a name already interned.
    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }
}

/// Compiles detections with one set of field renames (a logsource branch).
pub(crate) struct Compiler<'a> {
    pub(crate) interner: &'a mut Interner,
    pub(crate) placeholders: &'a Placeholders,
    pub(crate) renames: &'a BTreeMap<String, String>,
}

impl Compiler<'_> {
    /// Compiles a whole detection (selections and condition).
    pub(crate) fn detection(&mut self, detection: &Detection) -> Result<Expr, CompileError> {
        let mut selections = Vec::with_capacity(detection.selections.len());
        for named in &detection.selections {
            let alternatives = named
                .selection
                .alternatives
                .iter()
                .map(|items| {
                    items
                        .iter()
                        .map(|item| self.field_match(item))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Expr::And)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.context(&named.name))?;
            selections.push((named.name.as_str(), simplify(Expr::Or(alternatives))));
        }
        condition(&detection.condition, &selections)
    }

    fn field_name(&self, field: &str) -> String {
        self.renames
            .get(field)
            .cloned()
            .unwrap_or_else(|| field.to_string())
    }

    /// Compiles one `field|modifiers: values` item.
    fn field_match(&mut self, item: &FieldMatch) -> Result<Expr, CompileError> {
        let has = |m: Modifier| item.modifiers.contains(&m);
        let field = item.field.as_deref().map(|f| self.field_name(f));
        let context = |e: CompileError| {
            e.context(item.field.as_deref().unwrap_or("keywords"))
                .at_line(item.location.line)
        };
        if has(Modifier::Exists) {
            let (Some(field), [SigmaValue::Bool(present)]) = (field, item.values.as_slice()) else {
                return Err(context(CompileError::invalid(
                    "exists needs a field and true or false",
                )));
            };
            return Ok(Expr::Exists {
                field: self.interner.intern(&field),
                present: *present,
            });
        }
        // Keywords search the whole event: a plain keyword matches anywhere in a value.
        let mut mods = item.modifiers.clone();
        let positioned = [
            Modifier::Contains,
            Modifier::StartsWith,
            Modifier::EndsWith,
            Modifier::Re,
        ];
        if field.is_none() && !mods.iter().any(|m| positioned.contains(m)) {
            mods.push(Modifier::Contains);
        }
        let per_value = item
            .values
            .iter()
            .map(|v| self.value(v, &mods))
            .collect::<Result<Vec<_>, _>>()
            .map_err(context)?;
        let all = has(Modifier::All);
        let expr = match field {
            Some(field) => {
                let field = self.interner.intern(&field);
                let test = |matchers: Vec<ValueMatcher>| {
                    Expr::Field(Box::new(FieldTest {
                        field,
                        matchers: gather_matchers(matchers),
                        all: false,
                        negate: false,
                        literals: Vec::new(),
                    }))
                };
                if all {
                    Expr::And(per_value.into_iter().map(test).collect())
                } else {
                    test(per_value.into_iter().flatten().collect())
                }
            }
            None => {
                let keywords = |matchers: Vec<ValueMatcher>| {
                    let patterns = matchers
                        .into_iter()
                        .filter_map(|m| match m {
                            ValueMatcher::Text(p) => Some(p),
                            _ => None,
                        })
                        .collect();
                    let patterns = gather_patterns(patterns);
                    Expr::Keywords(Box::new(KeywordTest {
                        patterns,
                        all: false,
                    }))
                };
                if all {
                    Expr::And(per_value.into_iter().map(keywords).collect())
                } else {
                    keywords(per_value.into_iter().flatten().collect())
                }
            }
        };
        Ok(if has(Modifier::Neq) {
            Expr::Not(Box::new(expr))
        } else {
            expr
        })
    }

    /// Compiles one rule value under the item's modifiers; one value may become several
    /// alternatives (windash, base64offset, placeholders).
    fn value(
        &mut self,
        value: &SigmaValue,
        mods: &[Modifier],
    ) -> Result<Vec<ValueMatcher>, CompileError> {
        let has = |m: Modifier| mods.contains(&m);
        let comparison = mods.iter().find_map(|m| match m {
            Modifier::Lt => Some(Cmp::Lt),
            Modifier::Lte => Some(Cmp::Lte),
            Modifier::Gt => Some(Cmp::Gt),
            Modifier::Gte => Some(Cmp::Gte),
            _ => None,
        });
        let time_part = mods.iter().find_map(|m| match m {
            Modifier::Minute => Some(TimePart::Minute),
            Modifier::Hour => Some(TimePart::Hour),
            Modifier::Day => Some(TimePart::Day),
            Modifier::Week => Some(TimePart::Week),
            Modifier::Month => Some(TimePart::Month),
            Modifier::Year => Some(TimePart::Year),
            _ => None,
        });
        if let Some(part) = time_part {
            let n = number(value)?;
            return Ok(vec![ValueMatcher::TimePart(
                part,
                comparison.unwrap_or(Cmp::Eq),
                n,
            )]);
        }
        if let Some(cmp) = comparison {
            return Ok(vec![ValueMatcher::Compare(cmp, number(value)?)]);
        }
        let stringish = mods
            .iter()
            .any(|m| !matches!(m, Modifier::All | Modifier::Neq | Modifier::Cased));
        let text = match value {
            SigmaValue::Null => return Ok(vec![ValueMatcher::Null]),
            SigmaValue::Bool(b) if !stringish => return Ok(vec![ValueMatcher::Bool(*b)]),
            SigmaValue::Int(i) if !stringish => return Ok(vec![ValueMatcher::Number(*i as f64)]),
            SigmaValue::Float(f) if !stringish => return Ok(vec![ValueMatcher::Number(*f)]),
            SigmaValue::Bool(b) => b.to_string(),
            SigmaValue::Int(i) => i.to_string(),
            SigmaValue::Float(f) => f.to_string(),
            SigmaValue::String(s) => s.clone(),
        };
        if has(Modifier::Re) {
            let pattern = TextPattern::regex(
                &text,
                has(Modifier::ReIgnoreCase),
                has(Modifier::ReMultiLine),
                has(Modifier::ReDotAll),
            )
            .map_err(|e| CompileError::invalid(format!("invalid regular expression: {e}")))?;
            return Ok(vec![ValueMatcher::Text(pattern)]);
        }
        if has(Modifier::Cidr) {
            let net = text
                .trim()
                .parse::<ipnet::IpNet>()
                .or_else(|_| {
                    text.trim()
                        .parse::<std::net::IpAddr>()
                        .map(ipnet::IpNet::from)
                })
                .map_err(|_| CompileError::invalid(format!("invalid CIDR network '{text}'")))?;
            return Ok(vec![ValueMatcher::Cidr(Box::new([net]))]);
        }
        if has(Modifier::Fieldref) {
            let mode = if has(Modifier::Contains) {
                RefMode::Contains
            } else if has(Modifier::StartsWith) {
                RefMode::StartsWith
            } else if has(Modifier::EndsWith) {
                RefMode::EndsWith
            } else {
                RefMode::Equal
            };
            let other = self.field_name(&text);
            return Ok(vec![ValueMatcher::FieldRef {
                other: self.interner.intern(&other),
                mode,
                cased: has(Modifier::Cased),
            }]);
        }
        self.text_value(&text, mods)
    }

    /// The string path: wildcards, placeholders, transformations, then position modifiers.
    fn text_value(&self, raw: &str, mods: &[Modifier]) -> Result<Vec<ValueMatcher>, CompileError> {
        let parsed = SigmaString::parse(raw, mods.contains(&Modifier::Expand));
        let mut stage = Stage::Parts(self.expand(&parsed)?);
        for modifier in mods {
            stage = match modifier {
                Modifier::Windash => Stage::Parts(
                    stage
                        .into_parts()
                        .iter()
                        .map(|parts| encode::windash(parts))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            CompileError::invalid("windash: too many dashes in one value")
                        })?
                        .into_iter()
                        .flatten()
                        .collect(),
                ),
                Modifier::Utf16le | Modifier::Wide => {
                    stage.map_bytes(|b| encode::utf16(b, Utf16::Le))?
                }
                Modifier::Utf16be => stage.map_bytes(|b| encode::utf16(b, Utf16::Be))?,
                Modifier::Utf16 => stage.map_bytes(|b| encode::utf16(b, Utf16::WithBom))?,
                Modifier::Base64 => Stage::Parts(
                    stage
                        .into_bytes()?
                        .iter()
                        .map(|b| vec![Part::Lit(encode::base64(b))])
                        .collect(),
                ),
                Modifier::Base64Offset => Stage::Parts(
                    stage
                        .into_bytes()?
                        .iter()
                        .flat_map(|b| encode::base64_offsets(b))
                        .map(|s| vec![Part::Lit(s)])
                        .collect(),
                ),
                Modifier::Contains => Stage::Parts(wrap(stage.into_parts(), true, true)),
                Modifier::StartsWith => Stage::Parts(wrap(stage.into_parts(), false, true)),
                Modifier::EndsWith => Stage::Parts(wrap(stage.into_parts(), true, false)),
                _ => stage,
            };
        }
        let alternatives = stage.into_parts();
        let cased = mods.contains(&Modifier::Cased);
        alternatives
            .iter()
            .flat_map(|parts| TextPattern::compile_variants(parts, cased))
            .map(|pattern| Ok(ValueMatcher::Text(pattern)))
            .collect()
    }

    /// Replaces placeholders by their values (each value may hold wildcards).
    fn expand(&self, parsed: &SigmaString) -> Result<Vec<Vec<Part>>, CompileError> {
        let mut alternatives: Vec<Vec<Part>> = vec![Vec::new()];
        for part in &parsed.parts {
            match part {
                StringPart::Literal(s) => push_all(&mut alternatives, &[Part::Lit(s.clone())]),
                StringPart::AnyChars => push_all(&mut alternatives, &[Part::Star]),
                StringPart::OneChar => push_all(&mut alternatives, &[Part::One]),
                StringPart::Placeholder(name) => {
                    let Some(values) = self.placeholders.get(name) else {
                        return Err(CompileError {
                            message: format!(
                                "placeholder %{name}% has no values (define it in a --placeholders file)"
                            ),
                            kind: CompileErrorKind::MissingPlaceholder,
                            line: None,
                        });
                    };
                    let replacements: Vec<Vec<Part>> = values
                        .iter()
                        .map(|v| convert_parts(&SigmaString::parse(v, false)))
                        .collect();
                    alternatives = alternatives
                        .into_iter()
                        .flat_map(|prefix| {
                            replacements.iter().map(move |r| {
                                let mut p = prefix.clone();
                                p.extend(r.iter().cloned());
                                p
                            })
                        })
                        .collect();
                }
            }
        }
        Ok(alternatives)
    }
}

fn push_all(alternatives: &mut [Vec<Part>], parts: &[Part]) {
    alternatives
        .iter_mut()
        .for_each(|a| a.extend_from_slice(parts));
}

fn convert_parts(s: &SigmaString) -> Vec<Part> {
    s.parts
        .iter()
        .map(|p| match p {
            StringPart::Literal(s) => Part::Lit(s.clone()),
            StringPart::AnyChars => Part::Star,
            StringPart::OneChar => Part::One,
            // A placeholder inside a placeholder value is taken literally.
            StringPart::Placeholder(name) => Part::Lit(format!("%{name}%")),
        })
        .collect()
}

/// The literal bytes of a pattern that must hold no wildcards (before encoding).
fn plain_bytes(parts: &[Part]) -> Result<Vec<u8>, CompileError> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
            _ => {
                return fail(
                    "encoding modifiers cannot encode wildcards; escape them or remove them",
                )
            }
        }
    }
    Ok(out)
}

/// A value on its way through the transformation modifiers: text patterns, or raw bytes
/// once an encoding modifier has turned it into something that may not be text.
enum Stage {
    Parts(Vec<Vec<Part>>),
    Bytes(Vec<Vec<u8>>),
}

impl Stage {
    fn into_parts(self) -> Vec<Vec<Part>> {
        match self {
            Stage::Parts(parts) => parts,
            Stage::Bytes(bytes) => bytes
                .into_iter()
                .map(|b| vec![Part::Lit(String::from_utf8_lossy(&b).into_owned())])
                .collect(),
        }
    }

    fn into_bytes(self) -> Result<Vec<Vec<u8>>, CompileError> {
        match self {
            Stage::Bytes(bytes) => Ok(bytes),
            Stage::Parts(parts) => parts.iter().map(|p| plain_bytes(p)).collect(),
        }
    }

    fn map_bytes(self, f: impl Fn(&[u8]) -> Vec<u8>) -> Result<Stage, CompileError> {
        Ok(Stage::Bytes(
            self.into_bytes()?.iter().map(|b| f(b)).collect(),
        ))
    }
}

fn wrap(alternatives: Vec<Vec<Part>>, before: bool, after: bool) -> Vec<Vec<Part>> {
    alternatives
        .into_iter()
        .map(|mut parts| {
            if before && parts.first() != Some(&Part::Star) {
                parts.insert(0, Part::Star);
            }
            if after && parts.last() != Some(&Part::Star) {
                parts.push(Part::Star);
            }
            parts
        })
        .collect()
}

fn number(value: &SigmaValue) -> Result<f64, CompileError> {
    match value {
        SigmaValue::Int(i) => Ok(*i as f64),
        SigmaValue::Float(f) => Ok(*f),
        SigmaValue::String(s) => s
            .trim()
            .parse()
            .map_err(|_| CompileError::invalid(format!("'{s}' is not a number"))),
        other => fail(format!("{other:?} is not a number")),
    }
}

/// Resolves a condition against the compiled selections.
fn condition(cond: &Condition, selections: &[(&str, Expr)]) -> Result<Expr, CompileError> {
    let matching = |pattern: &SelectionPattern| -> Result<Vec<Expr>, CompileError> {
        let found: Vec<Expr> = selections
            .iter()
            .filter(|(name, _)| pattern.matches(name))
            .map(|(_, e)| e.clone())
            .collect();
        if found.is_empty() {
            return fail(format!(
                "condition: no search identifier matches {pattern:?}"
            ));
        }
        Ok(found)
    };
    Ok(simplify(match cond {
        Condition::Selection(name) => selections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| {
                CompileError::invalid(format!("condition: unknown search identifier '{name}'"))
            })?,
        Condition::Not(inner) => Expr::Not(Box::new(condition(inner, selections)?)),
        Condition::And(items) => Expr::And(
            items
                .iter()
                .map(|c| condition(c, selections))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Or(items) => Expr::Or(
            items
                .iter()
                .map(|c| condition(c, selections))
                .collect::<Result<_, _>>()?,
        ),
        Condition::OneOf(pattern) => Expr::Or(matching(pattern)?),
        Condition::AllOf(pattern) => Expr::And(matching(pattern)?),
    }))
}

/// Removes one-element `And`/`Or` wrappers.
pub(crate) fn simplify(expr: Expr) -> Expr {
    match expr {
        Expr::And(mut items) | Expr::Or(mut items) if items.len() == 1 => items.remove(0),
        other => other,
    }
}
