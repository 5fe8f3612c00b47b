//! What every end-to-end test file needs: the real binary, run, and its output as text.

use std::process::{Command, Output};

/// The `tocsin` binary under test, without colours.
pub fn tocsin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs a command to its end.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tocsin runs")
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
