//! Logsource mapping: which Windows channels, event IDs and field names a Sigma
//! `logsource` (product / category / service) stands for.
//!
//! The mapping is data. tocsin embeds its own default (`mapping/windows.yml`), and users can
//! replace it with their own file in the same format, or in the older sigmac / THOR
//! configuration format (a top-level `logsources:` map) that SigmaHQ's regression CI uses.
//!
//! Our format:
//!
//! ```yaml
//! product: windows
//! services:                       # service -> channels
//!   sysmon: [Microsoft-Windows-Sysmon/Operational]
//!   security: [Security]
//! categories:                     # category -> one or more alternatives
//!   process_creation:
//!     - service: sysmon
//!       conditions: { EventID: 1 }
//!     - service: security
//!       conditions: { EventID: 4688 }
//!       fieldmappings: { Image: NewProcessName, ParentImage: ParentProcessName }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tocsin_sigma::ast::LogSource;
use tocsin_yaml::Scalar;
use tocsin_yaml::{self as yaml, Node};

/// The built-in Windows mapping, equivalent to the one SigmaHQ's CI uses.
pub const BUILTIN_WINDOWS_MAPPING: &str = include_str!("../mapping/windows.yml");

/// The name the built-in mapping's errors are located in.
const BUILTIN_NAME: &str = "<built-in>";

/// The deepest nesting a mapping file may have. sigmac's format, the deeper of the two,
/// needs 5 levels (`logsources` → entry → `fieldmappings` → field → list of names); the
/// limit keeps the YAML loader and the reader's recursion far from the stack limit.
pub(crate) const MAX_DEPTH: usize = 32;

/// A value a mapping condition requires (`EventID: 4688`, `EventType: CreateKey`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConditionValue {
    /// A number, compared numerically.
    Int(i64),
    /// Text, compared case-insensitively.
    Text(String),
}

/// One way a rule's logsource can be present in Windows logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Branch {
    /// The channels (case-insensitive); empty means any channel.
    pub channels: Vec<String>,
    /// Field conditions that must all hold; each lists the accepted values.
    pub conditions: Vec<(String, Vec<ConditionValue>)>,
    /// Rule field name -> event field name in this branch.
    pub renames: BTreeMap<String, String>,
}

impl Branch {
    /// The event IDs this branch is limited to (empty: any).
    pub fn event_ids(&self) -> Vec<i64> {
        self.conditions
            .iter()
            .filter(|(field, _)| field == "EventID")
            .flat_map(|(_, values)| values)
            .filter_map(|v| match v {
                ConditionValue::Int(i) => Some(*i),
                ConditionValue::Text(t) => t.trim().parse().ok(),
            })
            .collect()
    }
}

/// What a logsource resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The logsource is in the mapping: it is present where any branch holds.
    Mapped(Vec<Branch>),
    /// `product: windows` and nothing else: every Windows event log, whatever its channel
    /// (the specification's LogSource section: the product alone selects all its logs).
    AllWindows,
    /// A Windows logsource the mapping does not know: the rule can never be placed.
    UnmappedWindows,
    /// A logsource of another product; the rule applies to events that carry no channel.
    Generic,
}

