//! Where generators put what happens: one call per record, in the words of the domain
//! (a representative logs in, a key makes a call, a process starts on a workstation).

use std::net::Ipv4Addr;

use chrono::{DateTime, Datelike, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::records::{
    ApiAuditEntry, ApplianceMessage, EndpointEvent, EndpointKind, Epoch, Logs, Process,
};
use crate::world::{hex, ApiKey, World};

/// Seconds in a minute.
pub(crate) const MINUTE: Epoch = 60;
/// Seconds in an hour.
pub(crate) const HOUR: Epoch = 3_600;
/// Seconds in a day.
pub(crate) const DAY: Epoch = 86_400;

/// Path of the BeyondTrust Remote Support customer client on the workstations.
pub(crate) const SUPPORT_CLIENT: &str =
    r"C:\Program Files\BeyondTrust\Remote Support\bomgar-scc.exe";

/// Who called the API: a key as seen from one address with one user agent.
#[derive(Debug, Clone)]
pub(crate) struct ApiCaller {
    /// Key id.
    pub key_id: String,
    /// Key name.
    pub key_name: String,
    /// Calling address.
    pub ip: Ipv4Addr,
    /// Calling user agent.
    pub user_agent: String,
}

impl ApiCaller {
    /// The key used from its usual place.
    pub fn usual(key: &ApiKey) -> ApiCaller {
        ApiCaller {
            key_id: key.id.clone(),
            key_name: key.name.clone(),
            ip: key.ip,
            user_agent: key.user_agent.to_string(),
        }
    }

    /// `name(id) using api_key`, the appliance's actor for calls made with the key.
    pub fn who(&self) -> String {
        format!("{}({}) using api_key", self.key_name, self.key_id)
    }
}

/// The logs being written, and the world they describe.
pub(crate) struct Recorder<'w> {
    /// The world.
    pub world: &'w World,
    /// What has been recorded so far.
    pub logs: Logs,
}

impl<'w> Recorder<'w> {
    /// An empty recorder for `world`.
    pub fn new(world: &'w World) -> Self {
        Recorder {
            world,
            logs: Logs::default(),
        }
    }

    /// An appliance message; `event` and `site` are added in front of `fields`.
    pub fn appliance(&mut self, time: Epoch, event: &str, fields: Vec<(&'static str, String)>) {
        let mut all = vec![
            ("event", event.to_string()),
            ("site", self.world.site.clone()),
        ];
        all.extend(fields);
        self.logs
            .appliance
            .push(ApplianceMessage { time, fields: all });
    }

    /// An API call, in the audit log; token authentications also reach the appliance log.
    pub fn api_call(
        &mut self,
        rng: &mut ChaCha8Rng,
        time: Epoch,
        caller: &ApiCaller,
        action: &'static str,
        target: &str,
        success: bool,
    ) {
        let result = if success { "success" } else { "failure" };
        self.logs.api_audit.push(ApiAuditEntry {
            time: rfc3339(time),
            site: self.world.site.clone(),
            api_key_id: caller.key_id.clone(),
            api_key_name: caller.key_name.clone(),
            source_ip: caller.ip,
            user_agent: caller.user_agent.clone(),
            action,
            target: target.to_string(),
            result,
            request_id: format!("r-{}", hex(rng, 12)),
            epoch: time,
        });
        if action == "auth.token" {
            self.appliance(
                time,
                "api_authentication",
                vec![
                    ("api_key_id", caller.key_id.clone()),
                    ("status", result.to_string()),
                    ("target", "api/oauth2/token".to_string()),
                    ("who", caller.who()),
                    ("who_ip", caller.ip.to_string()),
                ],
            );
        }
    }

    /// A Windows event on workstation `host`.
    pub fn endpoint(&mut self, time: Epoch, host: usize, kind: EndpointKind) {
        self.logs.endpoints.push(EndpointEvent { time, host, kind });
    }

    /// Starts a process on `host` (Sysmon 1) and returns it, to be a parent in turn.
    pub fn spawn(
        &mut self,
        rng: &mut ChaCha8Rng,
        time: Epoch,
        host: usize,
        parent: &Process,
        image: &str,
        arguments: &str,
    ) -> Process {
        let command_line = if arguments.is_empty() {
            format!("\"{image}\"")
        } else {
            format!("\"{image}\" {arguments}")
        };
        let process = Process {
            image: image.to_string(),
            command_line,
            pid: rng.random_range(1_000..20_000) * 4,
            user: parent.user.clone(),
        };
        self.endpoint(
            time,
            host,
            EndpointKind::ProcessCreate {
                process: process.clone(),
                parent: parent.clone(),
            },
        );
        process
    }

    /// `process` creates `target` on `host` (Sysmon 11).
    pub fn create_file(&mut self, time: Epoch, host: usize, process: &Process, target: String) {
        self.endpoint(
            time,
            host,
            EndpointKind::FileCreate {
                process: process.clone(),
                target,
            },
        );
    }

    /// The support client of a session starting on `host`, with its connection to the
    /// appliance; returns the client process.
    pub fn start_support_client(
        &mut self,
        rng: &mut ChaCha8Rng,
        time: Epoch,
        host: usize,
        session_id: &str,
    ) -> Process {
        let service = Process {
            image: SUPPORT_CLIENT.to_string(),
            command_line: format!("\"{SUPPORT_CLIENT}\" -service"),
            pid: 2_000 + u32::try_from(host % 500).unwrap_or(0) * 4,
            user: r"NT AUTHORITY\SYSTEM".to_string(),
        };
        let client = self.spawn(
            rng,
            time,
            host,
            &service,
            SUPPORT_CLIENT,
            &format!("-session {session_id}"),
        );
        let appliance_ip = self.world.appliance_ip;
        self.endpoint(
            time + 1,
            host,
            EndpointKind::NetworkConnect {
                process: client.clone(),
                destination: appliance_ip,
                port: 443,
            },
        );
        client
    }
}

/// `2024-12-02T03:14:07Z`.
pub(crate) fn rfc3339(time: Epoch) -> String {
    DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Whether the local day that starts at `local_midnight` (a UTC instant) is a weekday.
/// `utc_offset_hours` shifts it back to the calendar date.
pub(crate) fn is_weekday(local_midnight: Epoch, utc_offset_hours: i64) -> bool {
    let date = DateTime::from_timestamp(local_midnight + utc_offset_hours * HOUR, 0);
    !matches!(
        date.map(|d| d.weekday()),
        Some(Weekday::Sat) | Some(Weekday::Sun)
    )
}

/// The UTC instant of local midnight of UTC day `utc_day_start` in zone `utc_offset_hours`.
pub(crate) fn local_midnight(utc_day_start: Epoch, utc_offset_hours: i64) -> Epoch {
    utc_day_start - utc_offset_hours * HOUR
}
