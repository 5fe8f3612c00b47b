//! The generated records, typed, before they are rendered into the log formats.
//!
//! Generators push records in any order; [`Logs::sort`] puts each log in time order (stable,
//! so records pushed for the same second keep their causal order).

use std::net::Ipv4Addr;

use serde::Serialize;

/// Seconds since the Unix epoch, UTC.
pub(crate) type Epoch = i64;

/// One message of the appliance's syslog: the body's `key=value` pairs in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApplianceMessage {
    /// When the appliance logged it (also written as `when=`).
    pub time: Epoch,
    /// The body's pairs; `when` is added when rendering.
    pub fields: Vec<(&'static str, String)>,
}

/// One line of the API audit log, in the agreed field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ApiAuditEntry {
    /// RFC 3339 time, whole seconds, `Z`.
    pub time: String,
    /// The site.
    pub site: String,
    /// The key that made the call.
    pub api_key_id: String,
    /// Its name.
    pub api_key_name: String,
    /// The OAuth client id of the API account the key belongs to, as the appliance names
    /// the account (`who=name (client id)`).
    pub client_id: String,
    /// Caller's address.
    pub source_ip: Ipv4Addr,
    /// Caller's user agent.
    pub user_agent: String,
    /// What was done (`user.password_reset`, ...).
    pub action: &'static str,
    /// What it was done to (an account, a host, a key); empty when nothing.
    pub target: String,
    /// `success` or `failure`.
    pub result: &'static str,
    /// Request id.
    pub request_id: String,
    /// Epoch seconds, for sorting only.
    #[serde(skip)]
    pub epoch: Epoch,
}

/// A Windows event on one workstation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EndpointEvent {
    /// When it happened.
    pub time: Epoch,
    /// Index of the workstation in the world.
    pub host: usize,
    /// What happened.
    pub kind: EndpointKind,
}

/// A process as Sysmon describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Process {
    /// Executable path.
    pub image: String,
    /// Full command line.
    pub command_line: String,
    /// Process id.
    pub pid: u32,
    /// Account, `DOMAIN\user`.
    pub user: String,
}

/// The kinds of Windows events the generator writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EndpointKind {
    /// Sysmon 1.
    ProcessCreate {
        /// The new process.
        process: Process,
        /// Its parent.
        parent: Process,
    },
    /// Sysmon 11.
    FileCreate {
        /// The process that created the file.
        process: Process,
        /// The file.
        target: String,
    },
    /// Sysmon 3.
    NetworkConnect {
        /// The connecting process.
        process: Process,
        /// Remote address.
        destination: Ipv4Addr,
        /// Remote port.
        port: u16,
    },
    /// Security 4624.
    Logon {
        /// Account that logged on.
        user: String,
        /// Its domain (or host name for local accounts).
        domain: String,
        /// Logon type (2 interactive, 3 network, 10 remote interactive, 11 cached).
        logon_type: u8,
        /// Source address, `-` when local.
        source: String,
    },
    /// Security 4724 (an attempt to reset an account's password).
    PasswordReset {
        /// The account whose password was reset.
        target_user: String,
        /// Who reset it.
        subject_user: String,
    },
}

/// One outbound event the appliance POSTs: `event`, `timestamp` and its variables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboundEvent {
    /// When it originated (`timestamp=`).
    pub time: Epoch,
    /// `event` first, then the per-event variables in order (`version` and `timestamp`
    /// are added when rendering).
    pub fields: Vec<(&'static str, String)>,
}

/// Who took part in a session as its representative: a person, or an API account whose
/// integration started it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionRep {
    /// Display name (an API account's name).
    pub display_name: String,
    /// User name (an API account's name).
    pub username: String,
    /// The site's user id, or an API account's OAuth client id.
    pub id: String,
    /// Public address of the representative's console or the integration.
    pub public_ip: Ipv4Addr,
}

/// One event of a session report.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReportEvent {
    /// When it happened.
    pub time: Epoch,
    /// The vendor's `event_type`.
    pub event_type: &'static str,
    /// Whether the representative performed it (else the system).
    pub by_rep: bool,
    /// The file of a file transfer.
    pub filename: Option<String>,
    /// `<data><value name value/></data>` pairs.
    pub data: Vec<(&'static str, String)>,
}

/// One support session as the reporting API describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionReport {
    /// The session's id (32 hex digits).
    pub lsid: String,
    /// Start.
    pub start: Epoch,
    /// End.
    pub end: Epoch,
    /// Jump group of the customer's jump client.
    pub jump_group: String,
    /// Ticket number an integration attached, empty otherwise.
    pub external_key: String,
    /// The representative (or API account).
    pub rep: SessionRep,
    /// The customer machine's host name (short).
    pub hostname: String,
    /// The customer machine's private address.
    pub private_ip: Ipv4Addr,
    /// Its signed-in user.
    pub customer_user: String,
    /// The session's events.
    pub events: Vec<ReportEvent>,
}

/// The logs being generated.
#[derive(Debug, Default, Clone)]
pub(crate) struct Logs {
    /// Appliance syslog messages.
    pub appliance: Vec<ApplianceMessage>,
    /// Outbound events.
    pub outbound: Vec<OutboundEvent>,
    /// Session reports, one per session.
    pub reports: Vec<SessionReport>,
    /// API audit entries.
    pub api_audit: Vec<ApiAuditEntry>,
    /// Windows endpoint events.
    pub endpoints: Vec<EndpointEvent>,
}

impl Logs {
    /// Puts every log in time order, keeping the push order of equal times.
    pub fn sort(&mut self) {
        self.appliance.sort_by_key(|m| m.time);
        self.outbound.sort_by_key(|e| e.time);
        self.reports.sort_by_key(|r| r.start);
        for report in &mut self.reports {
            report.events.sort_by_key(|e| e.time);
        }
        self.api_audit.sort_by_key(|e| e.epoch);
        self.endpoints.sort_by_key(|e| e.time);
    }
}