/// Why a mapping file could not be read, and where.
///
/// Its `Display` reads like a compiler message, so that the user can go to the place:
/// `mapping.yml:12: logsource mapping: services.sysmon: expected channels`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: logsource mapping: {message}", located(path, *line))]
pub struct MappingError {
    /// The mapping file (`<built-in>` for the embedded one).
    pub path: PathBuf,
    /// The 1-based line of the offending YAML node; 0 when the error has none.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// `file:line`, or only `file` when the line is unknown (0).
pub(crate) fn located(path: &Path, line: usize) -> String {
    match line {
        0 => path.display().to_string(),
        line => format!("{}:{line}", path.display()),
    }
}

#[derive(Debug, Clone, Default)]
struct CategoryEntry {
    product: Option<String>,
    service: Option<String>,
    conditions: Vec<(String, Vec<ConditionValue>)>,
    renames: BTreeMap<String, String>,
}

/// A loaded logsource mapping.
#[derive(Debug, Clone, Default)]
pub struct LogsourceMapping {
    /// (product, service) -> channels.
    services: BTreeMap<(String, String), Vec<String>>,
    /// category -> alternatives.
    categories: BTreeMap<String, Vec<CategoryEntry>>,
    /// (product, service) -> renames that apply to every rule of that service.
    service_renames: BTreeMap<(String, String), BTreeMap<String, String>>,
}

impl LogsourceMapping {
    /// The built-in Windows mapping.
    pub fn builtin() -> Self {
        // The embedded file is tested to parse; fall back to an empty mapping rather than
        // panicking if that ever breaks.
        Self::from_yaml(BUILTIN_WINDOWS_MAPPING, Path::new(BUILTIN_NAME)).unwrap_or_default()
    }

    /// Parses a mapping in either supported format; `path` locates the errors.
    ///
    /// The text goes through [`tocsin_yaml::load`], so that a file nested too deeply is
    /// refused with its line instead of overflowing the stack.
    ///
    /// # Errors
    ///
    /// A YAML error, or a node of the wrong shape, with its file and line.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Self, MappingError> {
        let reader = Reader { path };
        let docs = yaml::load(text, MAX_DEPTH)
            .map_err(|error| reader.error(error.line(), error.to_string()))?;
        let doc = docs
            .first()
            .ok_or_else(|| reader.error(0, "empty document"))?;
        if yaml::mapping(doc).is_none() {
            return Err(reader.error(yaml::line(doc), "expected a map at the top"));
        }
        if get(doc, "logsources").is_some() {
            reader.sigmac(doc)
        } else {
            reader.tocsin(doc)
        }
    }

    /// Adds every entry of `other`, which wins where both define the same thing.
    pub fn extend(&mut self, other: LogsourceMapping) {
        self.services.extend(other.services);
        self.categories.extend(other.categories);
        self.service_renames.extend(other.service_renames);
    }

    /// Where a rule with logsource `ls` can match.
    pub fn resolve(&self, ls: &LogSource) -> Resolution {
        let product = ls.product.as_deref().map(str::to_ascii_lowercase);
        let is_windows = product.as_deref() == Some("windows");
        if is_windows && ls.category.is_none() && ls.service.is_none() {
            return Resolution::AllWindows;
        }
        let mut branches = Vec::new();
        if let Some(category) = &ls.category {
            for entry in self
                .categories
                .get(&category.to_ascii_lowercase())
                .into_iter()
                .flatten()
            {
                if product.is_some() && entry.product.is_some() && entry.product != product {
                    continue;
                }
                let service = entry.service.clone().or_else(|| ls.service.clone());
                let entry_product = entry.product.clone().unwrap_or_else(|| "windows".into());
                let mut branch = Branch {
                    conditions: entry.conditions.clone(),
                    renames: entry.renames.clone(),
                    ..Branch::default()
                };
                if let Some(service) = service {
                    let key = (entry_product, service.to_ascii_lowercase());
                    branch.channels = self.services.get(&key).cloned().unwrap_or_default();
                    if let Some(extra) = self.service_renames.get(&key) {
                        extra.iter().for_each(|(k, v)| {
                            branch.renames.entry(k.clone()).or_insert_with(|| v.clone());
                        });
                    }
                }
                // A branch is placed by its channels; without any it cannot be placed.
                if !branch.channels.is_empty() {
                    branches.push(branch);
                }
            }
        } else if let Some(service) = &ls.service {
            let key = (
                product.clone().unwrap_or_else(|| "windows".into()),
                service.to_ascii_lowercase(),
            );
            if let Some(channels) = self.services.get(&key) {
                branches.push(Branch {
                    channels: channels.clone(),
                    renames: self.service_renames.get(&key).cloned().unwrap_or_default(),
                    ..Branch::default()
                });
            }
        }
        match (branches.is_empty(), is_windows) {
            (false, _) => Resolution::Mapped(branches),
            (true, true) => Resolution::UnmappedWindows,
            (true, false) => Resolution::Generic,
        }
    }
}

