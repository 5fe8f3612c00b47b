//! The service's rules and STIX indicators (`[detection] indicators`, and `<data>/intel/`
//! where scheduled TAXII pulls write): compiled at start, and again on SIGHUP, `POST
//! /api/v1/rules/reload` or after a pull changed the intel folder, without a restart. A new set is compiled beside the running one
//! and handed to the pipeline only if it compiled; a set that cannot be used (an unreadable
//! mapping, no rule at all) is refused and the running one stays. Single bad rules are left
//! out and listed, as `tocsin hunt` does.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tocsin_incident::GroupingConfig;
use tocsin_intel::IndicatorSet;
use tocsin_pipeline::{
    load_rules_cached, sigma_rule_texts, Behaviour, CompileOptions, Detectors, RuleCache,
    RuleSelection,
};

use crate::config::DetectionConfig;
use crate::ingest::now_micros;
use crate::metrics::Metrics;

/// The most problems a status lists one by one (all are counted).
const LISTED_PROBLEMS: usize = 100;

/// A compiled rule set, ready for the pipeline.
pub struct Loaded {
    /// The rules, their correlations and the behavioural detectors.
    pub detectors: Detectors,
    /// The grouping their similar signals imply.
    pub grouping: GroupingConfig,
    /// What the compile reported.
    pub status: RulesStatus,
}

/// What the running (or last refused) rule set is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RulesStatus {
    /// Rules compiled.
    pub rules: usize,
    /// Correlation rules that run.
    pub correlations: usize,
    /// Files or rules left out, in all.
    pub problem_count: usize,
    /// The first problems, each naming its file and line.
    pub problems: Vec<String>,
    /// When it was compiled (microseconds since 1970).
    pub loaded_micros: i64,
    /// 1 for the set the service started with, then one more per reload taken.
    pub generation: u64,
}

/// Why a rule set was refused.
#[derive(Debug, thiserror::Error)]
#[error("the rule set was refused: {0}")]
pub struct Refused(pub String);

/// Compiles the configured rules (without the data folder's intel; see [`compile_in`]).
pub fn compile(config: &DetectionConfig, generation: u64) -> Result<Loaded, Refused> {
    compile_in(config, None, generation)
}

/// Compiles the configured rules and indicators: the files and folders of
/// `config.indicators`, and the folder `intel` (`<data>/intel/`, where scheduled TAXII
/// pulls write) when it exists. Indicators are judged in force as of now. A set with
/// neither a rule nor an indicator is refused.
pub fn compile_in(
    config: &DetectionConfig,
    intel: Option<&Path>,
    generation: u64,
) -> Result<Loaded, Refused> {
    let indicators = load_indicators(config, intel);
    let texts = sigma_rule_texts(&indicators);
    // Through the user's compiled-rule cache: a reload of unchanged rules reads them back.
    let cache = RuleCache::from_env(|name| std::env::var_os(name));
    let (mut set, _) = load_rules_cached(
        &config.rules,
        &texts,
        &CompileOptions::default(),
        &RuleSelection::default(),
        &cache,
    )
    .map_err(|error| Refused(error.to_string()))?;
    if set.engine.is_empty() && indicators.indicators().is_empty() {
        return Err(Refused("no rule compiled".into()));
    }
    let mut problems: Vec<String> = set.load_errors.iter().map(ToString::to_string).collect();
    problems.extend(indicators.errors().iter().map(ToString::to_string));
    problems.extend(set.report.errors.iter().map(ToString::to_string));
    let grouping = GroupingConfig {
        same_signal: set.similar_signals.clone(),
        ..config
            .grouping
            .config()
            .map_err(|error| Refused(error.to_string()))?
    };
    let behaviour = config.behaviour.then(Behaviour::builtin);
    let (detectors, errors) = Detectors::from_rule_set(&mut set, behaviour);
    let detectors = match indicators.is_empty() {
        true => detectors,
        false => detectors.with_indicators(Arc::new(indicators)),
    };
    problems.extend(errors.iter().map(ToString::to_string));
    for problem in &problems {
        tracing::warn!(%problem, "left out of the rule set");
    }
    let status = RulesStatus {
        rules: detectors.engine().len(),
        correlations: detectors.correlation_count(),
        problem_count: problems.len(),
        problems: problems.into_iter().take(LISTED_PROBLEMS).collect(),
        loaded_micros: now_micros(),
        generation,
    };
    Ok(Loaded {
        detectors,
        grouping,
        status,
    })
}

/// The indicators of `config.indicators` and of the `intel` folder (when it exists), in
/// force now, with what was read and skipped logged.
fn load_indicators(config: &DetectionConfig, intel: Option<&Path>) -> IndicatorSet {
    let mut paths = config.indicators.clone();
    paths.extend(intel.filter(|dir| dir.is_dir()).map(Path::to_path_buf));
    if paths.is_empty() {
        return IndicatorSet::default();
    }
    let set = IndicatorSet::load(&paths, now_micros());
    let counts = set.counts();
    tracing::info!(
        indicators = counts.indicators,
        compiled = set.indicators().len(),
        sigma = set.sigma().len(),
        skipped = set.skipped().len(),
        revoked = counts.revoked,
        expired = counts.expired,
        "indicators loaded"
    );
    for skipped in set.skipped() {
        tracing::info!(id = %skipped.id, reason = %skipped.reason, "indicator skipped");
    }
    set
}

