//! A generated scenario: the logs rendered, the ground truth, and writing them out.

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
use crate::truth::{GroundTruth, StepKind};
use crate::world::World;
use crate::{sessions, syslog, windows, DemoConfig, DemoError, Variant};

/// Name of the appliance syslog file.
pub const APPLIANCE_FILE: &str = "appliance.log";
/// Name of the API audit file.
pub const API_AUDIT_FILE: &str = "api-audit.jsonl";
/// Name of the endpoint events file.
pub const ENDPOINTS_FILE: &str = "endpoints.jsonl";
/// Name of the outbound events file: the POST bodies an HTTP recipient captured, one per
/// line.
pub const OUTBOUND_FILE: &str = "outbound-events.log";
/// Name of the session reports file (the reporting API's `SupportSession` XML). Folders
/// are hunted for `.xml` only when `--extensions` names it.
pub const SESSION_REPORT_FILE: &str = "session-reports.xml";
/// Name of the ground truth file, the generator's answer key.
///
/// YAML, not JSON, because the demo folder is meant to be hunted (`tocsin hunt <folder>`),
/// and a hunt of a folder reads every file with a log extension, `.json` among them: the
/// answer key would be read as a log. Only the logs carry log extensions; the answer key,
/// like the store and the report the CLI adds, carries one a hunt does not read.
pub const GROUND_TRUTH_FILE: &str = "ground-truth.yaml";

/// How many records each log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RecordCounts {
    /// Appliance messages (a segmented message counts once).
    pub appliance_messages: usize,
    /// Appliance lines (segments included).
    pub appliance_lines: usize,
    /// API audit entries (none when the variant has no API audit log).
    pub api_audit: usize,
    /// Windows endpoint events.
    pub endpoint_events: usize,
    /// Outbound events.
    pub outbound_events: usize,
    /// Support sessions in the session reports.
    pub sessions: usize,
    /// Events in the session reports.
    pub session_report_events: usize,
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
    outbound_log: String,
    session_report_log: String,
}

/// The paths [`Scenario::write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFiles {
    /// `appliance.log`.
    pub appliance: PathBuf,
    /// `api-audit.jsonl`, unless the variant has no API audit log.
    pub api_audit: Option<PathBuf>,
    /// `endpoints.jsonl`.
    pub endpoints: PathBuf,
    /// `outbound-events.log`.
    pub outbound: PathBuf,
    /// `session-reports.xml`.
    pub session_report: PathBuf,
    /// `ground-truth.yaml`.
    pub ground_truth: PathBuf,
}

impl WrittenFiles {
    /// The log files, to hand to a hunt (the ground truth is not a log).
    pub fn logs(&self) -> Vec<&Path> {
        let mut logs = vec![self.appliance.as_path()];
        logs.extend(self.api_audit.as_deref());
        logs.extend([
            self.endpoints.as_path(),
            self.outbound.as_path(),
            self.session_report.as_path(),
        ]);
        logs
    }
}

