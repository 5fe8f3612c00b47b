//! `tocsin rules lint`: every problem of a rule set, each with its file and line.

use anyhow::Result;
use tocsin_output::clean;

use crate::args::{LintArgs, SelectArgs};
use tocsin_pipeline::Detectors;

use crate::ruleset;

/// Runs the lint; returns the process exit code (0 clean, 1 problems found).
pub fn run(args: &LintArgs) -> Result<i32> {
    let ruleset::RulePaths { paths, hold } = ruleset::paths_or_installed(&args.paths, false)?;
    let mut set = ruleset::load(&paths, &args.compile, &SelectArgs::default())?;
    drop(hold);
    let (detectors, correlation_errors) = Detectors::from_rule_set(&mut set, None);
    for error in &set.load_errors {
        println!("{}", clean(&error.to_string()));
    }
    for error in &set.report.errors {
        println!("{}", clean(&error.to_string()));
    }
    for error in &correlation_errors {
        println!("{}", clean(&error.to_string()));
    }
    for duplicate in &set.duplicate_ids {
        println!("{}", clean(&duplicate.to_string()));
    }
    for note in &set.report.needs_placeholders {
        println!("note: {}", clean(&note.to_string()));
    }
    let problems = set.load_errors.len()
        + set.report.errors.len()
        + correlation_errors.len()
        + set.duplicate_ids.len();
    eprintln!(
        "{} files, {} rules compiled, {} correlations valid, {} problems, {} rules waiting for placeholder values, {} rules with a logsource the mapping does not place",
        set.files,
        detectors.engine().len(),
        detectors.correlation_count(),
        problems,
        set.report.needs_placeholders.len(),
        set.report.unmapped,
    );
    Ok(if problems == 0 { 0 } else { 1 })
}
