//! A generated scenario: the three logs rendered, the ground truth, and writing them out.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::attack::{self, AttackOutcome};
use crate::benign::{self, Span};
use crate::recorder::{ApiCaller, Recorder, DAY, HOUR};
use crate::records::{Epoch, Logs};
use crate::truth::GroundTruth;
use crate::world::World;
use crate::{syslog, windows, DemoConfig, DemoError};

/// Name of the appliance syslog file.
pub const APPLIANCE_FILE: &str = "appliance.log";
/// Name of the API audit file.
pub const API_AUDIT_FILE: &str = "api-audit.jsonl";
/// Name of the endpoint events file.
pub const ENDPOINTS_FILE: &str = "endpoints.jsonl";
/// Name of the ground truth file, the generator's answer key.
///
/// YAML, not JSON, because the demo folder is meant to be hunted (`tocsin hunt <folder>`),
/// and a hunt of a folder reads every file with a log extension, `.json` among them: the
/// answer key would be read as a fourth log. Only the three logs carry log extensions; the
/// answer key, like the store and the report the CLI adds, carries one a hunt does not read.
pub const GROUND_TRUTH_FILE: &str = "ground-truth.yaml";

/// How many records each log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RecordCounts {
    /// Appliance messages (a segmented message counts once).
    pub appliance_messages: usize,
    /// Appliance lines (segments included).
    pub appliance_lines: usize,
    /// API audit entries.
    pub api_audit: usize,
    /// Windows endpoint events.
    pub endpoint_events: usize,
}

/// A generated environment and intrusion, its logs rendered in the agreed formats.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// What it was generated from.
    pub config: DemoConfig,
    /// What really happened.
    pub truth: GroundTruth,
    /// How many records each log holds.
    pub counts: RecordCounts,
    appliance_log: String,
    api_audit_log: String,
    endpoints_log: String,
}

/// The paths [`Scenario::write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFiles {
    /// `appliance.log`.
    pub appliance: PathBuf,
    /// `api-audit.jsonl`.
    pub api_audit: PathBuf,
    /// `endpoints.jsonl`.
    pub endpoints: PathBuf,
    /// `ground-truth.yaml`.
    pub ground_truth: PathBuf,
}

impl WrittenFiles {
    /// The three log files, to hand to a hunt (the ground truth is not a log).
    pub fn logs(&self) -> [&Path; 3] {
        [&self.appliance, &self.api_audit, &self.endpoints]
    }
}

impl Scenario {
    /// Generates the scenario `config` describes (sizes below their minimum are raised to
    /// it, see [`DemoConfig::normalised`]); the same config always gives the same bytes.
    pub fn generate(config: &DemoConfig) -> Scenario {
        let config = &config.normalised();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let world = World::generate(&mut rng, config);
        let benign_end = config.benign_period_end.timestamp();
        let start = benign_end - i64::from(config.benign_days) * DAY;
        let first_use = benign_end + rng.random_range(0..config.attack_window_hours * HOUR);
        let mut recorder = Recorder::new(&world);
        let outcome = attack::play(&mut rng, &mut recorder, first_use);
        let end = outcome.revocation + rng.random_range(4..8) * HOUR;
        benign::generate(
            &mut rng,
            &mut recorder,
            Span {
                start,
                end,
                benign_end,
            },
        );
        silence_revoked_key(&mut recorder, &outcome);
        let mut logs = recorder.logs;
        logs.sort();
        let truth = ground_truth(config, &world, outcome, first_use, [start, benign_end, end]);
        render(config, &world, &logs, truth)
    }

    /// The appliance syslog, as written to `appliance.log`.
    pub fn appliance_log(&self) -> &str {
        &self.appliance_log
    }

    /// The API audit log, as written to `api-audit.jsonl`.
    pub fn api_audit_log(&self) -> &str {
        &self.api_audit_log
    }

    /// The Windows endpoint events, as written to `endpoints.jsonl`.
    pub fn endpoints_log(&self) -> &str {
        &self.endpoints_log
    }

