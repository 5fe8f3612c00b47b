//! A deterministic generator of the story tocsin exists for: a remote-support SaaS whose
//! help-desk API key is stolen and used to reset local accounts, open sessions to
//! workstations and stage their documents, until the vendor revokes the key.
//!
//! # Brief overview
//!
//! * [`DemoConfig`]: the seed, the attack [`Variant`] and the size of the world (days of
//!   ordinary activity, workstations, representatives).
//! * [`Scenario::generate`] draws a world (site, representatives in their time zones, API
//!   keys with their scripts, workstations), fills weeks of ordinary traffic with the
//!   legitimate oddities real sites have (an integration starting sessions through the
//!   API, representatives on new networks, tool kits, profile migrations, lost-file
//!   searches, a maintenance night, an integration's egress moving, keys created and
//!   rotated), plays the variant's intrusion, and renders the logs in the vendor's own
//!   vocabulary ([`APPLIANCE_EVENTS`], [`OUTBOUND_EVENTS`], [`REPORT_EVENT_TYPES`]): the
//!   appliance syslog (`appliance.log`), the outbound events (`outbound-events.log`), the
//!   session reports (`session-reports.xml`), the API audit JSON Lines (`api-audit.jsonl`,
//!   not in the appliance-only variant) and the Windows endpoint events as `evtx`-style
//!   JSON Lines (`endpoints.jsonl`).
//! * [`GroundTruth`]: what really happened (variant, stolen key, attacker addresses, first
//!   misuse and first password reset, the attacker's sessions, each step with its time,
//!   revocation, end of the benign period), to score detections against.
//! * [`Scenario::write`] writes the logs and the ground truth (`ground-truth.yaml`, where a
//!   hunt of the folder does not read it) to a directory;
//!   [`Scenario::logs`] hands them over in memory. `cargo run -p tocsin-demo --example
//!   generate -- SEED DIR [VARIANT]` writes one scenario from the command line.
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
//!   the key was used from new infrastructure; only the stealthy variant's comes from the
//!   integration's own cloud /16 (another /24 of it, never used before the intrusion). Names, volumes and timings all vary with the
//!   seed, so that detectors cannot learn one seed's values.
//! * *Synthetic names only.* Organisations live under `.example`, people are drawn from
//!   common given and family names, and nothing is read from the network or disk.

mod attack;
mod benign;
mod names;
mod recorder;
mod records;
mod scenario;
mod sessions;
mod syslog;
mod truth;
mod vocabulary;
mod windows;
mod world;
mod yaml;

pub use scenario::{
    RecordCounts, Scenario, WrittenFiles, API_AUDIT_FILE, APPLIANCE_FILE, ENDPOINTS_FILE,
    GROUND_TRUTH_FILE, OUTBOUND_FILE, SESSION_REPORT_FILE,
};
pub use truth::{AttackStep, GroundTruth, StepKind};
pub use vocabulary::{APPLIANCE_EVENTS, OUTBOUND_EVENTS, REPORT_EVENT_TYPES};

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which intrusion the scenario plays, and on what kind of site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// The stolen key used from new hosting networks with the attacker's own tooling:
    /// local accounts reset, sessions opened, documents staged and downloaded.
    #[default]
    Base,
    /// The base intrusion on a larger, busier site (more representatives, workstations
    /// and sessions).
    Busy,
    /// The base intrusion where the site has no API audit log: only the appliance's
    /// syslog, its outbound events and session reports, and the endpoints.
    ApplianceOnly,
    /// The stolen key used during its integration's own hours, with its user agent, from
    /// another /24 of the integration's cloud /16, slowly.
    Stealthy,
    /// The stolen key resets a site account's (a representative's) password, and the
    /// attacker logs in to the representative console with it and opens the sessions.
    SiteAccount,
}

impl Variant {
    /// Every variant, in the order `--variant all` plays them.
    pub const ALL: [Variant; 5] = [
        Variant::Base,
        Variant::Busy,
        Variant::ApplianceOnly,
        Variant::Stealthy,
        Variant::SiteAccount,
    ];

    /// The variant's name on the command line (`appliance-only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Base => "base",
            Variant::Busy => "busy",
            Variant::ApplianceOnly => "appliance-only",
            Variant::Stealthy => "stealthy",
            Variant::SiteAccount => "site-account",
        }
    }

    /// The variant named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// Whether the site keeps an API audit log (every variant but `appliance-only`).
    pub fn has_api_audit(self) -> bool {
        self != Variant::ApplianceOnly
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to generate: the seed, the variant and the size of the world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Seed of every random choice; the same config gives the same files.
    pub seed: u64,
    /// Which intrusion is played, on what kind of site.
    pub variant: Variant,
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
    /// representatives) for `seed`, with the base variant's intrusion.
    pub fn new(seed: u64) -> Self {
        DemoConfig {
            seed,
            variant: Variant::Base,
            benign_days: 21,
            workstations: 300,
            representatives: 36,
            attack_window_hours: 60,
            benign_period_end: DateTime::from_timestamp(DEFAULT_BENIGN_PERIOD_END, 0)
                .unwrap_or_default(),
        }
    }

    /// The world's size the generator draws, `(representatives, workstations)`: the
    /// config's (raised to their minimum), doubled in the busy variant.
    pub fn world_size(&self) -> (usize, usize) {
        let config = self.normalised();
        let scale = if config.variant == Variant::Busy {
            2
        } else {
            1
        };
        (config.representatives * scale, config.workstations * scale)
    }

    /// This config with every size raised to its minimum, so that a world always has
    /// administrators, attack targets and days to fill. (The busy variant doubles the
    /// representatives and workstations when the world is drawn, not here.)
    pub fn normalised(&self) -> DemoConfig {
        DemoConfig {
            seed: self.seed,
            variant: self.variant,
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
