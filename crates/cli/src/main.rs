//! The `tocsin` binary: flags in, exit code out. Wiring and dispatch only.
//!
//! Exit codes: 0 success (with or without detections); 1 `rules lint` found problems;
//! 2 bad arguments or a fatal error (nothing could be read, no rule could be loaded).

mod args;
mod bench;
mod hunt;
mod lint;
mod ruleset;

use clap::Parser;

use crate::args::{Cli, Command, RulesCommand};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Hunt(args) => hunt::run(args),
        Command::Rules(RulesCommand::Lint(args)) => lint::run(args),
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
