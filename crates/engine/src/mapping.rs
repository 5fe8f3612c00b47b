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

use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};
use tocsin_sigma::ast::LogSource;

/// The built-in Windows mapping, equivalent to the one SigmaHQ's CI uses.
pub const BUILTIN_WINDOWS_MAPPING: &str = include_str!("../mapping/windows.yml");

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
    /// A Windows logsource the mapping does not know: the rule can never be placed.
    UnmappedWindows,
    /// A logsource of another product; the rule applies to events that carry no channel.
    Generic,
}

/// An error in a mapping file.
#[derive(Debug, thiserror::Error)]
#[error("logsource mapping: {0}")]
pub struct MappingError(String);

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
        Self::from_yaml(BUILTIN_WINDOWS_MAPPING).unwrap_or_default()
    }

    /// Parses a mapping in either supported format.
    pub fn from_yaml(text: &str) -> Result<Self, MappingError> {
        let docs = YamlOwned::load_from_str(text).map_err(|e| MappingError(e.to_string()))?;
        let doc = docs
            .into_iter()
            .next()
            .ok_or_else(|| MappingError("empty document".into()))?;
        if doc.contains_mapping_key("logsources") {
            Self::from_sigmac(&doc)
        } else {
            Self::from_tocsin(&doc)
        }
    }

    /// Adds every entry of `other`, which wins where both define the same thing.
    pub fn extend(&mut self, other: LogsourceMapping) {
        self.services.extend(other.services);
        self.categories.extend(other.categories);
        self.service_renames.extend(other.service_renames);
    }

    fn from_tocsin(doc: &YamlOwned) -> Result<Self, MappingError> {
        let product = text(doc.as_mapping_get("product"))
            .unwrap_or_else(|| "windows".into())
            .to_ascii_lowercase();
        let mut mapping = LogsourceMapping::default();
        for (service, channels) in entries(doc.as_mapping_get("services"), "services")? {
            let channels = strings(Some(channels))
                .ok_or_else(|| MappingError(format!("services.{service}: expected channels")))?;
            mapping
                .services
                .insert((product.clone(), service.to_ascii_lowercase()), channels);
        }
        for (category, alternatives) in entries(doc.as_mapping_get("categories"), "categories")? {
            let alternatives = alternatives
                .as_vec()
                .ok_or_else(|| MappingError(format!("categories.{category}: expected a list")))?;
            for alt in alternatives {
                let entry = CategoryEntry {
                    product: Some(product.clone()),
                    service: text(alt.as_mapping_get("service")),
                    conditions: conditions(alt.as_mapping_get("conditions"))?,
                    renames: renames(alt.as_mapping_get("fieldmappings"))?,
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

    fn from_sigmac(doc: &YamlOwned) -> Result<Self, MappingError> {
        let mut mapping = LogsourceMapping::default();
        for (name, entry) in entries(doc.as_mapping_get("logsources"), "logsources")? {
            let product = text(entry.as_mapping_get("product")).map(|p| p.to_ascii_lowercase());
            let category = text(entry.as_mapping_get("category"));
            let service = text(entry.as_mapping_get("service"));
            let rewrite = entry.as_mapping_get("rewrite");
            let renames = renames(entry.as_mapping_get("fieldmappings"))?;
            match (category, service) {
                (Some(category), _) => {
                    let entry = CategoryEntry {
                        product: product.or_else(|| text(rewrite?.as_mapping_get("product"))),
                        service: rewrite.and_then(|r| text(r.as_mapping_get("service"))),
                        conditions: conditions(entry.as_mapping_get("conditions"))?,
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
                    // Only Windows event log sources name channels; file sources
                    // (`File:/var/log/syslog`) place nothing in event logs.
                    let channels: Vec<String> = strings(entry.as_mapping_get("sources"))
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|s| s.strip_prefix("WinEventLog:"))
                        .map(str::to_string)
                        .collect();
                    if channels.is_empty() {
                        continue;
                    }
                    mapping.services.insert(key.clone(), channels);
                    if !renames.is_empty() {
                        mapping.service_renames.insert(key, renames);
                    }
                }
                (None, None) => {
                    // Product-wide entries (field renames for a whole product) carry no
                    // placement information; they are not needed for placing rules.
                    let _ = name;
                }
            }
        }
        Ok(mapping)
    }

    /// Where a rule with logsource `ls` can match.
    pub fn resolve(&self, ls: &LogSource) -> Resolution {
        let product = ls.product.as_deref().map(str::to_ascii_lowercase);
        let is_windows = product.as_deref() == Some("windows");
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

fn text(node: Option<&YamlOwned>) -> Option<String> {
    match node? {
        YamlOwned::Value(ScalarOwned::String(s)) => Some(s.clone()),
        YamlOwned::Value(ScalarOwned::Integer(i)) => Some(i.to_string()),
        YamlOwned::Value(ScalarOwned::Boolean(b)) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(node: Option<&YamlOwned>) -> Option<Vec<String>> {
    match node? {
        YamlOwned::Sequence(items) => items.iter().map(|i| text(Some(i))).collect(),
        single => text(Some(single)).map(|s| vec![s]),
    }
}

fn entries<'a>(
    node: Option<&'a YamlOwned>,
    what: &str,
) -> Result<Vec<(String, &'a YamlOwned)>, MappingError> {
    let Some(node) = node else {
        return Ok(Vec::new());
    };
    let map = node
        .as_mapping()
        .ok_or_else(|| MappingError(format!("{what}: expected a map")))?;
    map.iter()
        .map(|(k, v)| {
            text(Some(k))
                .map(|k| (k, v))
                .ok_or_else(|| MappingError(format!("{what}: keys must be text")))
        })
        .collect()
}

fn conditions(
    node: Option<&YamlOwned>,
) -> Result<Vec<(String, Vec<ConditionValue>)>, MappingError> {
    entries(node, "conditions")?
        .into_iter()
        .map(|(field, values)| {
            let values = match values {
                YamlOwned::Sequence(items) => items.iter().map(condition_value).collect(),
                single => condition_value(single).map(|v| vec![v]),
            };
            values
                .map(|v| (field.clone(), v))
                .ok_or_else(|| MappingError(format!("conditions.{field}: expected values")))
        })
        .collect()
}

fn condition_value(node: &YamlOwned) -> Option<ConditionValue> {
    match node {
        YamlOwned::Value(ScalarOwned::Integer(i)) => Some(ConditionValue::Int(*i)),
        other => text(Some(other)).map(ConditionValue::Text),
    }
}

fn renames(node: Option<&YamlOwned>) -> Result<BTreeMap<String, String>, MappingError> {
    entries(node, "fieldmappings")?
        .into_iter()
        .map(|(from, to)| {
            // sigmac allows a list of target names; the first is the Windows field.
            let to = strings(Some(to)).and_then(|v| v.into_iter().next());
            to.map(|to| (from.clone(), to))
                .ok_or_else(|| MappingError(format!("fieldmappings.{from}: expected a name")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mapping = LogsourceMapping::from_yaml(BUILTIN_WINDOWS_MAPPING).expect("builtin parses");
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
        let mapping = LogsourceMapping::from_yaml(text).expect("parses");
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
        assert!(LogsourceMapping::from_yaml("services: [a, b]").is_err());
        assert!(LogsourceMapping::from_yaml("categories:\n  x: 3\n").is_err());
        assert!(LogsourceMapping::from_yaml(": : :\n - [").is_err());
    }
}
