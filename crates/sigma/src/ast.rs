//! The typed model of Sigma documents: rules, filters and correlations.
//!
//! Everything here is plain data with public fields. Parsing fills it in and validates it;
//! the engine compiles it. Nothing here knows how matching runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where something was written: the file and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Location {
    /// The file the document was read from (empty for in-memory text).
    pub path: PathBuf,
    /// 1-based line number in that file.
    pub line: usize,
}

/// A custom (non-standard) attribute value, kept as JSON so that it can be printed or
/// exported unchanged.
pub type CustomValue = serde_json::Value;

/// One YAML document of a Sigma file.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A detection rule.
    Rule(Box<Rule>),
    /// A filter (meta filter) that suppresses matches of named rules.
    Filter(Box<FilterRule>),
    /// A correlation rule over the matches of other rules.
    Correlation(Box<CorrelationRule>),
}

/// The metadata shared by rules, filters and correlations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// `title`, mandatory.
    pub title: String,
    /// `id`, usually a UUID.
    pub id: Option<String>,
    /// `name`, a unique human-readable identifier that correlations may refer to.
    pub name: Option<String>,
    /// `related`: other rules this one derives from, obsoletes, ...
    pub related: Vec<Related>,
    /// `taxonomy` (defaults to `sigma` when absent).
    pub taxonomy: Option<String>,
    /// `status`.
    pub status: Option<Status>,
    /// `description`.
    pub description: Option<String>,
    /// `license`.
    pub license: Option<String>,
    /// `author`: kept verbatim; the Detection Rule License requires showing it.
    pub author: Option<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `date` as written (`YYYY-MM-DD` or `YYYY/MM/DD`).
    pub date: Option<String>,
    /// `modified` as written.
    pub modified: Option<String>,
    /// `tags`, such as `attack.t1059.001`; unknown namespaces are kept.
    pub tags: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// `level`.
    pub level: Option<Level>,
    /// `fields`: fields worth showing to an analyst.
    pub fields: Vec<String>,
    /// `scope`.
    pub scope: Vec<String>,
    /// Every attribute the specification does not define, kept as written.
    #[serde(with = "custom_as_json")]
    pub custom: BTreeMap<String, CustomValue>,
    /// Where the document starts.
    pub location: Location,
}

/// An entry of `related`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Related {
    /// The related rule's id.
    pub id: String,
    /// The relation: `derived`, `obsolete`, `merged`, `renamed` or `similar`.
    pub kind: String,
}

/// A rule's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// `unsupported`
    Unsupported,
    /// `deprecated`
    Deprecated,
    /// `experimental`
    Experimental,
    /// `test`
    Test,
    /// `stable`
    Stable,
}

impl Status {
    /// Every status, least mature first.
    pub const ALL: [Status; 5] = [
        Status::Unsupported,
        Status::Deprecated,
        Status::Experimental,
        Status::Test,
        Status::Stable,
    ];

    /// The spelling Sigma uses (`stable`, `test`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unsupported => "unsupported",
            Status::Deprecated => "deprecated",
            Status::Experimental => "experimental",
            Status::Test => "test",
            Status::Stable => "stable",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = UnknownStatus;

    /// Parses Sigma's spelling, ignoring case and surrounding blanks, as a rule filter
    /// (`hunt --status`) reads it. A rule's own `status` is read strictly, in lowercase.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        Status::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}

/// A text that names no rule [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status '{0}' (expected one of: stable, test, experimental, deprecated, unsupported)"
)]
pub struct UnknownStatus(pub String);

/// A rule's `level`: the shared [`tocsin_event::Level`], so that nothing downstream converts.
pub use tocsin_event::Level;

/// A rule's `logsource`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogSource {
    /// `category`, such as `process_creation`.
    pub category: Option<String>,
    /// `product`, such as `windows`.
    pub product: Option<String>,
    /// `service`, such as `security`.
    pub service: Option<String>,
    /// `definition`: free text for humans.
    pub definition: Option<String>,
    /// Any other keys, kept as written.
    pub custom: BTreeMap<String, String>,
}

/// A detection rule: metadata, log source and detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Title, id, level, tags and the rest.
    pub meta: Metadata,
    /// Which logs the rule applies to.
    pub logsource: LogSource,
    /// What the rule looks for.
    pub detection: Detection,
}

/// A `detection` section (also the body of a filter).
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The search identifiers in the order they were written.
    pub selections: Vec<NamedSelection>,
    /// The condition; a list of conditions in YAML is folded into one `Or`.
    pub condition: Condition,
    /// The deprecated `timeframe` attribute, kept as written.
    pub timeframe: Option<String>,
}

/// A search identifier and its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedSelection {
    /// The identifier used in the condition (`selection`, `filter_main_generic`, ...).
    pub name: String,
    /// The definition.
    pub selection: Selection,
    /// Where it was written.
    pub location: Location,
}

/// A search identifier's definition: an OR of alternatives, each an AND of field matches.
///
/// A YAML map is one alternative. A list of maps is one alternative per map. A list of plain
/// values is a keyword search: one alternative holding one [`FieldMatch`] without a field.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The alternatives, linked with OR. Never empty.
    pub alternatives: Vec<Vec<FieldMatch>>,
}

