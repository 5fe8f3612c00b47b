//! MITRE ATT&CK: reading rule tags (`attack.execution`, `attack.t1059.001`) and naming and
//! ordering them with the ATT&CK catalogue.
//!
//! [`AttackCatalog::load`] reads the STIX 2.0 objects of an `enterprise-attack` folder (one
//! object per file): tactics from `x-mitre-tactic/` (shortname, `TA` id, name), their
//! kill-chain order from the `tactic_refs` of the matrix in `x-mitre-matrix/`, techniques and
//! sub-techniques from `attack-pattern/` (id, name, tactics from `kill_chain_phases`). A file
//! that cannot be read or parsed is skipped with a warning ([`AttackCatalog::warnings`]); only
//! an unreadable folder or a missing matrix fails the load. [`AttackCatalog::empty`] knows
//! nothing and still works: tags are then shown as written, in alphabetical order.
//!
//! Tags the catalogue does not know (newer ATT&CK releases, such as `attack.stealth`) are
//! never an error: they are kept as written, after the known tactics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::alert::Alert;
use crate::error::AttackError;

/// One ATT&CK tactic as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TacticInfo {
    /// The Sigma tag form, such as `execution`.
    pub shortname: String,
    /// The ATT&CK id, such as `TA0002`.
    pub id: String,
    /// The display name, such as `Execution`.
    pub name: String,
    /// The position in the matrix's kill chain (0 = first), if the matrix lists it.
    pub order: Option<usize>,
}

/// One ATT&CK technique or sub-technique as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechniqueInfo {
    /// The id in upper case, such as `T1059.001`.
    pub id: String,
    /// The display name, such as `PowerShell`.
    pub name: String,
    /// The tactics (shortnames) the technique serves.
    pub tactics: Vec<String>,
    /// Whether ATT&CK revoked or deprecated it.
    pub retired: bool,
}

/// What an `attack.*` tag refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttackTag {
    /// A tactic, by shortname with `_` turned into `-` (`defense_evasion` is
    /// `defense-evasion`).
    Tactic(String),
    /// A technique or sub-technique id in upper case (`T1059.001`).
    Technique(String),
    /// Another ATT&CK reference: a group (`G0001`), software (`S0001`), mitigation
    /// (`M1234`) or data source (`DS0001`), in upper case.
    Reference(String),
}

/// Reads a rule tag; `None` when it is not an `attack.` tag.
pub fn parse_tag(tag: &str) -> Option<AttackTag> {
    let rest = tag.trim().strip_prefix("attack.")?.to_ascii_lowercase();
    if rest.is_empty() {
        return None;
    }
    if is_technique_id(&rest) {
        return Some(AttackTag::Technique(rest.to_ascii_uppercase()));
    }
    let digits_after = |prefix: &str| {
        rest.strip_prefix(prefix)
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    if ["g", "s", "m", "ds"].iter().any(|p| digits_after(p)) {
        return Some(AttackTag::Reference(rest.to_ascii_uppercase()));
    }
    Some(AttackTag::Tactic(rest.replace('_', "-")))
}

/// `t` followed by four digits, optionally `.` and three digits.
fn is_technique_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('t') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    digits(main, 4) && (sub.is_empty() || digits(sub, 3))
}

/// The tactics and techniques ATT&CK knows, loaded from its STIX files (or empty).
#[derive(Debug, Clone, Default)]
pub struct AttackCatalog {
    tactics: HashMap<String, TacticInfo>,
    techniques: HashMap<String, TechniqueInfo>,
    warnings: Vec<String>,
}

impl AttackCatalog {
    /// A catalogue that knows nothing: tags are shown as written.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Loads the `enterprise-attack` folder `dir` (see the module documentation).
    pub fn load(dir: &Path) -> Result<Self, AttackError> {
        let mut catalog = Self::default();
        let mut tactic_ids = HashMap::new();
        for object in catalog.objects(dir, "x-mitre-tactic")? {
            if let Some(tactic) = tactic_from(&object) {
                if let Some(stix_id) = object.get("id").and_then(Json::as_str) {
                    tactic_ids.insert(stix_id.to_owned(), tactic.shortname.clone());
                }
                catalog.tactics.insert(tactic.shortname.clone(), tactic);
            }
        }
        let order = catalog
            .objects(dir, "x-mitre-matrix")?
            .iter()
            .find_map(|matrix| matrix.get("tactic_refs").and_then(Json::as_array).cloned())
            .ok_or_else(|| AttackError::NoMatrix {
                path: dir.to_path_buf(),
            })?;
        for (position, stix_id) in order.iter().filter_map(Json::as_str).enumerate() {
            let tactic = tactic_ids
                .get(stix_id)
                .and_then(|shortname| catalog.tactics.get_mut(shortname));
            if let Some(tactic) = tactic {
                tactic.order = Some(position);
            }
        }
        for object in catalog.objects(dir, "attack-pattern")? {
            if let Some(technique) = technique_from(&object) {
                catalog.techniques.insert(technique.id.clone(), technique);
            }
        }
        Ok(catalog)
    }