/// Reads one mapping file; knows its path, to locate errors.
struct Reader<'p> {
    path: &'p Path,
}

impl Reader<'_> {
    /// An error at `line` of the file.
    fn error(&self, line: usize, message: impl Into<String>) -> MappingError {
        MappingError {
            path: self.path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// tocsin's own format (see the module documentation).
    fn tocsin(&self, doc: &Node<'_>) -> Result<LogsourceMapping, MappingError> {
        let product = text(get(doc, "product"))
            .unwrap_or_else(|| "windows".into())
            .to_ascii_lowercase();
        let mut mapping = LogsourceMapping::default();
        for (service, channels) in self.entries(get(doc, "services"), "services")? {
            let channels = strings(Some(channels)).ok_or_else(|| {
                self.error(
                    yaml::line(channels),
                    format!("services.{service}: expected channels"),
                )
            })?;
            mapping
                .services
                .insert((product.clone(), service.to_ascii_lowercase()), channels);
        }
        for (category, alternatives) in self.entries(get(doc, "categories"), "categories")? {
            let items = yaml::sequence(alternatives).ok_or_else(|| {
                self.error(
                    yaml::line(alternatives),
                    format!("categories.{category}: expected a list"),
                )
            })?;
            for alt in items {
                let entry = CategoryEntry {
                    product: Some(product.clone()),
                    service: text(get(alt, "service")),
                    conditions: self.conditions(get(alt, "conditions"))?,
                    renames: self.renames(get(alt, "fieldmappings"))?,
                };
                mapping
                    .categories
                    .entry(category.to_ascii_lowercase())
                    .or_default()
                    .push(entry);
            }
        }
        Ok(mapping)
    }

    /// The sigmac / THOR format: a top-level `logsources:` map.
    fn sigmac(&self, doc: &Node<'_>) -> Result<LogsourceMapping, MappingError> {
        let mut mapping = LogsourceMapping::default();
        for (_, entry) in self.entries(get(doc, "logsources"), "logsources")? {
            let product = text(get(entry, "product")).map(|p| p.to_ascii_lowercase());
            let renames = self.renames(get(entry, "fieldmappings"))?;
            match (text(get(entry, "category")), text(get(entry, "service"))) {
                (Some(category), _) => {
                    let rewrite = get(entry, "rewrite");
                    let entry = CategoryEntry {
                        product: product.or_else(|| text(get(rewrite?, "product"))),
                        service: rewrite.and_then(|r| text(get(r, "service"))),
                        conditions: self.conditions(get(entry, "conditions"))?,
                        renames,
                    };
                    mapping
                        .categories
                        .entry(category.to_ascii_lowercase())
                        .or_default()
                        .push(entry);
                }
                (None, Some(service)) => {
                    let key = (
                        product.unwrap_or_else(|| "windows".into()),
                        service.to_ascii_lowercase(),
                    );
                    add_sigmac_service(&mut mapping, key, entry, renames);
                }
                // Product-wide entries (field renames for a whole product) carry no
                // placement information; they are not needed for placing rules.
                (None, None) => {}
            }
        }
        Ok(mapping)
    }

    /// The entries of an optional map node, keyed by their text.
    fn entries<'n, 'a>(
        &self,
        node: Option<&'n Node<'a>>,
        what: &str,
    ) -> Result<Vec<(String, &'n Node<'a>)>, MappingError> {
        let Some(node) = node else {
            return Ok(Vec::new());
        };
        let map = yaml::mapping(node)
            .ok_or_else(|| self.error(yaml::line(node), format!("{what}: expected a map")))?;
        map.into_iter()
            .map(|(k, v)| {
                text(Some(k))
                    .map(|k| (k, v))
                    .ok_or_else(|| self.error(yaml::line(k), format!("{what}: keys must be text")))
            })
            .collect()
    }

    /// `conditions:`, field → one value or a list of accepted values.
    fn conditions(
        &self,
        node: Option<&Node<'_>>,
    ) -> Result<Vec<(String, Vec<ConditionValue>)>, MappingError> {
        self.entries(node, "conditions")?
            .into_iter()
            .map(|(field, values)| {
                let accepted = match yaml::sequence(values) {
                    Some(items) => items.iter().map(condition_value).collect(),
                    None => condition_value(values).map(|v| vec![v]),
                };
                accepted.map(|v| (field.clone(), v)).ok_or_else(|| {
                    self.error(
                        yaml::line(values),
                        format!("conditions.{field}: expected values"),
                    )
                })
            })
            .collect()
    }

    /// `fieldmappings:`, rule field → event field.
    fn renames(&self, node: Option<&Node<'_>>) -> Result<BTreeMap<String, String>, MappingError> {
        self.entries(node, "fieldmappings")?
            .into_iter()
            .map(|(from, to)| {
                // sigmac allows a list of target names; the first is the Windows field.
                let name = strings(Some(to)).and_then(|v| v.into_iter().next());
                name.map(|name| (from.clone(), name)).ok_or_else(|| {
                    self.error(
                        yaml::line(to),
                        format!("fieldmappings.{from}: expected a name"),
                    )
                })
            })
            .collect()
    }
}

/// Records a sigmac service entry's channels and renames. Only Windows event log sources
/// name channels; file sources (`File:/var/log/syslog`) place nothing in event logs.
fn add_sigmac_service(
    mapping: &mut LogsourceMapping,
    key: (String, String),
    entry: &Node<'_>,
    renames: BTreeMap<String, String>,
) {
    let channels: Vec<String> = strings(get(entry, "sources"))
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.strip_prefix("WinEventLog:"))
        .map(str::to_string)
        .collect();
    if channels.is_empty() {
        return;
    }
    mapping.services.insert(key.clone(), channels);
    if !renames.is_empty() {
        mapping.service_renames.insert(key, renames);
    }
}

