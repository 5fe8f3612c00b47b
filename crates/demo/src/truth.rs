//! What really happened in a scenario, to score detections against: the stolen key, the
//! attacker's addresses, each attack step with its time, and the periods of the logs.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{yaml, DemoError, Variant};

/// The answer key of a generated scenario, written as `ground-truth.yaml`
/// ([`GROUND_TRUTH_FILE`](crate::GROUND_TRUTH_FILE)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// The seed the scenario was generated from.
    pub seed: u64,
    /// The intrusion variant played.
    pub variant: Variant,
    /// The remote-support site (`support.<org>.example`).
    pub site: String,
    /// Id of the stolen API key.
    pub compromised_key_id: String,
    /// Name of the stolen API key (its API account's name in the appliance's logs).
    pub compromised_key_name: String,
    /// The stolen API account's OAuth client id, as the appliance's `who` names it.
    pub compromised_client_id: String,
    /// Addresses the attacker used the key from, in order of first use.
    pub attacker_ips: Vec<Ipv4Addr>,
    /// User agent of the attacker's tooling.
    pub attacker_user_agent: String,
    /// The key's first malicious use (the token request from the attacker's address).
    pub first_malicious_use: DateTime<Utc>,
    /// The first password reset the attacker made (a local account's, or in the
    /// site-account variant the site user's): the stealthy variant's detection clock.
    pub first_password_reset: Option<DateTime<Utc>>,
    /// The site user (representative) whose password the attacker reset and logged in
    /// as, in the site-account variant.
    pub site_account: Option<String>,
    /// The ids (`lsid`) of the support sessions the attacker opened.
    pub attack_sessions: Vec<String>,
    /// Every attack step, in time order.
    pub steps: Vec<AttackStep>,
    /// Local accounts whose password the attacker reset, `account@HOST`.
    pub accounts_reset: Vec<String>,
    /// Workstations the attacker opened sessions to.
    pub hosts_touched: Vec<String>,
    /// Folder the attacker staged documents in on each workstation.
    pub staging_folder: String,
    /// When the vendor revoked the key.
    pub revocation: DateTime<Utc>,
    /// Start of the logs (and of the benign period).
    pub benign_period_start: DateTime<Utc>,
    /// End of the benign period: everything before it is ordinary activity.
    pub benign_period_end: DateTime<Utc>,
    /// End of the logs.
    pub logs_end: DateTime<Utc>,
}

impl GroundTruth {
    /// The ground truth as the YAML document [`Scenario::write`](crate::Scenario::write)
    /// puts in the demo folder (keys in alphabetical order, strings double-quoted).
    ///
    /// # Errors
    ///
    /// [`DemoError::Serialize`] should a field not serialise (none is known to).
    pub fn to_yaml(&self) -> Result<String, DemoError> {
        let value = serde_json::to_value(self).map_err(DemoError::Serialize)?;
        Ok(yaml::to_yaml(&value))
    }
}

/// One step of the intrusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackStep {
    /// When it happened.
    pub time: DateTime<Utc>,
    /// What kind of step it is.
    pub kind: StepKind,
    /// The workstation it happened on or was aimed at, if any.
    pub host: Option<String>,
    /// A one-line description (the account, command or file).
    pub detail: String,
}

/// The kinds of attack steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A token requested with the stolen key from new infrastructure.
    TokenAuthentication,
    /// Listing users, sessions or jump clients through the API.
    Reconnaissance,
    /// A local account's password reset through the API.
    PasswordReset,
    /// A site user's (representative's) password reset through the API.
    SiteUserPasswordReset,
    /// The attacker logging in to the representative console with a site user's password.
    ConsoleLogin,
    /// A remote session opened to a workstation.
    SessionStart,
    /// The support client spawning a shell on a workstation.
    ShellSpawned,
    /// Enumerating users' documents.
    DocumentEnumeration,
    /// Copying documents into the staging folder.
    DocumentStaging,
    /// Archiving the staged documents.
    ArchiveCreated,
    /// Downloading the archive through the session.
    FileDownload,
    /// The session closed.
    SessionEnd,
    /// The vendor revoking the key.
    KeyRevoked,
    /// The attacker trying the revoked key.
    RevokedKeyRejected,
}
