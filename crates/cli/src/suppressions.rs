//! `tocsin incidents suppress|suppressions|unsuppress`: the analyst's feedback that a benign
//! pattern must not open incidents again (`tocsin_incident::suppression`), kept in the
//! store with who added it, when, why and from which incident.
//!
//! A suppression takes effect at the next grouping into the store (a hunt with `--store`,
//! or `incidents regroup`); incidents already open stay as they are, for the analyst to
//! close.
//!
//! Exit codes: 0 done; 1 `suppressions` found none to list; 2 usage or input errors
//! (missing store, unscoped suppression, unknown number).

use anyhow::{bail, Context, Result};
use tocsin_event::time::format_human;
use tocsin_incident::{IncidentStore, NewSuppression, Removal, Suppression};
use tocsin_output::clean;

use crate::args::{ListFormatArg, SuppressArgs, SuppressionsArgs, UnsuppressArgs};
use crate::incidents::{default_actor, now_micros, open_existing, open_read_only, write_stdout};

/// `incidents suppress`: records a suppression and prints its number.
pub fn add(args: &SuppressArgs) -> Result<i32> {
    let path = &args.store.store;
    let new = NewSuppression {
        rule_id: args.rule.clone().filter(|rule| !rule.trim().is_empty()),
        entity: args.entity.clone(),
        reason: args.reason.trim().to_owned(),
        added_by: actor(args.by.as_deref())?,
        added_at_micros: now_micros(),
        incident: args.incident.clone(),
    };
    new.validate().context("cannot add the suppression")?;
    let mut store = open_existing(path)?;
    if let Some(id) = &new.incident {
        if store
            .incident(id)
            .with_context(|| format!("cannot read the store {}", path.display()))?
            .is_none()
        {
            bail!("no incident {id} in {}", path.display());
        }
    }
    let added = store
        .add_suppression(&new)
        .with_context(|| format!("cannot write the store {}", path.display()))?;
    write_stdout(&format!(
        "suppression {} added: {} no longer opens incidents (from the next grouping into {})\n",
        added.id,
        added.spec,
        path.display()
    ))?;
    Ok(0)
}

/// `incidents suppressions`: lists them, in force first by number.
pub fn list(args: &SuppressionsArgs) -> Result<i32> {
    let path = &args.store.store;
    let store = open_read_only(path)?;
    let listed: Vec<Suppression> = store
        .suppressions()
        .with_context(|| format!("cannot read the store {}", path.display()))?
        .into_iter()
        .filter(|s| args.all || s.removed.is_none())
        .collect();
    let text = match args.format {
        ListFormatArg::Table => table(&listed),
        ListFormatArg::Json => {
            let mut text = serde_json::to_string_pretty(&listed).context("cannot write JSON")?;
            text.push('\n');
            text
        }
    };
    write_stdout(&text)?;
    Ok(if listed.is_empty() { 1 } else { 0 })
}

/// `incidents unsuppress`: marks one removed.
pub fn remove(args: &UnsuppressArgs) -> Result<i32> {
    let path = &args.store.store;
    let removal = Removal {
        by: actor(args.by.as_deref())?,
        at_micros: now_micros(),
    };
    let mut store = open_existing(path)?;
    let removed = store
        .remove_suppression(args.id, &removal)
        .with_context(|| format!("cannot write the store {}", path.display()))?;
    if !removed {
        bail!(
            "no suppression {} in force in {}: list them with `tocsin incidents suppressions --store {}`",
            args.id,
            path.display(),
            path.display()
        );
    }
    write_stdout(&format!("suppression {} removed\n", args.id))?;
    Ok(0)
}

/// `--by`, else the user running tocsin.
fn actor(by: Option<&str>) -> Result<String> {
    by.map(str::to_owned)
        .or_else(default_actor)
        .filter(|by| !by.trim().is_empty())
        .context("say who you are with --by NAME (no $USER, $LOGNAME or user name found)")
}

/// One line per suppression, escaped for the terminal.
fn table(suppressions: &[Suppression]) -> String {
    let mut out = format!(
        "{:>4}  {:<20}  {:<10}  {:<40}  {}\n",
        "id", "added", "by", "suppresses", "reason"
    );
    for s in suppressions {
        let removed = s.removed.as_ref().map_or_else(String::new, |r| {
            format!(" (removed by {} {})", r.by, format_human(r.at_micros))
        });
        out.push_str(&clean(&format!(
            "{:>4}  {:<20}  {:<10}  {:<40}  {}{}",
            s.id,
            format_human(s.spec.added_at_micros),
            s.spec.added_by,
            s.spec.to_string(),
            s.spec.reason,
            removed
        )));
        out.push('\n');
    }
    out
}