/// The value of `key` in a map node (`None` when absent or when `node` is not a map).
fn get<'n, 'a>(node: &'n Node<'a>, key: &str) -> Option<&'n Node<'a>> {
    yaml::mapping(node)?
        .into_iter()
        .find(|(k, _)| yaml::as_str(k) == Some(key))
        .map(|(_, v)| v)
}

/// The text of a string, integer or boolean node.
fn text(node: Option<&Node<'_>>) -> Option<String> {
    match yaml::scalar(node?)? {
        Scalar::String(s) => Some(s.to_string()),
        Scalar::Integer(i) => Some(i.to_string()),
        Scalar::Boolean(b) => Some(b.to_string()),
        Scalar::FloatingPoint(_) | Scalar::Null => None,
    }
}

/// A list of texts, or one text as a list of one.
fn strings(node: Option<&Node<'_>>) -> Option<Vec<String>> {
    let node = node?;
    match yaml::sequence(node) {
        Some(items) => items.iter().map(|i| text(Some(i))).collect(),
        None => text(Some(node)).map(|s| vec![s]),
    }
}

fn condition_value(node: &Node<'_>) -> Option<ConditionValue> {
    match yaml::scalar(node)? {
        Scalar::Integer(i) => Some(ConditionValue::Int(*i)),
        _ => text(Some(node)).map(ConditionValue::Text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LogsourceMapping, MappingError> {
        LogsourceMapping::from_yaml(text, Path::new("m.yml"))
    }

    fn ls(category: Option<&str>, product: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource {
            category: category.map(str::to_string),
            product: product.map(str::to_string),
            service: service.map(str::to_string),
            ..LogSource::default()
        }
    }

    #[test]
    fn builtin_parses_and_maps_process_creation_to_sysmon_and_security() {
        let mapping = parse(BUILTIN_WINDOWS_MAPPING).expect("builtin parses");
        let Resolution::Mapped(branches) =
            mapping.resolve(&ls(Some("process_creation"), Some("windows"), None))
        else {
            panic!("process_creation must be mapped");
        };
        assert_eq!(branches.len(), 2);
        assert_eq!(
            branches[0].channels,
            ["Microsoft-Windows-Sysmon/Operational"]
        );
        assert_eq!(branches[0].event_ids(), [1]);
        assert_eq!(branches[1].channels, ["Security"]);
        assert_eq!(branches[1].event_ids(), [4688]);
        assert_eq!(
            branches[1].renames.get("Image").map(String::as_str),
            Some("NewProcessName")
        );
    }

    #[test]
    fn service_only_rules_map_to_channels() {
        let mapping = LogsourceMapping::builtin();
        let Resolution::Mapped(branches) =
            mapping.resolve(&ls(None, Some("windows"), Some("security")))
        else {
            panic!("security must be mapped");
        };
        assert_eq!(branches[0].channels, ["Security"]);
        assert!(branches[0].conditions.is_empty());
    }

    #[test]
    fn unknown_windows_and_other_products() {
        let mapping = LogsourceMapping::builtin();
        assert_eq!(
            mapping.resolve(&ls(None, Some("windows"), Some("no-such-service"))),
            Resolution::UnmappedWindows
        );
        assert_eq!(
            mapping.resolve(&ls(Some("process_creation"), Some("linux"), None)),
            Resolution::Generic
        );
    }

    #[test]
    fn the_windows_product_alone_is_every_windows_log() {
        let mapping = LogsourceMapping::builtin();
        assert_eq!(
            mapping.resolve(&ls(None, Some("Windows"), None)),
            Resolution::AllWindows
        );
        // Any narrowing the mapping does not know still places nothing.
        assert_eq!(
            mapping.resolve(&ls(Some("no_such_category"), Some("windows"), None)),
            Resolution::UnmappedWindows
        );
    }

    #[test]
    fn sigmac_format_is_understood() {
        let text = r#"
logsources:
    pc:
        category: process_creation
        product: windows
        conditions:
            EventID: 4688
        rewrite:
            product: windows
            service: security
        fieldmappings:
            Image: NewProcessName
    sec:
        product: windows
        service: security
        sources:
            - 'WinEventLog:Security'
"#;
        let mapping = parse(text).expect("parses");
        let Resolution::Mapped(branches) =
            mapping.resolve(&ls(Some("process_creation"), Some("windows"), None))
        else {
            panic!("mapped");
        };
        assert_eq!(branches[0].channels, ["Security"]);
        assert_eq!(branches[0].event_ids(), [4688]);
    }

    #[test]
    fn malformed_mapping_is_an_error() {
        assert!(parse("services: [a, b]").is_err());
        assert!(parse("categories:\n  x: 3\n").is_err());
        assert!(parse(": : :\n - [").is_err());
        assert!(parse("").is_err());
        assert!(parse("- a\n").is_err());
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let error = parse("product: windows\ncategories:\n  x: 3\n").unwrap_err();
        assert_eq!((error.path.as_path(), error.line), (Path::new("m.yml"), 3));
        assert_eq!(
            error.to_string(),
            "m.yml:3: logsource mapping: categories.x: expected a list"
        );
        let error = parse("services:\n  sysmon:\n    - [a]\n").unwrap_err();
        assert_eq!(error.line, 3, "{error}");
        assert!(parse("").unwrap_err().to_string().starts_with("m.yml: "));
    }

    #[test]
    fn deep_nesting_is_refused_with_its_line_not_a_stack_overflow() {
        let text = format!(
            "product: windows\nservices:\n  x:\n    {}x\n",
            "- ".repeat(100_000)
        );
        let error = parse(&text).unwrap_err();
        assert_eq!(error.line, 4);
        assert!(error.message.contains("nested too deeply"), "{error}");
    }
}