    /// The files that were skipped while loading, each with its path and reason.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The tactic with this shortname (`execution`), if known.
    pub fn tactic(&self, shortname: &str) -> Option<&TacticInfo> {
        self.tactics.get(shortname)
    }

    /// The technique with this id (`T1059.001`, any case), if known.
    pub fn technique(&self, id: &str) -> Option<&TechniqueInfo> {
        self.techniques.get(&id.to_ascii_uppercase())
    }

    /// How many tactics and techniques are known.
    pub fn len(&self) -> (usize, usize) {
        (self.tactics.len(), self.techniques.len())
    }

    /// Whether the catalogue knows nothing (as [`AttackCatalog::empty`]).
    pub fn is_empty(&self) -> bool {
        self.tactics.is_empty() && self.techniques.is_empty()
    }

    /// The ATT&CK picture of a set of alerts: tactics in kill-chain order (unknown ones after,
    /// alphabetically), techniques by id, other references. A tactic counts the alerts tagged
    /// with it; an alert tagged with techniques but no tactic counts for its techniques'
    /// tactics as the catalogue gives them.
    pub fn summarise<'a>(&self, alerts: impl IntoIterator<Item = &'a Alert>) -> AttackSummary {
        let mut tactics: BTreeMap<String, usize> = BTreeMap::new();
        let mut techniques: BTreeMap<String, usize> = BTreeMap::new();
        let mut references = BTreeSet::new();
        for alert in alerts {
            let mut alert_tactics = BTreeSet::new();
            let mut alert_techniques = BTreeSet::new();
            for tag in alert.rule.tags.iter().filter_map(|t| parse_tag(t)) {
                match tag {
                    AttackTag::Tactic(name) => {
                        alert_tactics.insert(name);
                    }
                    AttackTag::Technique(id) => {
                        alert_techniques.insert(id);
                    }
                    AttackTag::Reference(id) => {
                        references.insert(id);
                    }
                }
            }
            if alert_tactics.is_empty() {
                alert_tactics = alert_techniques
                    .iter()
                    .filter_map(|id| self.technique(id))
                    .flat_map(|t| t.tactics.iter().cloned())
                    .collect();
            }
            for name in alert_tactics {
                *tactics.entry(name).or_default() += 1;
            }
            for id in alert_techniques {
                *techniques.entry(id).or_default() += 1;
            }
        }
        AttackSummary {
            tactics: self.tactic_hits(tactics),
            techniques: self.technique_hits(techniques),
            references: references.into_iter().collect(),
        }
    }

    fn tactic_hits(&self, counts: BTreeMap<String, usize>) -> Vec<TacticHit> {
        let mut hits: Vec<TacticHit> = counts
            .into_iter()
            .map(|(shortname, alerts)| {
                let info = self.tactic(&shortname);
                TacticHit {
                    id: info.map(|t| t.id.clone()),
                    name: info.map(|t| t.name.clone()),
                    order: info.and_then(|t| t.order),
                    shortname,
                    alerts,
                }
            })
            .collect();
        hits.sort_by(|a, b| {
            let rank = |h: &TacticHit| h.order.unwrap_or(usize::MAX);
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.shortname.cmp(&b.shortname))
        });
        hits
    }

    fn technique_hits(&self, counts: BTreeMap<String, usize>) -> Vec<TechniqueHit> {
        counts
            .into_iter()
            .map(|(id, alerts)| {
                let info = self.technique(&id);
                let parent = id
                    .split_once('.')
                    .and_then(|(parent, _)| self.technique(parent))
                    .map(|p| p.name.clone());
                TechniqueHit {
                    name: info.map(|t| t.name.clone()),
                    parent_name: parent,
                    tactics: info.map(|t| t.tactics.clone()).unwrap_or_default(),
                    id,
                    alerts,
                }
            })
            .collect()
    }

    /// The objects of every `*.json` file in `dir/folder`, in file-name order; unreadable
    /// files become warnings.
    fn objects(&mut self, dir: &Path, folder: &str) -> Result<Vec<Json>, AttackError> {
        let path = dir.join(folder);
        let read_error = |source| AttackError::ReadDir {
            path: path.clone(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(read_error)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        let mut objects = Vec::new();
        for file in files {
            match read_bundle(&file) {
                Ok(found) => objects.extend(found),
                Err(reason) => self
                    .warnings
                    .push(format!("{}: skipped: {reason}", file.display())),
            }
        }
        Ok(objects)
    }
}

/// The objects of one STIX bundle file.
fn read_bundle(file: &Path) -> Result<Vec<Json>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let bundle: Json = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    match bundle.get("objects").and_then(Json::as_array) {
        Some(objects) => Ok(objects.clone()),
        None => Err("not a STIX bundle (no `objects` array)".to_owned()),
    }
}

