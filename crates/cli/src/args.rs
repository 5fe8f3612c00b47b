//! Command-line flags, as clap types. Only this module knows argv.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tocsin: hunt security logs with Sigma rules.
#[derive(Debug, Parser)]
#[command(name = "tocsin", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hunt EVTX and JSON logs (files, folders, .gz, or - for stdin) with Sigma rules.
    Hunt(Box<HuntArgs>),
    /// Work with rule sets.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Measure hunting speed against the decoders' own speed (the parse floor), rule
    /// loading, peak memory and scaling; prints a report, changes nothing.
    Bench(BenchArgs),
}

/// Flags of `tocsin bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Rules to load (default: $TOCSIN_SHARED/sigma/rules, or ../shared/sigma/rules).
    #[arg(long, short = 'r', value_name = "PATH")]
    pub rules: Option<PathBuf>,
    /// Folder of EVTX files to hunt (default: $TOCSIN_SHARED/evtx, or ../shared/evtx);
    /// the benchmark also converts them to JSON Lines to measure that decoder.
    #[arg(long, short = 'i', value_name = "DIR")]
    pub input: Option<PathBuf>,
    /// How many times the input is read in the throughput passes.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub repeat: usize,
    /// Worker threads (default: the number of cores).
    #[arg(long, short = 't', value_name = "N")]
    pub threads: Option<usize>,
    /// How many end-to-end `tocsin hunt` runs to take the median of.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: usize,
}

/// `tocsin rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and compile every rule; report every problem with its file and line.
    /// Exits 1 if any rule has a problem.
    Lint(LintArgs),
}

/// Flags of `tocsin rules lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Rule files or folders (searched recursively for .yml/.yaml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// Flags that change how rules are compiled.
#[derive(Debug, Args, Clone, Default)]
pub struct CompileArgs {
    /// Logsource mapping file (tocsin or sigmac/THOR format) used instead of the built-in
    /// Windows mapping.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// YAML file giving the values of `expand` placeholders (name: [values]).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
}

/// Flags of `tocsin hunt`.
#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Log files or folders (recursive); `-` reads JSON from standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or folders (recursive).
    #[arg(long, short = 'r', required = true, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub compile: CompileArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Write detections to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Worker threads (default: the number of cores).
    #[arg(long, short = 't', value_name = "N")]
    pub threads: Option<usize>,
    /// File extensions to read inside folders.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "evtx,json,jsonl,ndjson,log,gz"
    )]
    pub extensions: Vec<String>,
    /// Do not print the summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Which rules to use.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Only rules at this level or above.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub min_level: Option<LevelArg>,
    /// Only rules with one of these statuses (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<StatusArg>,
    /// Only these rule ids (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub include_id: Vec<String>,
    /// Never these rule ids.
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub exclude_id: Vec<String>,
    /// Only rules with at least one of these tags (such as attack.t1059.001).
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub include_tag: Vec<String>,
    /// Never rules with any of these tags.
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub exclude_tag: Vec<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// One colored line per detection.
    Table,
    /// Comma-separated values with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Rule levels.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum LevelArg {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

/// Rule statuses.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum StatusArg {
    Stable,
    Test,
    Experimental,
    Deprecated,
    Unsupported,
}