impl Scenario {
    /// Generates the scenario `config` describes (sizes below their minimum are raised to
    /// it, see [`DemoConfig::normalised`]); the same config always gives the same bytes.
    pub fn generate(config: &DemoConfig) -> Scenario {
        let config = &config.normalised();
        // The variant is mixed into the seed, so that each variant draws its own world.
        let variant_index = Variant::ALL
            .iter()
            .position(|v| *v == config.variant)
            .unwrap_or(0) as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(
            config.seed ^ variant_index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let (representatives, workstations) = config.world_size();
        let sized = DemoConfig {
            representatives,
            workstations,
            ..config.clone()
        };
        let mut world = World::generate(&mut rng, &sized);
        world.busy = config.variant == Variant::Busy;
        let world = world;
        let benign_end = config.benign_period_end.timestamp();
        let start = benign_end - i64::from(config.benign_days) * DAY;
        let mut recorder = Recorder::new(&world);
        let outcome = attack::play(
            &mut rng,
            &mut recorder,
            config.variant,
            benign_end,
            config.attack_window_hours * HOUR,
        );
        let first_use = outcome.first_use;
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

    /// The outbound events, as written to `outbound-events.log`.
    pub fn outbound_log(&self) -> &str {
        &self.outbound_log
    }

    /// The session reports, as written to `session-reports.xml`.
    pub fn session_report_log(&self) -> &str {
        &self.session_report_log
    }

    /// The logs with their file names, to hunt them in memory without writing files (the
    /// API audit log only when the variant keeps one).
    pub fn logs(&self) -> Vec<(&'static str, &str)> {
        let mut logs = vec![(APPLIANCE_FILE, self.appliance_log.as_str())];
        if self.config.variant.has_api_audit() {
            logs.push((API_AUDIT_FILE, self.api_audit_log.as_str()));
        }
        logs.extend([
            (ENDPOINTS_FILE, self.endpoints_log.as_str()),
            (OUTBOUND_FILE, self.outbound_log.as_str()),
            (SESSION_REPORT_FILE, self.session_report_log.as_str()),
        ]);
        logs
    }

    /// Writes the logs and the ground truth ([`GROUND_TRUTH_FILE`]) into `dir`, creating
    /// it if needed.
    pub fn write(&self, dir: &Path) -> Result<WrittenFiles, DemoError> {
        fs::create_dir_all(dir).map_err(|source| DemoError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let truth = self.truth.to_yaml()?;
        let files = WrittenFiles {
            appliance: write_file(dir, APPLIANCE_FILE, &self.appliance_log)?,
            api_audit: if self.config.variant.has_api_audit() {
                Some(write_file(dir, API_AUDIT_FILE, &self.api_audit_log)?)
            } else {
                None
            },
            endpoints: write_file(dir, ENDPOINTS_FILE, &self.endpoints_log)?,
            outbound: write_file(dir, OUTBOUND_FILE, &self.outbound_log)?,
            session_report: write_file(dir, SESSION_REPORT_FILE, &self.session_report_log)?,
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
    let mut next_try = None;
    recorder.logs.api_audit.retain(|entry| {
        let silenced = entry.epoch > revoked
            && entry.api_key_id == key.id
            && entry.source_ip == key.ip_at(entry.epoch);
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
        let by_key = field("who").is_some_and(|who| who.contains(&format!("({})", key.client_id)));
        let usual_ip = key.ip_at(message.time).to_string();
        !(message.time > revoked && by_key && field("who_ip") == Some(usual_ip.as_str()))
    });
    if let Some(time) = next_try {
        let mut rng = ChaCha8Rng::seed_from_u64(u64::try_from(time).unwrap_or(0));
        recorder.api_call(
            &mut rng,
            time,
            &ApiCaller::usual_at(key, time),
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
    let first_password_reset = steps
        .iter()
        .find(|step| {
            matches!(
                step.kind,
                StepKind::PasswordReset | StepKind::SiteUserPasswordReset
            )
        })
        .map(|step| step.time);
    GroundTruth {
        seed: config.seed,
        variant: config.variant,
        site: world.site.clone(),
        compromised_key_id: outcome.key.id,
        compromised_key_name: outcome.key.name,
        compromised_client_id: outcome.key.client_id,
        first_password_reset,
        site_account: outcome.site_account,
        attack_sessions: outcome.sessions,
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
    let header = syslog::Header {
        host: &world.appliance_host,
        site_id: world.site_id,
        pids: &world.logger_pids,
        utc_offset_hours: world.hq_utc_offset_hours,
        seed: config.seed,
    };
    let appliance_log = syslog::render(&header, &logs.appliance);
    let outbound_log = sessions::render_outbound(&world.appliance_id, &logs.outbound);
    let session_report_log = sessions::render_reports(&logs.reports);
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
            api_audit: if config.variant.has_api_audit() {
                logs.api_audit.len()
            } else {
                0
            },
            endpoint_events: logs.endpoints.len(),
            outbound_events: logs.outbound.len(),
            sessions: logs.reports.len(),
            session_report_events: logs.reports.iter().map(|r| r.events.len()).sum(),
        },
        appliance_log,
        api_audit_log: if config.variant.has_api_audit() {
            api_audit_log
        } else {
            String::new()
        },
        endpoints_log,
        outbound_log,
        session_report_log,
    }
}

fn utc(time: Epoch) -> DateTime<Utc> {
    Utc.timestamp_opt(time, 0).single().unwrap_or_default()
}