/// The `mitre-attack` external id of an object (`TA0002`, `T1059.001`).
fn attack_id(object: &Json) -> Option<String> {
    object
        .get("external_references")?
        .as_array()?
        .iter()
        .find(|r| r.get("source_name").and_then(Json::as_str) == Some("mitre-attack"))?
        .get("external_id")?
        .as_str()
        .map(str::to_owned)
}

fn text_of(object: &Json, key: &str) -> Option<String> {
    object.get(key).and_then(Json::as_str).map(str::to_owned)
}

fn flag(object: &Json, key: &str) -> bool {
    object.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn tactic_from(object: &Json) -> Option<TacticInfo> {
    if object.get("type").and_then(Json::as_str) != Some("x-mitre-tactic") {
        return None;
    }
    Some(TacticInfo {
        shortname: text_of(object, "x_mitre_shortname")?,
        id: attack_id(object)?,
        name: text_of(object, "name")?,
        order: None,
    })
}

fn technique_from(object: &Json) -> Option<TechniqueInfo> {
    if object.get("type").and_then(Json::as_str) != Some("attack-pattern") {
        return None;
    }
    let tactics = object
        .get("kill_chain_phases")
        .and_then(Json::as_array)
        .map(|phases| {
            phases
                .iter()
                .filter(|p| p.get("kill_chain_name").and_then(Json::as_str) == Some("mitre-attack"))
                .filter_map(|p| text_of(p, "phase_name"))
                .collect()
        })
        .unwrap_or_default();
    Some(TechniqueInfo {
        id: attack_id(object)?.to_ascii_uppercase(),
        name: text_of(object, "name")?,
        tactics,
        retired: flag(object, "revoked") || flag(object, "x_mitre_deprecated"),
    })
}

/// The ATT&CK picture of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttackSummary {
    /// Tactics in kill-chain order, unknown ones last.
    pub tactics: Vec<TacticHit>,
    /// Techniques and sub-techniques by id.
    pub techniques: Vec<TechniqueHit>,
    /// Groups, software, mitigations and data sources named by tags (`G0016`).
    pub references: Vec<String>,
}

/// A tactic seen in an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TacticHit {
    /// The tag form (`execution`, or an unknown one such as `stealth`, kept as written).
    pub shortname: String,
    /// The ATT&CK id, when the catalogue knows the tactic.
    pub id: Option<String>,
    /// The display name, when the catalogue knows the tactic.
    pub name: Option<String>,
    /// The kill-chain position, when the catalogue knows it.
    pub order: Option<usize>,
    /// How many alerts of the incident show this tactic.
    pub alerts: usize,
}

impl TacticHit {
    /// The display name, or the tag form when unknown.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.shortname)
    }
}

/// A technique seen in an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechniqueHit {
    /// The id in upper case (`T1059.001`).
    pub id: String,
    /// The display name, when the catalogue knows it.
    pub name: Option<String>,
    /// The parent technique's name, for a known sub-technique.
    pub parent_name: Option<String>,
    /// The tactics (shortnames) the catalogue files it under.
    pub tactics: Vec<String>,
    /// How many alerts of the incident are tagged with it.
    pub alerts: usize,
}

