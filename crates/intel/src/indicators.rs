//! [`IndicatorSet`]: the indicators of STIX objects that are in force, compiled for
//! matching.
//!
//! Of each indicator only the latest version (by `modified`) counts; it is dropped when
//! `revoked`, or when its `valid_until` has passed as of the time the caller gives (the
//! time of the hunt, never the time of the events: hunting old logs with fresh intel must
//! still match), and a long-running matcher stops matching it once that time passes. An
//! indicator is its id *and* its creator (`created_by_ref`): only the creator may version
//! or revoke an object (STIX 2.1, 3.6), so another source's object with the same id is
//! another indicator and never revokes or relabels it. The producer is the `name` of the
//! `identity` its `created_by_ref` names, read from the same file when it holds one (one
//! source cannot rename another's producer), else from any file that agrees.
//! `pattern_type: stix` patterns that one event can satisfy are compiled into the
//! [`Matcher`]; every other one is listed in [`IndicatorSet::skipped`] with its reason.
//! `pattern_type: sigma` indicators are kept as rule texts ([`SigmaIndicator`]) for the
//! rule loader.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tocsin_event::Event;

use crate::compile::compile;
use crate::load::{read_path, read_text, IntelError, Located};
use crate::matcher::{Hit, Matcher};
use crate::pattern::parse;

/// A compiled indicator: what its detections show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// The STIX id (`indicator--…`).
    pub id: String,
    /// Its `name`, else its pattern.
    pub name: String,
    /// The `name` of the identity that created it, when known.
    pub producer: Option<String>,
    /// Its `confidence` (0–100), when stated.
    pub confidence: Option<u8>,
    /// The pattern.
    pub pattern: String,
    /// The phases of its `kill_chain_phases` in the `mitre-attack` kill chain.
    pub attack_phases: Vec<String>,
    /// The ATT&CK ids (`T1078`, `T1078.004`) of its external references.
    pub attack_ids: Vec<String>,
    /// The file it was read from.
    pub source: PathBuf,
    /// When it stops being in force (`valid_until`, microseconds since 1970), if ever.
    pub valid_until_micros: Option<i64>,
}

/// An indicator whose pattern is a Sigma rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigmaIndicator {
    /// What an ordinary indicator holds (the pattern is the rule's YAML text).
    pub indicator: Indicator,
}

/// An indicator in force that is not matched, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The STIX id.
    pub id: String,
    /// Its name, else its pattern.
    pub name: String,
    /// The file it was read from.
    pub source: PathBuf,
    /// Why (`FOLLOWEDBY needs a sequence of events`, `invalid pattern: column 3: …`).
    pub reason: String,
}

/// How many indicators were read and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndicatorCounts {
    /// Objects read, of any type.
    pub objects: usize,
    /// Distinct indicator ids (older versions not counted).
    pub indicators: usize,
    /// Left out: their latest version is revoked.
    pub revoked: usize,
    /// Left out: their `valid_until` has passed.
    pub expired: usize,
}

/// The indicators in force, compiled (see the module documentation).
#[derive(Debug, Default)]
pub struct IndicatorSet {
    indicators: Vec<Indicator>,
    matcher: Matcher,
    sigma: Vec<SigmaIndicator>,
    skipped: Vec<Skipped>,
    errors: Vec<IntelError>,
    counts: IndicatorCounts,
    /// Whether any compiled indicator has a `valid_until` (the clock is read only then).
    expires: bool,
}

impl IndicatorSet {
    /// The indicators of every file under `paths` (files or folders), in force at
    /// `now_micros` (microseconds since 1970). Problems are listed in
    /// [`IndicatorSet::errors`]; they never stop the others.
    pub fn load(paths: &[PathBuf], now_micros: i64) -> IndicatorSet {
        let mut builder = IndicatorSetBuilder::default();
        for path in paths {
            builder.add_path(path);
        }
        builder.build(now_micros)
    }

    /// The compiled indicators; a [`Hit`]'s `indicator` indexes this.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// The Sigma indicators, for the rule loader.
    pub fn sigma(&self) -> &[SigmaIndicator] {
        &self.sigma
    }

    /// The indicators in force that are not matched, with their reasons.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Files and objects that could not be read.
    pub fn errors(&self) -> &[IntelError] {
        &self.errors
    }

    /// What was read and left out.
    pub fn counts(&self) -> IndicatorCounts {
        self.counts
    }

