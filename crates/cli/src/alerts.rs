//! `hunt --store`: opening the incident store and the grouping settings from the flags. The
//! writing and grouping themselves are `tocsin-pipeline`'s [`IncidentWriter`], the same for
//! every command.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use tocsin_incident::{AttackCatalog, GroupingConfig, ALERT_KEY_SCHEME};
use tocsin_pipeline::{FamiliarOrigins, IncidentWriter, StoreReport};
use tocsin_store::SqliteStore;

use crate::args::{GroupingArgs, HuntStoreArgs};

/// The origin trust of the behavioural baseline `store` (at `path`) holds, if it holds
/// one: what a grouping that ran no behavioural detector itself (a regrouping, a hunt
/// without `--behaviour`) trusts, so that it decides as the hunts that learned it did.
pub(crate) fn stored_origins(store: &SqliteStore, path: &str) -> Result<Option<FamiliarOrigins>> {
    FamiliarOrigins::from_store(store).with_context(|| format!("in {path}"))
}

/// The incident writer of a hunt over its SQLite store, and the store's path for messages.
pub struct AlertSink {
    /// The writer.
    pub writer: IncidentWriter<SqliteStore>,
    /// The store file, as given.
    pub path: String,
}

impl AlertSink {
    /// Opens (or creates) the store and loads the ATT&CK catalogue, before anything is
    /// scanned, so that a bad path fails the hunt at once. `None` without `--store`.
    /// `attack_used` says that the hunt uses `--attack` elsewhere (ECS output names
    /// techniques), so that it is not said to be ignored without a store.
    /// `same_signal` maps rules that see the same activity to the signal they count as (from
    /// the rule set, see `GroupingConfig::same_signal`).
    pub fn open(
        args: &HuntStoreArgs,
        quiet: bool,
        attack_used: bool,
        same_signal: &BTreeMap<String, String>,
    ) -> Result<Option<AlertSink>> {
        let Some(path) = &args.store else {
            if args.grouping.attack.is_some() && !quiet && !attack_used {
                eprintln!("warning: --attack is only used with --store or --format ecs; ignored");
            }
            return Ok(None);
        };
        let catalog = load_catalog(args.grouping.attack.as_deref(), quiet)?;
        let store = SqliteStore::open(path)
            .with_context(|| format!("cannot open the store {}", path.display()))?;
        let grouping = GroupingConfig {
            same_signal: same_signal.clone(),
            ..grouping_of(&args.grouping)
        };
        let writer = IncidentWriter::new(store, grouping, catalog);
        refuse_foreign_keys(&writer, path)?;
        Ok(Some(AlertSink {
            writer,
            path: path.display().to_string(),
        }))
    }

    /// Writes what is queued and regroups the store's incidents.
    pub fn finish(self) -> Result<StoreReport> {
        let path = self.path;
        let (_, report) = self
            .writer
            .finish()
            .with_context(|| format!("cannot write the incidents of {path}"))?;
        Ok(report)
    }
}

/// Refuses a store whose detections an older tocsin keyed otherwise: hunting into it would
/// store each of them a second time.
fn refuse_foreign_keys(writer: &IncidentWriter<SqliteStore>, path: &Path) -> Result<()> {
    let scheme = writer
        .foreign_key_scheme()
        .with_context(|| format!("cannot read the store {}", path.display()))?;
    if let Some(scheme) = scheme {
        bail!(
            "the store {} holds detections keyed by another tocsin (alert key scheme {scheme}, this one uses {ALERT_KEY_SCHEME}): hunting into it would store every detection again; hunt into a new store (this one stays readable with `tocsin incidents`)",
            path.display()
        );
    }
    Ok(())
}

/// The grouping settings the flags ask for; the library's defaults otherwise.
pub fn grouping_of(args: &GroupingArgs) -> GroupingConfig {
    GroupingConfig {
        quiet_gap_micros: args.quiet_gap,
        severe_quiet_gap_micros: args.severe_quiet_gap,
        spread_window_micros: args.spread_window,
        min_opening_level: args.opening_level,
        alone_level: args.opening_alone_level,
        min_risk: args.opening_risk,
        max_detections: args.max_incident_detections,
        max_span_micros: args.max_incident_span,
        ..GroupingConfig::default()
    }
}

/// The ATT&CK catalogue from `dir`, or an empty one (tags kept as written).
pub fn load_catalog(dir: Option<&Path>, quiet: bool) -> Result<AttackCatalog> {
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
