//! The `tocsin` binary: flags in, exit code out. Wiring and dispatch only.
//!
//! Exit codes: 0 success (with or without detections); 1 `rules lint` found problems or
//! `incidents list` found no incident; 2 bad arguments or a fatal error (nothing could be
//! read, no rule could be loaded, unknown incident, refused lifecycle change, missing store).

mod alerts;
mod args;
mod bench;
mod correlation;
mod hits;
mod hunt;
mod incidents;
mod lint;
mod ruleset;

use clap::Parser;

use crate::args::{Cli, Command, IncidentsCommand, RulesCommand};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Hunt(args) => hunt::run(args),
        Command::Rules(RulesCommand::Lint(args)) => lint::run(args),
        Command::Incidents(IncidentsCommand::List(args)) => incidents::list(args),
        Command::Incidents(IncidentsCommand::Show(args)) => incidents::show(args),
        Command::Incidents(IncidentsCommand::Update(args)) => incidents::update(args),
        Command::Bench(args) => bench::run(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            2
        }
    };
    std::process::exit(code);
}
