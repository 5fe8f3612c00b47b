//! `tocsin incidents list|show|update|regroup`: read and change the incidents of a store
//! written by `tocsin hunt ... --store FILE`. `list` and `show` only read (the store may
//! sit in a read-only folder); `update` and `regroup` write.
//!
//! Exit codes: 0 done; 1 `list` found no incident passing the filters; 2 usage or input
//! errors (missing store, unknown incident, refused lifecycle change), with a message
//! saying what to do.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tocsin_event::time::format_human;
use tocsin_incident::{
    render, AuditRecord, Incident, IncidentFilter, IncidentStore, Resolution, Stamp, Status,
};
use tocsin_output::clean;
use tocsin_pipeline::{ungrouped_alerts, IncidentWriter};
use tocsin_store::{SqliteStore, StoreError};

use crate::args::{ListArgs, ListFormatArg, RegroupArgs, ShowArgs, UpdateArgs};
use crate::output_file::{self, Protected};

/// How many `merged_into` links are followed before giving up (a loop would be a bug).
const MAX_MERGE_HOPS: usize = 64;

/// `incidents list`: one line (or JSON object) per incident passing the filters, and a
/// note when detections wait to be grouped.
pub fn list(args: &ListArgs) -> Result<i32> {
    let path = &args.store.store;
    let store = open_read_only(path)?;
    let waiting = ungrouped_alerts(&store)
        .with_context(|| format!("cannot read the detections of {}", path.display()))?;
    let filter = IncidentFilter {
        statuses: args.status.clone(),
        min_band: args.min_severity,
        since_micros: None,
        limit: args.limit,
    };
    let incidents = store
        .list_incidents(&filter)
        .with_context(|| format!("cannot read incidents from {}", args.store.store.display()))?;
    let text = match args.format {
        ListFormatArg::Table => table(&incidents),
        ListFormatArg::Json => json_list(&incidents)?,
    };
    write_stdout(&text)?;
    if waiting > 0 {
        eprintln!(
            "note: {waiting} detections are stored but not grouped yet (a hunt stopped before grouping them); run `tocsin incidents regroup --store {}`",
            path.display()
        );
    }
    if incidents.is_empty() {
        eprintln!("no incident matches");
        return Ok(1);
    }
    Ok(0)
}

/// `incidents regroup`: groups every stored detection into incidents again, through the
/// pipeline's writer (as the end of a hunt does), keeping the analysts' lifecycles.
pub fn regroup(args: &RegroupArgs) -> Result<i32> {
    let path = &args.store.store;
    let store = open_existing(path)?;
    let catalog = crate::alerts::load_catalog(args.grouping.attack.as_deref(), false)?;
    let documents = tocsin_pipeline::load_documents(&args.rules).documents;
    let grouping = tocsin_incident::GroupingConfig {
        same_signal: tocsin_pipeline::similar_signals(&documents),
        ..crate::alerts::grouping_of(&args.grouping)
    };
    let origins = crate::alerts::stored_origins(&store, &path.display().to_string())?;
    let mut writer = IncidentWriter::new(store, grouping, catalog);
    if let Some(origins) = origins {
        writer.trust_origins(std::sync::Arc::new(origins));
    }
    let (_, report) = writer
        .regroup()
        .with_context(|| format!("cannot regroup the incidents of {}", path.display()))?;
    eprintln!(
        "store {}: {} incidents saved ({} new)",
        path.display(),
        report.incidents,
        report.new_incidents
    );
    Ok(0)
}

/// `incidents show`: the incident's report in the chosen format.
pub fn show(args: &ShowArgs) -> Result<i32> {
    let path = &args.store.store;
    if let Some(output) = &args.output {
        let protected = Protected {
            inputs: &[],
            store: Some(path),
        };
        output_file::check(output, &protected)?;
    }
    let store = open_read_only(path)?;
    let incident = find(&store, path, &args.id)?;
    let alerts = store
        .alerts_of(&incident.id)
        .with_context(|| format!("cannot read the detections of {}", incident.id))?;
    let audit = store
        .audit_of(&incident.id)
        .with_context(|| format!("cannot read the audit trail of {}", incident.id))?;
    let report = render(&incident, &alerts, &audit, args.format);
    match &args.output {
        Some(file) => output_file::write_whole(file, report.as_bytes())
            .with_context(|| format!("cannot write the report to {}", file.display()))?,
        None => write_stdout(&report)?,
    }
    Ok(0)
}