/// One `field|modifier|...: value(s)` item (or a keyword list when `field` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMatch {
    /// The field name, `None` for keywords (search anywhere in the event).
    pub field: Option<String>,
    /// The modifiers in the order written. The chain has been validated.
    pub modifiers: Vec<Modifier>,
    /// The values, linked with OR (AND with the `all` modifier). Never empty.
    pub values: Vec<SigmaValue>,
    /// Where it was written.
    pub location: Location,
}

/// A value as written in a rule, before modifiers are applied.
#[derive(Debug, Clone, PartialEq)]
pub enum SigmaValue {
    /// `null`: the field is absent or null.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string exactly as written (wildcards and escapes not yet interpreted, because what
    /// they mean depends on the modifiers: `re` takes the text as a regular expression).
    String(String),
}

/// A value modifier (`|contains`, `|re`, `|base64offset`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the modifier of the same name
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Exists,
    Cased,
    Neq,
    Windash,
    Re,
    /// `i` after `re`: case-insensitive regular expression.
    ReIgnoreCase,
    /// `m` after `re`: multi-line.
    ReMultiLine,
    /// `s` after `re`: dot matches newline.
    ReDotAll,
    Base64,
    Base64Offset,
    Utf16le,
    Utf16be,
    Utf16,
    /// `wide`: an alias of `utf16le`, kept apart so it can be printed as written.
    Wide,
    Lt,
    Lte,
    Gt,
    Gte,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Cidr,
    Expand,
    Fieldref,
}

/// A parsed `condition`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A search identifier by name.
    Selection(String),
    /// `not x`
    Not(Box<Condition>),
    /// `a and b and ...`
    And(Vec<Condition>),
    /// `a or b or ...`
    Or(Vec<Condition>),
    /// `1 of pattern` / `1 of them`
    OneOf(SelectionPattern),
    /// `all of pattern` / `all of them`
    AllOf(SelectionPattern),
}

/// The target of `1 of` / `all of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionPattern {
    /// `them`: every search identifier not starting with `_`.
    Them,
    /// A pattern in which `*` matches any run of characters, such as `selection_*`.
    Pattern(String),
}

/// A Sigma filter: extra conditions that suppress matches of the rules it names.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterRule {
    /// Title, id and the rest (filters have no level or status).
    pub meta: Metadata,
    /// Which logs the filter applies to.
    pub logsource: LogSource,
    /// The ids or names of the rules the filter applies to.
    pub rules: Vec<String>,
    /// The filter's selections and condition: a match of this condition suppresses the
    /// named rules' matches.
    pub detection: Detection,
}

/// A correlation rule (Sigma correlation specification v2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationRule {
    /// Title, id, level and the rest.
    pub meta: Metadata,
    /// The correlation type.
    pub kind: CorrelationType,
    /// The ids or names of the rules (or correlations) whose matches are correlated.
    pub rules: Vec<String>,
    /// `group-by` fields.
    pub group_by: Vec<String>,
    /// The sliding window length in seconds (`timespan`).
    pub timespan_seconds: u64,
    /// The condition on the aggregate (absent only for `temporal` types, where it defaults
    /// to "all rules seen").
    pub condition: Option<CorrelationCondition>,
    /// Field-name aliases: alias -> (rule id or name -> field name in that rule's events).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    /// `generate`: whether the referenced rules also produce detections of their own.
    pub generate: bool,
}

/// The seven correlation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)] // each variant is the type of the same name
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

impl CorrelationType {
    /// The type's name as a rule writes it (`event_count`, `temporal_ordered`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
            CorrelationType::ValueSum => "value_sum",
            CorrelationType::ValueAvg => "value_avg",
            CorrelationType::ValuePercentile => "value_percentile",
        }
    }
}

/// A correlation's `condition`: comparisons that all must hold, on an optional field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrelationCondition {
    /// The field aggregated (`value_count`, `value_sum`, `value_avg`, `value_percentile`).
    pub field: Option<String>,
    /// The percentile for `value_percentile` (`percentile:` or in `condition`), 0 to 100.
    pub percentile: Option<f64>,
    /// Comparisons, all of which must hold (a range is two of them).
    pub comparisons: Vec<(Comparison, f64)>,
}

/// A comparison operator of a correlation condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)] // gt, gte, lt, lte, eq, neq
pub enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

/// Custom attributes as JSON text: the compiled-rule cache's encoding cannot describe a
/// JSON value's shape by itself, so each value is kept as its JSON text.
mod custom_as_json {
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::CustomValue;

    pub(super) fn serialize<S: Serializer>(
        custom: &BTreeMap<String, CustomValue>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let texts: BTreeMap<&str, String> = custom
            .iter()
            .map(|(key, value)| (key.as_str(), value.to_string()))
            .collect();
        texts.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, CustomValue>, D::Error> {
        BTreeMap::<String, String>::deserialize(deserializer)?
            .into_iter()
            .map(|(key, text)| {
                serde_json::from_str(&text)
                    .map(|value| (key, value))
                    .map_err(D::Error::custom)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_the_words_they_print() {
        for status in Status::ALL {
            assert_eq!(status.to_string().parse::<Status>(), Ok(status));
        }
        assert_eq!(" Stable ".parse::<Status>(), Ok(Status::Stable));
        assert!(Status::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        let error = "final".parse::<Status>().unwrap_err().to_string();
        assert!(
            error.contains("'final'") && error.contains("experimental"),
            "{error}"
        );
    }
}
