//! A deterministic generator of the story tocsin exists for: a remote-support SaaS whose
//! help-desk API key is stolen and used to reset local accounts, open sessions to
//! workstations and stage their documents, until the vendor revokes the key.
//!
//! # Brief overview
//!
//! * [`DemoConfig`]: the seed and the size of the world (days of ordinary activity,
//!   workstations, representatives).
//! * [`Scenario::generate`] draws a world (site, representatives in their time zones, API
//!   keys with their scripts, workstations), fills weeks of ordinary traffic with a few
//!   legitimate oddities, plays the intrusion, and renders three logs in the agreed formats:
//!   the appliance syslog (`appliance.log`), the API audit JSON Lines (`api-audit.jsonl`) and
//!   the Windows endpoint events as `evtx`-style JSON Lines (`endpoints.jsonl`).
//! * [`GroundTruth`]: what really happened (stolen key, attacker addresses, each step with
//!   its time, hosts, revocation, end of the benign period), to score detections against.
//! * [`Scenario::write`] writes the logs and the ground truth (`ground-truth.yaml`, where a
//!   hunt of the folder does not read it) to a directory;
//!   [`Scenario::logs`] hands them over in memory. `cargo run -p tocsin-demo --example
//!   generate -- SEED DIR` writes one scenario from the command line.
//!
//! ```
//! use tocsin_demo::{DemoConfig, Scenario};
//!
//! let config = DemoConfig { benign_days: 3, workstations: 20, representatives: 6, ..DemoConfig::new(7) };
//! let scenario = Scenario::generate(&config);
//! assert!(scenario.truth.first_malicious_use >= scenario.truth.benign_period_end);
//! assert!(scenario.api_audit_log().contains(&scenario.truth.compromised_key_id));
//! assert_eq!(scenario.appliance_log(), Scenario::generate(&config).appliance_log());
//! ```
//!
//! Why these choices:
//!
//! * *ChaCha8, seeded.* The same seed gives the same bytes on every platform and `rand`
//!   version; `StdRng` promises neither.
//! * *One random stream, fixed order.* The world, the attack and the ordinary traffic draw
//!   from one generator in a fixed order, and nothing iterates a hash map while drawing.
//! * *Attacker ranges apart.* The attacker's /24s come from hosting ranges disjoint from
//!   every address ordinary traffic uses, whatever the seed, as in the real intrusion where
//!   the key was used from new infrastructure. Names, volumes and timings all vary with the
//!   seed, so that detectors cannot learn one seed's values.
//! * *Synthetic names only.* Organisations live under `.example`, people are drawn from
//!   common given and family names, and nothing is read from the network or disk.

mod attack;
mod benign;
mod names;
mod recorder;
mod records;
mod scenario;
mod syslog;
mod truth;
mod windows;
mod world;
mod yaml;

pub use scenario::{
    RecordCounts, Scenario, WrittenFiles, API_AUDIT_FILE, APPLIANCE_FILE, ENDPOINTS_FILE,
    GROUND_TRUTH_FILE,
};
pub use truth::{AttackStep, GroundTruth, StepKind};

use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// What to generate: the seed and the size of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Seed of every random choice; the same config gives the same files.
    pub seed: u64,
    /// Days of ordinary activity before the intrusion can start (at least 3).
    pub benign_days: u32,
    /// Workstations reachable through the remote-support jump clients (at least 6).
    pub workstations: usize,
    /// Help-desk representatives, three of them site administrators (at least 4).
    pub representatives: usize,
    /// Hours after the benign period in which the key's first malicious use may fall
    /// (at least 1).
    pub attack_window_hours: i64,
    /// End of the benign period, the earliest the intrusion can start; the logs begin
    /// `benign_days` earlier.
    pub benign_period_end: DateTime<Utc>,
}

/// The default end of the benign period: midnight UTC on Friday 29 November 2024, the day
/// after Thanksgiving, so that the intrusion falls on the long weekend before the vendor
/// noticed "unusual activity" on 2 December.
pub const DEFAULT_BENIGN_PERIOD_END: i64 = 1_732_838_400;

impl DemoConfig {
    /// The default world (three weeks to 29 November 2024, 300 workstations, 36
    /// representatives) for `seed`.
    pub fn new(seed: u64) -> Self {
        DemoConfig {
            seed,
            benign_days: 21,
            workstations: 300,
            representatives: 36,
            attack_window_hours: 60,
            benign_period_end: DateTime::from_timestamp(DEFAULT_BENIGN_PERIOD_END, 0)
                .unwrap_or_default(),
        }
    }

    /// This config with every size raised to its minimum, so that a world always has
    /// administrators, attack targets and days to fill.
    pub fn normalised(&self) -> DemoConfig {
        DemoConfig {
            seed: self.seed,
            benign_days: self.benign_days.max(3),
            workstations: self.workstations.max(6),
            representatives: self.representatives.max(4),
            attack_window_hours: self.attack_window_hours.max(1),
            benign_period_end: self.benign_period_end,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig::new(2024)
    }
}

/// Why writing a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The ground truth could not be serialised.
    #[error("cannot serialise the ground truth: {0}")]
    Serialize(serde_json::Error),
}

#[cfg(test)]
mod tests;