impl TechniqueHit {
    /// `Command and Scripting Interpreter: PowerShell`, the name alone, or the id when unknown.
    pub fn label(&self) -> String {
        match (&self.parent_name, &self.name) {
            (Some(parent), Some(name)) => format!("{parent}: {name}"),
            (None, Some(name)) => name.clone(),
            _ => self.id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertKind, AlertOrigin, RuleRef};

    fn tagged(tags: &[&str]) -> Alert {
        let rule = RuleRef {
            id: tags.join(","),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..RuleRef::default()
        };
        Alert::new(
            AlertKind::Sigma,
            rule,
            AlertOrigin::default(),
            None,
            vec![],
            vec![],
        )
    }

    fn real_catalog() -> Option<AttackCatalog> {
        let dir = tocsin_testdata::shared_path("attack/mitre-cti/enterprise-attack")?;
        match AttackCatalog::load(&dir) {
            Ok(catalog) => Some(catalog),
            Err(error) => panic!("the shared ATT&CK data must load: {error}"),
        }
    }

    #[test]
    fn tags_are_classified() {
        assert_eq!(
            parse_tag("attack.t1059.001"),
            Some(AttackTag::Technique("T1059.001".into()))
        );
        assert_eq!(
            parse_tag("attack.T1003"),
            Some(AttackTag::Technique("T1003".into()))
        );
        assert_eq!(
            parse_tag("attack.defense_evasion"),
            Some(AttackTag::Tactic("defense-evasion".into()))
        );
        assert_eq!(
            parse_tag("attack.g0016"),
            Some(AttackTag::Reference("G0016".into()))
        );
        assert_eq!(
            parse_tag("attack.ds0005"),
            Some(AttackTag::Reference("DS0005".into()))
        );
        assert_eq!(
            parse_tag("attack.t10"),
            Some(AttackTag::Tactic("t10".into()))
        );
        assert_eq!(parse_tag("cve.2021-44228"), None);
        assert_eq!(parse_tag("attack."), None);
    }

    #[test]
    fn empty_catalog_keeps_tags_as_written_in_alphabetical_order() {
        let alerts = [tagged(&[
            "attack.stealth",
            "attack.execution",
            "attack.t1059.001",
        ])];
        let summary = AttackCatalog::empty().summarise(&alerts);
        let names: Vec<_> = summary
            .tactics
            .iter()
            .map(|t| t.label().to_owned())
            .collect();
        assert_eq!(names, ["execution", "stealth"]);
        assert_eq!(summary.techniques[0].label(), "T1059.001");
    }

    #[test]
    fn real_catalog_orders_tactics_along_the_kill_chain() {
        let Some(catalog) = real_catalog() else {
            return;
        };
        assert!(catalog.warnings().is_empty(), "{:?}", catalog.warnings());
        assert_eq!(catalog.len().0, 14);
        let alerts = [
            tagged(&["attack.exfiltration"]),
            tagged(&["attack.stealth"]),
            tagged(&["attack.execution", "attack.t1059.001"]),
            tagged(&["attack.initial_access"]),
            tagged(&["attack.reconnaissance"]),
        ];
        let summary = catalog.summarise(&alerts);
        let names: Vec<_> = summary
            .tactics
            .iter()
            .map(|t| t.label().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "Reconnaissance",
                "Initial Access",
                "Execution",
                "Exfiltration",
                "stealth"
            ]
        );
        assert_eq!(summary.tactics[2].id.as_deref(), Some("TA0002"));
        assert_eq!(summary.tactics[4].order, None);
        let technique = &summary.techniques[0];
        assert_eq!(
            technique.label(),
            "Command and Scripting Interpreter: PowerShell"
        );
        assert_eq!(technique.tactics, ["execution"]);
    }

    #[test]
    fn technique_without_tactic_tag_counts_for_its_tactic() {
        let Some(catalog) = real_catalog() else {
            return;
        };
        let summary = catalog.summarise(&[tagged(&["attack.t1003.001"])]);
        let names: Vec<_> = summary
            .tactics
            .iter()
            .map(|t| t.shortname.as_str())
            .collect();
        assert_eq!(names, ["credential-access"]);
    }

    #[test]
    fn bad_files_become_warnings_and_a_missing_matrix_fails() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        for folder in ["x-mitre-tactic", "x-mitre-matrix", "attack-pattern"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
        }
        std::fs::write(dir.join("x-mitre-tactic/bad.json"), "{ not json").unwrap();
        let error = AttackCatalog::load(dir).unwrap_err();
        assert!(error.to_string().contains("x-mitre-matrix"), "{error}");
        std::fs::write(
            dir.join("x-mitre-matrix/m.json"),
            r#"{"objects":[{"type":"x-mitre-matrix","tactic_refs":[]}]}"#,
        )
        .unwrap();
        let catalog = AttackCatalog::load(dir).unwrap();
        assert_eq!(catalog.warnings().len(), 1);
        assert!(catalog.warnings()[0].contains("bad.json"));
    }
}