/// `incidents update`: applies the requested changes in the order status, assignee, note,
/// action, to the incident as stored when the update's transaction begins; all of them and
/// their audit records are stored in that one transaction, or none when one is refused.
pub fn update(args: &UpdateArgs) -> Result<i32> {
    let changes = requested_changes(args);
    if changes.is_empty() {
        bail!("nothing to change: give --status, --assign, --note or --action");
    }
    let path = &args.store.store;
    let mut store = open_existing(path)?;
    let incident = find(&store, path, &args.id)?;
    let Some(actor) = args
        .by
        .clone()
        .or_else(default_actor)
        .filter(|by| !by.trim().is_empty())
    else {
        bail!("say who makes the change with --by NAME (no $USER, $LOGNAME or user name found)");
    };
    let actor = actor.as_str();
    let stamp = Stamp {
        actor,
        at_micros: now_micros(),
    };
    // Read, checked and written in one transaction: a concurrent update waits for it, so
    // neither loses the other's changes.
    let mut unchanged = Vec::new();
    let outcome = store
        .update_incident(&incident.id, |current| {
            let mut records = Vec::new();
            for change in &changes {
                match change {
                    // Assigning the assignee changes nothing: no audit record for it.
                    Requested::Assign(name) if !current.assignment_changes(Some(name)) => {
                        unchanged.push(format!("already assigned to {}", name.trim()));
                    }
                    _ => records.push(change.apply(current, stamp)?),
                }
            }
            Ok::<_, anyhow::Error>(records)
        })
        .with_context(|| {
            format!(
                "cannot save the change to {} in {}",
                incident.id,
                path.display()
            )
        })?;
    let records = outcome?;
    for what in &unchanged {
        eprintln!("note: {} is {what}; nothing recorded for it", incident.id);
    }
    if records.is_empty() {
        eprintln!("nothing changed");
    }
    let mut out = String::new();
    for record in records {
        out.push_str(&format!(
            "{}: {} (by {})\n",
            record.incident_id, record.change, record.actor
        ));
    }
    write_stdout(&out)?;
    Ok(0)
}

/// One lifecycle change asked for on the command line.
enum Requested<'a> {
    Status(Status, Option<Resolution>),
    Assign(&'a str),
    Note(&'a str),
    Action(&'a str),
}

impl Requested<'_> {
    fn apply(&self, incident: &mut Incident, by: Stamp<'_>) -> Result<AuditRecord> {
        let record = match self {
            Requested::Status(to, resolution) => incident.transition(*to, *resolution, by),
            Requested::Assign(name) => incident.assign(Some(name), by),
            Requested::Note(text) => incident.add_note(text, by),
            Requested::Action(text) => incident.record_action(text, by),
        };
        Ok(record?)
    }
}

fn requested_changes(args: &UpdateArgs) -> Vec<Requested<'_>> {
    let mut changes = Vec::new();
    if let Some(status) = args.status {
        changes.push(Requested::Status(status, args.resolution));
    }
    if let Some(name) = &args.assign {
        changes.push(Requested::Assign(name));
    }
    if let Some(text) = &args.note {
        changes.push(Requested::Note(text));
    }
    if let Some(text) = &args.action {
        changes.push(Requested::Action(text));
    }
    changes
}

/// Opens a store that must already exist (these commands never create one), to change it.
pub(crate) fn open_existing(path: &Path) -> Result<SqliteStore> {
    require_store(path)?;
    SqliteStore::open(path).with_context(|| format!("cannot open the store {}", path.display()))
}

/// Opens a store that must already exist only to read it: it may sit in a read-only folder.
/// A store an older tocsin wrote is migrated first when it can be written (the migration is
/// the one write a reading command makes). The commands use it only through the store
/// trait.
pub(crate) fn open_read_only(path: &Path) -> Result<impl IncidentStore> {
    require_store(path)?;
    let opened = match SqliteStore::open_read_only(path) {
        Err(needs @ StoreError::NeedsMigration { .. }) => {
            SqliteStore::open(path).map_err(|_| needs)
        }
        opened => opened,
    };
    opened.with_context(|| format!("cannot open the store {}", path.display()))
}

/// Refuses a path that holds no store, saying how to make one.
fn require_store(path: &Path) -> Result<()> {
    if !path.is_file() {
        bail!(
            "no store at {0}: create one with `tocsin hunt LOGS --rules RULES --store {0}`",
            path.display()
        );
    }
    Ok(())
}

/// The incident `id`, following merges to the incident that absorbed it (with a note).
pub(crate) fn find(store: &impl IncidentStore, path: &Path, id: &str) -> Result<Incident> {
    let mut current = id.trim().to_owned();
    for _ in 0..MAX_MERGE_HOPS {
        match store
            .merged_into(&current)
            .context("cannot read the store")?
        {
            Some(survivor) => {
                eprintln!("note: incident {current} was merged into {survivor}; using {survivor}");
                current = survivor;
            }
            None => break,
        }
    }
    match store.incident(&current).context("cannot read the store")? {
        Some(incident) => Ok(incident),
        None => bail!(
            "no incident {current} in {0} (see `tocsin incidents list --store {0}`)",
            path.display()
        ),
    }
}