    /// Whether nothing would match and no rule comes of it.
    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty() && self.sigma.is_empty()
    }

    /// The indicators `event` matches now, each once (see [`crate::matcher`]): an
    /// indicator whose `valid_until` passed since the set was built matches no more.
    pub fn matches<'e>(&self, event: &'e Event) -> Vec<Hit<'e>> {
        let hits = self.all_matches(event);
        match hits.is_empty() || !self.expires {
            true => hits,
            false => self.in_force_at(hits, chrono::Utc::now().timestamp_micros()),
        }
    }

    /// [`IndicatorSet::matches`] as of `now_micros`.
    pub fn matches_at<'e>(&self, event: &'e Event, now_micros: i64) -> Vec<Hit<'e>> {
        self.in_force_at(self.all_matches(event), now_micros)
    }

    /// What the matcher finds, expired or not.
    fn all_matches<'e>(&self, event: &'e Event) -> Vec<Hit<'e>> {
        match self.matcher.is_empty() {
            true => Vec::new(),
            false => self.matcher.matches(event),
        }
    }

    /// `hits` without those of indicators expired at `now_micros`.
    fn in_force_at<'e>(&self, mut hits: Vec<Hit<'e>>, now_micros: i64) -> Vec<Hit<'e>> {
        hits.retain(|hit| self.in_force(hit.indicator, now_micros));
        hits
    }

    /// Whether the indicator at `index` is still in force at `now_micros`.
    fn in_force(&self, index: usize, now_micros: i64) -> bool {
        self.indicators
            .get(index)
            .and_then(|indicator| indicator.valid_until_micros)
            .is_none_or(|until| until > now_micros)
    }
}

/// One version of an indicator, as read.
struct Version {
    indicator: Indicator,
    modified: i64,
    revoked: bool,
    valid_until: Option<i64>,
    pattern_type: String,
    created_by: Option<String>,
}

/// An indicator's key: its id and its creator's (only the creator may version it).
type IndicatorKey = (String, Option<String>);

/// Gathers objects from several sources, then builds the set.
#[derive(Default)]
pub struct IndicatorSetBuilder {
    /// Identity names by id, then by the file that gave them.
    identities: HashMap<String, BTreeMap<PathBuf, String>>,
    latest: BTreeMap<IndicatorKey, Version>,
    errors: Vec<IntelError>,
    objects: usize,
}

impl IndicatorSetBuilder {
    /// Reads the objects of a file, or of every `*.json`/`*.jsonl` file under a folder.
    pub fn add_path(&mut self, path: &Path) {
        let mut errors = Vec::new();
        read_path(path, &mut |located| self.add(located), &mut errors);
        self.errors.extend(errors);
    }

    /// Reads the objects of one text (a bundle, an array, an object or JSON Lines);
    /// `path` names it in errors.
    pub fn add_text(&mut self, text: &str, path: &Path) {
        let mut errors = Vec::new();
        read_text(text, path, &mut |located| self.add(located), &mut errors);
        self.errors.extend(errors);
    }

    fn add(&mut self, located: Located) {
        self.objects += 1;
        let object = &located.object;
        match object.get("type").and_then(Value::as_str) {
            Some("identity") => {
                let id = object.get("id").and_then(Value::as_str);
                let name = object.get("name").and_then(Value::as_str);
                if let (Some(id), Some(name)) = (id, name) {
                    self.identities
                        .entry(id.to_owned())
                        .or_default()
                        .insert(located.path.clone(), name.to_owned());
                }
            }
            Some("indicator") => match version(&located) {
                Ok(version) => self.keep_latest(version),
                Err(message) => self.errors.push(located.error(message)),
            },
            Some(_) => {}
            None => self.errors.push(located.error("no type")),
        }
    }

    fn keep_latest(&mut self, version: Version) {
        let key = (version.indicator.id.clone(), version.created_by.clone());
        let newer = self
            .latest
            .get(&key)
            .is_none_or(|kept| version.modified >= kept.modified);
        if newer {
            self.latest.insert(key, version);
        }
    }

    /// The name of the identity `id` for an object read from `source`: the one that file
    /// gives, else the one every file that names it agrees on.
    fn producer(&self, id: &str, source: &Path) -> Option<String> {
        let names = self.identities.get(id)?;
        if let Some(name) = names.get(source) {
            return Some(name.clone());
        }
        let mut distinct = names.values();
        let first = distinct.next()?;
        distinct.all(|name| name == first).then(|| first.clone())
    }