/// Reloads: compiles a new set and queues it for the pipeline, which takes it between two
/// steps ([`Reloader::take`]).
pub struct Reloader {
    config: DetectionConfig,
    /// `<data>/intel/`, read at every reload when it exists.
    intel: Option<PathBuf>,
    metrics: Arc<Metrics>,
    queued: Mutex<Option<Loaded>>,
    running: Mutex<RulesStatus>,
    /// Serialises reloads, so two compiles never race for the queue.
    compiling: Mutex<()>,
}

impl Reloader {
    /// A reloader of `config`'s rules; `running` is the set the service started with.
    pub fn new(config: DetectionConfig, metrics: Arc<Metrics>, running: RulesStatus) -> Self {
        metrics.rules.store(running.rules as u64, Ordering::Relaxed);
        Reloader {
            config,
            intel: None,
            metrics,
            queued: Mutex::new(None),
            running: Mutex::new(running),
            compiling: Mutex::new(()),
        }
    }

    /// The reloader with the data folder's `intel` folder (`<data>/intel/`), read at every
    /// reload when it exists: a reload after a TAXII pull makes new indicators live.
    pub fn with_intel_dir(mut self, intel: PathBuf) -> Self {
        self.intel = Some(intel);
        self
    }

    /// The folder of partners' STIX objects read at every load, if any.
    pub fn intel_dir(&self) -> Option<&Path> {
        self.intel.as_deref()
    }

    /// Compiles the rules again (blocking: seconds for thousands of rules) and queues the
    /// set for the pipeline; a refused set changes nothing.
    pub fn reload(&self) -> Result<RulesStatus, Refused> {
        let _one_at_a_time = self
            .compiling
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let generation = self.status().generation + 1;
        let loaded = compile_in(&self.config, self.intel.as_deref(), generation)?;
        let status = loaded.status.clone();
        *self.queued.lock().unwrap_or_else(PoisonError::into_inner) = Some(loaded);
        tracing::info!(rules = status.rules, generation, "rules reloaded");
        Ok(status)
    }

    /// The queued set, if a reload queued one: the pipeline calls this between steps.
    pub fn take(&self) -> Option<Loaded> {
        let loaded = self
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        self.metrics
            .rules
            .store(loaded.status.rules as u64, Ordering::Relaxed);
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = loaded.status.clone();
        Some(loaded)
    }

    /// The running set (or the one queued, once the pipeline took it).
    pub fn status(&self) -> RulesStatus {
        let queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
        match queued.as_ref() {
            Some(loaded) => loaded.status.clone(),
            None => self
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rules: &[&std::path::Path]) -> DetectionConfig {
        DetectionConfig {
            rules: rules.iter().map(|p| p.to_path_buf()).collect(),
            ..DetectionConfig::default()
        }
    }

    #[test]
    fn a_reload_queues_a_new_generation_and_a_refused_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let builtin = std::path::Path::new("builtin");
        let started = compile(&config(&[builtin]), 1).unwrap();
        assert!(started.status.rules > 0);
        let metrics = Arc::new(Metrics::default());
        let reloader = Reloader::new(
            config(&[builtin]),
            Arc::clone(&metrics),
            started.status.clone(),
        );
        let reloaded = reloader.reload().unwrap();
        assert_eq!(reloaded.generation, 2);
        let taken = reloader.take().unwrap();
        assert_eq!(taken.status.generation, 2);
        assert!(reloader.take().is_none());

        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let refusing = Reloader::new(config(&[&empty]), metrics, started.status);
        let error = refusing.reload().unwrap_err().to_string();
        assert!(error.contains("no rule compiled"), "{error}");
        assert!(refusing.take().is_none());
        assert_eq!(refusing.status().generation, 1);
    }

    #[test]
    fn a_reload_reads_the_intel_folder_and_a_set_of_indicators_alone_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let intel = dir.path().join("intel");
        let metrics = Arc::new(Metrics::default());
        let reloader = Reloader::new(config(&[&empty]), metrics, RulesStatus::default())
            .with_intel_dir(intel.clone());
        assert!(reloader.reload().is_err(), "neither rules nor indicators");

        std::fs::create_dir(&intel).unwrap();
        let bundle = serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "indicator", "id": "indicator--1", "modified": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.1']", "pattern_type": "stix"}]});
        std::fs::write(intel.join("pulled.json"), bundle.to_string()).unwrap();
        reloader.reload().unwrap();
        let loaded = reloader.take().unwrap();
        let indicators = loaded.detectors.indicators().unwrap();
        assert_eq!(indicators.indicators()[0].id, "indicator--1");
    }
}
