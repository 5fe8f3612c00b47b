//! `hunt --store`: detections become [`Alert`]s written to the store in batches, and after
//! the hunt every alert of the store is regrouped into incidents.
//!
//! Each batch is one transaction (see `tocsin-store`), so a hunt killed at any point
//! leaves the store as it was after its last complete batch; alert keys are stable, so
//! rerunning the hunt adds only what is missing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tocsin_incident::{
    group, Alert, AttackCatalog, GroupingConfig, IncidentStore, Level, PutOutcome, RuleRef,
};
use tocsin_sigma::ast::{Level as SigmaLevel, Metadata};
use tocsin_store::SqliteStore;

use crate::args::HuntStoreArgs;

/// Alerts written per transaction.
const BATCH: usize = 1000;

/// The rule side of an alert, from a Sigma rule's (or correlation's) metadata. The id is
/// the rule's `id`, else its `name`, else its title, so that keys stay stable.
pub fn incident_rule(meta: &Metadata) -> RuleRef {
    RuleRef {
        id: meta
            .id
            .clone()
            .or_else(|| meta.name.clone())
            .unwrap_or_else(|| meta.title.clone()),
        title: meta.title.clone(),
        level: meta.level.map_or(Level::Informational, incident_level),
        tags: meta.tags.clone(),
        author: meta.author.clone(),
    }
}

/// The incident crate's level for a Sigma level.
fn incident_level(level: SigmaLevel) -> Level {
    match level {
        SigmaLevel::Informational => Level::Informational,
        SigmaLevel::Low => Level::Low,
        SigmaLevel::Medium => Level::Medium,
        SigmaLevel::High => Level::High,
        SigmaLevel::Critical => Level::Critical,
    }
}

/// Where a hunt's alerts go: the open store, the grouping settings and what was written.
pub struct AlertSink {
    store: SqliteStore,
    path: PathBuf,
    catalog: AttackCatalog,
    grouping: GroupingConfig,
    pending: Vec<Alert>,
    written: PutOutcome,
}

/// What a hunt did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreReport {
    /// Detections stored for the first time / already stored by an earlier run.
    pub alerts: PutOutcome,
    /// Incidents after regrouping.
    pub incidents: usize,
    /// Of those, incidents the store did not hold before.
    pub new_incidents: usize,
}

impl AlertSink {
    /// Opens (or creates) the store and loads the ATT&CK catalogue, before anything is
    /// scanned, so that a bad path fails the hunt at once. `None` without `--store`.
    pub fn open(args: &HuntStoreArgs, quiet: bool) -> Result<Option<AlertSink>> {
        let Some(path) = &args.store else {
            if args.attack.is_some() && !quiet {
                eprintln!("warning: --attack is only used with --store; ignored");
            }
            return Ok(None);
        };
        let catalog = load_catalog(args.attack.as_deref(), quiet)?;
        let store = SqliteStore::open(path)
            .with_context(|| format!("cannot open the store {}", path.display()))?;
        Ok(Some(AlertSink {
            store,
            path: path.clone(),
            catalog,
            grouping: GroupingConfig {
                quiet_gap_micros: args.quiet_gap,
                ..GroupingConfig::default()
            },
            pending: Vec::with_capacity(BATCH),
            written: PutOutcome::default(),
        }))
    }

    /// Queues an alert, writing a batch when enough are queued.
    pub fn push(&mut self, alert: Alert) -> Result<()> {
        self.pending.push(alert);
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the queued alerts in one transaction.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let outcome = self
            .store
            .put_alerts(&self.pending)
            .with_context(|| format!("cannot write detections to {}", self.path.display()))?;
        self.written.new += outcome.new;
        self.written.existing += outcome.existing;
        self.pending.clear();
        Ok(())
    }

    /// Writes what is queued, regroups every alert of the store into incidents and saves
    /// them (analysts' lifecycle changes are kept by the store).
    pub fn finish(mut self) -> Result<StoreReport> {
        self.flush()?;
        let context = || format!("cannot regroup the incidents of {}", self.path.display());
        let alerts = self.store.all_alerts().with_context(context)?;
        let incidents = group(&alerts, &self.grouping, &self.catalog);
        let mut known = HashSet::new();
        for incident in &incidents {
            if self
                .store
                .incident(&incident.id)
                .with_context(context)?
                .is_some()
            {
                known.insert(incident.id.as_str());
            }
        }
        let new_incidents = incidents.len() - known.len();
        self.store
            .save_incidents(&incidents)
            .with_context(context)?;
        Ok(StoreReport {
            alerts: self.written,
            incidents: incidents.len(),
            new_incidents,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A blob another component saved in the store (the behaviour baseline), if any.
    pub fn load_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.store
            .load_blob(name)
            .with_context(|| format!("cannot read {name} from {}", self.path.display()))
    }

    /// Saves a blob in the store, replacing the previous one.
    pub fn save_blob(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.store
            .save_blob(name, bytes)
            .with_context(|| format!("cannot write {name} to {}", self.path.display()))
    }
}

/// The ATT&CK catalogue from `dir`, or an empty one (tags kept as written).
fn load_catalog(dir: Option<&Path>, quiet: bool) -> Result<AttackCatalog> {
    let Some(dir) = dir else {
        return Ok(AttackCatalog::empty());
    };
    let catalog = AttackCatalog::load(dir)
        .with_context(|| format!("cannot load the ATT&CK catalogue from {}", dir.display()))?;
    if !quiet {
        for warning in catalog.warnings() {
            eprintln!("warning: ATT&CK catalogue: {warning}");
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_id_falls_back_to_name_then_title() {
        let mut meta = Metadata {
            title: "T".into(),
            level: Some(SigmaLevel::High),
            ..Metadata::default()
        };
        assert_eq!(incident_rule(&meta).id, "T");
        meta.name = Some("n".into());
        assert_eq!(incident_rule(&meta).id, "n");
        meta.id = Some("i".into());
        let rule = incident_rule(&meta);
        assert_eq!(rule.id, "i");
        assert_eq!(rule.level, Level::High);
    }

    #[test]
    fn a_rule_without_level_is_informational() {
        assert_eq!(
            incident_rule(&Metadata::default()).level,
            Level::Informational
        );
    }
}