    /// The set in force at `now_micros`.
    pub fn build(mut self, now_micros: i64) -> IndicatorSet {
        let mut set = IndicatorSet {
            errors: std::mem::take(&mut self.errors),
            counts: IndicatorCounts {
                objects: self.objects,
                indicators: self.latest.len(),
                ..IndicatorCounts::default()
            },
            ..IndicatorSet::default()
        };
        let latest = std::mem::take(&mut self.latest);
        for (_, mut version) in latest {
            if version.revoked {
                set.counts.revoked += 1;
                continue;
            }
            if version.valid_until.is_some_and(|until| until <= now_micros) {
                set.counts.expired += 1;
                continue;
            }
            version.indicator.producer = version
                .created_by
                .as_deref()
                .and_then(|id| self.producer(id, &version.indicator.source));
            set.add(version.indicator, &version.pattern_type);
        }
        if let Err(reason) = set.matcher.finish() {
            set.errors.push(IntelError::File {
                path: PathBuf::from("(indicators)"),
                message: reason,
            });
        }
        set
    }
}

impl IndicatorSet {
    fn add(&mut self, indicator: Indicator, pattern_type: &str) {
        let compiled = match pattern_type {
            "stix" => parse(&indicator.pattern)
                .map_err(|error| format!("invalid pattern: {error}"))
                .and_then(|observation| compile(&observation))
                .and_then(|alternatives| self.matcher.add(&alternatives)),
            "sigma" => {
                self.sigma.push(SigmaIndicator { indicator });
                return;
            }
            other => Err(format!("pattern_type {other} is not supported")),
        };
        match compiled {
            Ok(()) => {
                self.expires |= indicator.valid_until_micros.is_some();
                self.indicators.push(indicator);
            }
            Err(reason) => self.skipped.push(Skipped {
                id: indicator.id,
                name: indicator.name,
                source: indicator.source,
                reason,
            }),
        }
    }
}

/// One indicator object read, or what is wrong with it.
fn version(located: &Located) -> Result<Version, String> {
    let object = &located.object;
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    let id = text("id").ok_or("no id")?.to_owned();
    let pattern = text("pattern").ok_or("no pattern")?.to_owned();
    let pattern_type = text("pattern_type").unwrap_or("stix").to_owned();
    let modified = text("modified")
        .or(text("created"))
        .map(micros)
        .transpose()?
        .unwrap_or(i64::MIN);
    let valid_until = text("valid_until").map(micros).transpose()?;
    let confidence = match object.get("confidence") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|c| *c <= 100)
                .and_then(|c| u8::try_from(c).ok())
                .ok_or("confidence is not an integer from 0 to 100")?,
        ),
    };
    let name = text("name").map_or_else(|| pattern.clone(), str::to_owned);
    Ok(Version {
        indicator: Indicator {
            id,
            name,
            producer: None,
            confidence,
            attack_phases: attack_phases(object),
            attack_ids: attack_ids(object),
            pattern,
            source: located.path.clone(),
            valid_until_micros: valid_until,
        },
        modified,
        revoked: object.get("revoked").and_then(Value::as_bool) == Some(true),
        valid_until,
        pattern_type,
        created_by: text("created_by_ref").map(str::to_owned),
    })
}

/// A STIX timestamp in microseconds since 1970.
fn micros(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|_| format!("{text:?} is not a timestamp"))
}

/// The `mitre-attack` phases of `kill_chain_phases`.
fn attack_phases(object: &Value) -> Vec<String> {
    let phases = object.get("kill_chain_phases").and_then(Value::as_array);
    phases
        .into_iter()
        .flatten()
        .filter(|p| p.get("kill_chain_name").and_then(Value::as_str) == Some("mitre-attack"))
        .filter_map(|p| p.get("phase_name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The ATT&CK technique ids of `external_references` (`mitre-attack` sources).
fn attack_ids(object: &Value) -> Vec<String> {
    let references = object.get("external_references").and_then(Value::as_array);
    references
        .into_iter()
        .flatten()
        .filter(|r| {
            r.get("source_name")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("mitre-"))
        })
        .filter_map(|r| r.get("external_id").and_then(Value::as_str))
        .filter(|id| id.starts_with('T') && id.len() <= 16)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