/// The aligned table of `incidents list`.
fn table(incidents: &[Incident]) -> String {
    let mut out = format!(
        "{:<16}  {:<24}  {:<13}  {:>10}  {:<20}  {:<12}  {}\n",
        "ID", "STATUS", "SEVERITY", "DETECTIONS", "LAST SEEN", "ASSIGNEE", "TITLE"
    );
    for incident in incidents {
        let status = match incident.lifecycle.resolution {
            Some(resolution) => format!("{} ({resolution})", incident.lifecycle.status),
            None => incident.lifecycle.status.to_string(),
        };
        out.push_str(&format!(
            "{:<16}  {:<24}  {:<13}  {:>10}  {:<20}  {:<12}  {}\n",
            clean(&incident.id),
            status,
            format!("{} ({})", incident.severity.band, incident.severity.score),
            incident.members.len(),
            incident
                .last_seen_micros
                .map_or_else(|| "-".to_owned(), format_human),
            clean(incident.lifecycle.assignee.as_deref().unwrap_or("-")),
            clean(&incident.title),
        ));
    }
    out
}

/// The JSON array of `incidents list --format json`: a summary of each incident.
fn json_list(incidents: &[Incident]) -> Result<String> {
    let rows: Vec<_> = incidents
        .iter()
        .map(|incident| {
            json!({
                "id": incident.id,
                "title": incident.title,
                "status": incident.lifecycle.status,
                "resolution": incident.lifecycle.resolution,
                "assignee": incident.lifecycle.assignee,
                "severity": {"score": incident.severity.score, "band": incident.severity.band},
                "first_seen": incident.first_seen_micros.map(format_human),
                "last_seen": incident.last_seen_micros.map(format_human),
                "detections": incident.members.len(),
                "entities": incident.entities.iter().map(|e| e.entity.to_string()).collect::<Vec<_>>(),
                "tactics": incident.attack.tactics.iter().map(|t| t.label().to_owned()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).context("cannot write JSON")?;
    text.push('\n');
    Ok(text)
}

pub(crate) fn write_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("cannot write to standard output"),
    }
}

/// Who makes a change when `--by` is not given: `$USER`, else `$LOGNAME`, else the name the
/// system's user database gives the user running tocsin (its numeric id if it has none).
pub(crate) fn default_actor() -> Option<String> {
    ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .or_else(os_user_name)
}

/// The name of the user running this process, from `/etc/passwd` (its uid, as `uid N`,
/// when the database does not name it); `None` off Unix-like systems.
fn os_user_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let named = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    });
    Some(named.unwrap_or_else(|| format!("uid {uid}")))
}

pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_still_has_its_header() {
        let text = table(&[]);
        assert!(text.starts_with("ID"));
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn an_absorbed_incident_is_found_through_its_survivor() {
        use tocsin_incident::{Alert, AlertKind, AlertOrigin, AttackCatalog, JoinReason, RuleRef};
        let alerts: Vec<Alert> = (1..=2)
            .map(|record| {
                let origin = AlertOrigin {
                    source: "a.log".into(),
                    record,
                };
                let at = Some(i64::try_from(record).unwrap_or_default());
                Alert::new(
                    AlertKind::Sigma,
                    RuleRef::default(),
                    origin,
                    at,
                    vec![],
                    vec![],
                )
            })
            .collect();
        let incident = |id: &str, members: &[&Alert]| {
            let members = members
                .iter()
                .map(|a| (*a, JoinReason::default()))
                .collect();
            Incident::build(id.to_owned(), members, &AttackCatalog::empty())
        };
        let mut store = tocsin_store::MemoryStore::new();
        let apart = [
            incident("INC-a", &[&alerts[0]]),
            incident("INC-b", &[&alerts[1]]),
        ];
        store.record_hunt(&alerts, &apart).unwrap();
        let merged = incident("INC-a", &[&alerts[0], &alerts[1]]);
        store.save_incidents(&[merged]).unwrap();
        let found = find(&store, Path::new("memory"), " INC-b ").unwrap();
        assert_eq!(found.id, "INC-a");
        let missing = find(&store, Path::new("memory"), "INC-none").unwrap_err();
        assert!(
            missing.to_string().contains("no incident INC-none"),
            "{missing}"
        );
    }

    #[test]
    fn a_listed_incident_shows_its_id_status_and_band() {
        let incident = Incident::placeholder("INC-0123456789ab");
        let text = table(std::slice::from_ref(&incident));
        let row = text.lines().nth(1).unwrap_or_default();
        assert!(row.starts_with("INC-0123456789ab"), "{row}");
        assert!(row.contains("new"), "{row}");
        assert!(row.contains(incident.severity.band.as_str()), "{row}");
    }
}
