//! Writes a scenario to a directory:
//! `cargo run -p tocsin-demo --example generate -- SEED DIR [VARIANT]`.

use std::path::PathBuf;
use std::process::ExitCode;

use tocsin_demo::{DemoConfig, Scenario, Variant};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(2024);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "demo-out".to_string()));
    let variant = args
        .next()
        .and_then(|name| Variant::parse(&name))
        .unwrap_or_default();
    let scenario = Scenario::generate(&DemoConfig {
        variant,
        ..DemoConfig::new(seed)
    });
    match scenario.write(&dir) {
        Ok(files) => {
            println!("{:?}", scenario.counts);
            println!(
                "wrote {}",
                files
                    .logs()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
