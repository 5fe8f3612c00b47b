//! The files a package installs beside the binary, generated from the same clap
//! definitions as the argument parser so they can never drift from it: shell completion
//! scripts (`tocsin completions SHELL`) and man pages (`tocsin man`).

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::incidents::write_stdout;

/// `tocsin completions SHELL`: the shell's completion script on standard output.
pub fn completions(args: &CompletionsArgs) -> Result<i32> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "tocsin", &mut script);
    write_stdout(&String::from_utf8_lossy(&script))?;
    Ok(0)
}

/// `tocsin man [--out DIR]`: the `tocsin(1)` page on standard output, or with `--out`
/// one page per command (`tocsin.1`, `tocsin-hunt.1`, `tocsin-rules-lint.1`, ...) in DIR,
/// as packagers install them.
pub fn man(args: &ManArgs) -> Result<i32> {
    let command = Cli::command();
    match &args.out {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .context("cannot render the man page")?;
            write_stdout(&String::from_utf8_lossy(&page))?;
        }
        Some(dir) => {
            let written = write_pages(command, dir)?;
            eprintln!("{written} man pages written to {}", dir.display());
        }
    }
    Ok(0)
}

/// Writes the page of `command` and of every subcommand under it (hidden ones left out)
/// into `dir`, named after the command path as man pages of git-style tools are.
fn write_pages(command: clap::Command, dir: &Path) -> Result<usize> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = 0;
    let mut root = command;
    root.build();
    let mut pending = vec![root];
    while let Some(command) = pending.pop() {
        let name = command.get_name().to_string();
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(command.clone())
            .render(&mut page)
            .with_context(|| format!("cannot render the man page of {name}"))?;
        fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
        for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
            if sub.get_name() == "help" {
                continue;
            }
            pending.push(sub.clone().name(format!("{name}-{}", sub.get_name())));
        }
    }
    Ok(written)
}