    /// The three logs with their file names, to hunt them in memory without writing files.
    pub fn logs(&self) -> [(&'static str, &str); 3] {
        [
            (APPLIANCE_FILE, &self.appliance_log),
            (API_AUDIT_FILE, &self.api_audit_log),
            (ENDPOINTS_FILE, &self.endpoints_log),
        ]
    }

    /// Writes the three logs and the ground truth ([`GROUND_TRUTH_FILE`]) into `dir`,
    /// creating it if needed.
    pub fn write(&self, dir: &Path) -> Result<WrittenFiles, DemoError> {
        fs::create_dir_all(dir).map_err(|source| DemoError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let truth = self.truth.to_yaml()?;
        let files = WrittenFiles {
            appliance: write_file(dir, APPLIANCE_FILE, &self.appliance_log)?,
            api_audit: write_file(dir, API_AUDIT_FILE, &self.api_audit_log)?,
            endpoints: write_file(dir, ENDPOINTS_FILE, &self.endpoints_log)?,
            ground_truth: write_file(dir, GROUND_TRUTH_FILE, &truth)?,
        };
        Ok(files)
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf, DemoError> {
    let path = dir.join(name);
    fs::write(&path, text).map_err(|source| DemoError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// After the revocation the stolen key's own script fails: its usual calls stop, and its
/// next token request is refused.
fn silence_revoked_key(recorder: &mut Recorder<'_>, outcome: &AttackOutcome) {
    let key = &outcome.key;
    let revoked = outcome.revocation;
    let usual_ip = key.ip.to_string();
    let mut next_try = None;
    recorder.logs.api_audit.retain(|entry| {
        let silenced =
            entry.epoch > revoked && entry.api_key_id == key.id && entry.source_ip == key.ip;
        if silenced && next_try.is_none() {
            next_try = Some(entry.epoch);
        }
        !silenced
    });
    recorder.logs.appliance.retain(|message| {
        let field = |name: &str| {
            message
                .fields
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        let by_key = field("who").is_some_and(|who| who.contains(&format!("({})", key.id)));
        !(message.time > revoked && by_key && field("who_ip") == Some(usual_ip.as_str()))
    });
    if let Some(time) = next_try {
        let mut rng = ChaCha8Rng::seed_from_u64(u64::try_from(time).unwrap_or(0));
        recorder.api_call(
            &mut rng,
            time,
            &ApiCaller::usual(key),
            "auth.token",
            "",
            false,
        );
    }
}

fn ground_truth(
    config: &DemoConfig,
    world: &World,
    outcome: AttackOutcome,
    first_use: Epoch,
    [start, benign_end, end]: [Epoch; 3],
) -> GroundTruth {
    let mut steps = outcome.steps;
    steps.sort_by_key(|step| step.time);
    GroundTruth {
        seed: config.seed,
        site: world.site.clone(),
        compromised_key_id: outcome.key.id,
        compromised_key_name: outcome.key.name,
        attacker_ips: outcome.attacker_ips,
        attacker_user_agent: outcome.user_agent,
        first_malicious_use: utc(first_use),
        steps,
        accounts_reset: outcome.accounts_reset,
        hosts_touched: outcome.hosts_touched,
        staging_folder: outcome.staging_folder,
        revocation: utc(outcome.revocation),
        benign_period_start: utc(start),
        benign_period_end: utc(benign_end),
        logs_end: utc(end),
    }
}

fn render(config: &DemoConfig, world: &World, logs: &Logs, truth: GroundTruth) -> Scenario {
    let appliance_log = syslog::render(&world.appliance_host, world.logger_pid, &logs.appliance);
    let mut api_audit_log = String::with_capacity(logs.api_audit.len() * 260);
    for entry in &logs.api_audit {
        if let Ok(line) = serde_json::to_string(entry) {
            api_audit_log.push_str(&line);
            api_audit_log.push('\n');
        }
    }
    let endpoints_log = windows::render(world, &logs.endpoints);
    Scenario {
        config: config.clone(),
        truth,
        counts: RecordCounts {
            appliance_messages: logs.appliance.len(),
            appliance_lines: appliance_log.lines().count(),
            api_audit: logs.api_audit.len(),
            endpoint_events: logs.endpoints.len(),
        },
        appliance_log,
        api_audit_log,
        endpoints_log,
    }
}

fn utc(time: Epoch) -> DateTime<Utc> {
    Utc.timestamp_opt(time, 0).single().unwrap_or_default()
}
