//! Where generators put what happens: one call per record, in the words of the domain
//! (a representative logs in, a key makes a call, a process starts on a workstation).

use std::net::Ipv4Addr;

use chrono::{DateTime, Datelike, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::records::{
    ApiAuditEntry, ApplianceMessage, EndpointEvent, EndpointKind, Epoch, Logs, OutboundEvent,
    Process, ReportEvent, SessionRep, SessionReport,
};
use crate::world::{hex, ApiKey, Representative, World};

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
    /// Key name (the API account's name).
    pub key_name: String,
    /// The API account's OAuth client id.
    pub client_id: String,
    /// Calling address.
    pub ip: Ipv4Addr,
    /// Calling user agent.
    pub user_agent: String,
}

impl ApiCaller {
    /// The key used from its usual place at `time`.
    pub fn usual_at(key: &ApiKey, time: Epoch) -> ApiCaller {
        ApiCaller {
            key_id: key.id.clone(),
            key_name: key.name.clone(),
            client_id: key.client_id.clone(),
            ip: key.ip_at(time),
            user_agent: key.user_agent.to_string(),
        }
    }

    /// `API account name (client_id)`, the appliance's actor for calls made with the key
    /// (no ` using ...`: an API account authenticates with its OAuth client).
    pub fn who(&self) -> String {
        format!("{} ({})", self.key_name, self.client_id)
    }

    /// The API account as the representative of a session it started.
    pub fn session_rep(&self) -> SessionRep {
        SessionRep {
            display_name: self.key_name.clone(),
            username: self.key_name.clone(),
            id: self.client_id.clone(),
            public_ip: self.ip,
        }
    }
}

/// An open support session: its report, id, workstation and support client process.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// Index of its report in the logs.
    pub report: usize,
    /// Its id.
    pub lsid: String,
    /// The workstation.
    pub host: usize,
    /// The support client running the session on the workstation.
    pub client: Process,
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
            client_id: caller.client_id.clone(),
            source_ip: caller.ip,
            user_agent: caller.user_agent.clone(),
            action,
            target: target.to_string(),
            result,
            request_id: format!("r-{}", hex(rng, 12)),
            epoch: time,
        });
        if action == "auth.token" {
            // The OAuth token grant, as the vendor logs an API account's authentication.
            self.appliance(
                time,
                "login",
                vec![
                    ("status", result.to_string()),
                    ("target", "web/api".to_string()),
                    ("who", caller.who()),
                    ("who_ip", caller.ip.to_string()),
                ],
            );
        }
    }

    /// A support session begins on workstation `host` with `rep` as its representative:
    /// the outbound events (begin, representative and customer added), the session
    /// report's first events, and the support client starting on the workstation.
    pub fn begin_session(
        &mut self,
        rng: &mut ChaCha8Rng,
        time: Epoch,
        rep: SessionRep,
        host: usize,
        external_key: &str,
    ) -> SessionHandle {
        let lsid = hex(rng, 32);
        let station = &self.world.workstations[host];
        let (hostname, private_ip, user) = (station.name.clone(), station.ip, station.user.clone());
        let jump_group = station.department.to_string();
        self.outbound(
            time,
            "support_conference_begin",
            vec![
                ("lsid", lsid.clone()),
                ("external_key", external_key.to_string()),
            ],
        );
        self.outbound(
            time,
            "support_conference_member_added",
            vec![
                ("lsid", lsid.clone()),
                ("external_key", external_key.to_string()),
                ("type", "representative".to_string()),
                ("user_id", rep.id.clone()),
                ("username", rep.username.clone()),
                ("display_name", rep.display_name.clone()),
            ],
        );
        self.outbound(
            time + 1,
            "support_conference_member_added",
            vec![
                ("lsid", lsid.clone()),
                ("external_key", external_key.to_string()),
                ("type", "customer".to_string()),
                ("display_name", hostname.clone()),
            ],
        );
        let member = |name: &str| ReportEvent {
            time: time + 1,
            event_type: "Conference Member Added",
            by_rep: false,
            filename: None,
            data: vec![("username", name.to_string())],
        };
        let events = vec![
            ReportEvent {
                time,
                event_type: "Session Start",
                by_rep: false,
                filename: None,
                data: Vec::new(),
            },
            member(&rep.username),
            member(&hostname),
        ];
        self.logs.reports.push(SessionReport {
            lsid: lsid.clone(),
            start: time,
            end: time,
            jump_group,
            external_key: external_key.to_string(),
            rep,
            hostname,
            private_ip,
            customer_user: user,
            events,
        });
        let client = self.start_support_client(rng, time + 2, host, &lsid);
        SessionHandle {
            report: self.logs.reports.len() - 1,
            lsid,
            host,
            client,
        }
    }

    /// An event of an open session, in its report.
    pub fn session_event(
        &mut self,
        session: &SessionHandle,
        time: Epoch,
        event_type: &'static str,
        filename: Option<String>,
    ) {
        let data = match event_type {
            "Command Shell Session Started" => vec![("instance", "1".to_string())],
            _ => Vec::new(),
        };
        if let Some(report) = self.logs.reports.get_mut(session.report) {
            report.events.push(ReportEvent {
                time,
                event_type,
                by_rep: true,
                filename,
                data,
            });
        }
    }

    /// The session ends: the representative and customer leave, the conference ends.
    pub fn end_session(&mut self, session: &SessionHandle, time: Epoch) {
        let Some(report) = self.logs.reports.get_mut(session.report) else {
            return;
        };
        report.end = time;
        report.events.push(ReportEvent {
            time,
            event_type: "Session End",
            by_rep: false,
            filename: None,
            data: Vec::new(),
        });
        let external_key = report.external_key.clone();
        let rep = report.rep.clone();
        let hostname = report.hostname.clone();
        let lsid = session.lsid.clone();
        for (kind, name) in [("customer", hostname), ("representative", rep.username)] {
            self.outbound(
                time,
                "support_conference_member_departed",
                vec![
                    ("lsid", lsid.clone()),
                    ("external_key", external_key.clone()),
                    ("type", kind.to_string()),
                    ("display_name", name),
                ],
            );
        }
        self.outbound(
            time,
            "support_conference_end",
            vec![("lsid", lsid), ("external_key", external_key)],
        );
    }

    /// A Vault account holding an endpoint's local credential changed its password
    /// (`account_changed`, `password=***`), by `who` from `ip`.
    pub fn vault_account_changed(
        &mut self,
        time: Epoch,
        who: &str,
        ip: Ipv4Addr,
        account: &str,
        host: usize,
    ) {
        let station = &self.world.workstations[host];
        let id = 100
            + host * 4
            + station
                .local_accounts
                .iter()
                .position(|a| a == account)
                .unwrap_or(0);
        let fields = vec![
            ("id", id.to_string()),
            ("name", format!("{account}@{}", station.name)),
            ("username", account.to_string()),
            ("password", "***".to_string()),
            ("group", "0".to_string()),
            ("personal", "0".to_string()),
            ("auto_rotate_credentials", "0".to_string()),
            ("allow_simultaneous_checkout", "0".to_string()),
            ("who", who.to_string()),
            ("who_ip", ip.to_string()),
        ];
        self.appliance(time, "account_changed", fields);
    }

    /// A site user (`rep`) changed by `who` from `ip`: the vendor's snapshot of the old
    /// settings (`old_*`) and the changed ones (`new`, as `new_*` pairs).
    pub fn user_changed(
        &mut self,
        time: Epoch,
        who: &str,
        ip: Ipv4Addr,
        rep: &Representative,
        new: &[(&'static str, &str)],
    ) {
        let mut fields = user_settings(rep, "old");
        fields.extend(new.iter().map(|(k, v)| (*k, (*v).to_string())));
        fields.extend([("who", who.to_string()), ("who_ip", ip.to_string())]);
        self.appliance(time, "user_changed", fields);
    }

    /// An administrator logs in to the web administrative interface (`/login`) a little
    /// before `time`, to make a change there.
    pub fn web_login(&mut self, time: Epoch, admin: &Representative) {
        self.appliance(
            time - 2 * MINUTE,
            "login",
            vec![
                ("status", "success".to_string()),
                ("target", "web/login".to_string()),
                ("who", admin.who_using()),
                ("who_ip", admin.ip.to_string()),
            ],
        );
    }

    /// A site user added by an administrator (`user_added`, the new user's settings).
    pub fn user_added(&mut self, time: Epoch, admin: &Representative, rep: &Representative) {
        self.web_login(time, admin);
        let mut fields = user_settings(rep, "new");
        fields.extend([
            ("new_password", "***NEW***".to_string()),
            ("who", admin.who_using()),
            ("who_ip", admin.ip.to_string()),
        ]);
        self.appliance(time, "user_added", fields);
    }

    /// An API account added (`api_account_added`) or changed (`api_account_changed`,
    /// with `new` as `new_*` pairs), by an administrator in `/login`.
    pub fn api_account_changed(
        &mut self,
        time: Epoch,
        admin: &Representative,
        key: &ApiKey,
        new: &[(&'static str, &str)],
    ) {
        self.web_login(time, admin);
        let event = if new.is_empty() {
            "api_account_added"
        } else {
            "api_account_changed"
        };
        let mut fields = vec![
            ("id", key.id.trim_start_matches("k-").to_string()),
            ("name", key.name.clone()),
            ("client_id", key.client_id.clone()),
            ("client_secret", "******".to_string()),
            ("enabled", "1".to_string()),
            ("ip_addresses", String::new()),
            ("permissions:command", "full_access".to_string()),
            ("permissions:reporting:support", "1".to_string()),
            ("permissions:backup", "0".to_string()),
        ];
        fields.extend(new.iter().map(|(k, v)| (*k, (*v).to_string())));
        fields.extend([("who", admin.who_using()), ("who_ip", admin.ip.to_string())]);
        self.appliance(time, event, fields);
    }

    /// An outbound event; `event` is put first.
    fn outbound(&mut self, time: Epoch, event: &'static str, fields: Vec<(&'static str, String)>) {
        let mut all = vec![("event", event.to_string())];
        all.extend(fields);
        self.logs.outbound.push(OutboundEvent { time, fields: all });
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

/// A site user's settings as the vendor's `user_*` events list them, keys prefixed with
/// `prefix` (`old` or `new`).
fn user_settings(rep: &Representative, prefix: &str) -> Vec<(&'static str, String)> {
    let admin = if rep.is_admin { "1" } else { "0" };
    let settings: [(&'static str, &'static str, String); 10] = [
        ("old_username", "new_username", rep.user.clone()),
        ("old_id", "new_id", rep.id.to_string()),
        (
            "old_public_display_name",
            "new_public_display_name",
            rep.name.clone(),
        ),
        (
            "old_private_display_name",
            "new_private_display_name",
            rep.name.clone(),
        ),
        (
            "old_account:disabled",
            "new_account:disabled",
            "0".to_string(),
        ),
        (
            "old_account:expiration",
            "new_account:expiration",
            "never".to_string(),
        ),
        (
            "old_password:expiration",
            "new_password:expiration",
            "never".to_string(),
        ),
        (
            "old_permissions:admin",
            "new_permissions:admin",
            admin.to_string(),
        ),
        (
            "old_permissions:support",
            "new_permissions:support",
            "1".to_string(),
        ),
        (
            "old_permissions:support:jump:clients",
            "new_permissions:support:jump:clients",
            "1".to_string(),
        ),
    ];
    settings
        .into_iter()
        .map(|(old, new, value)| (if prefix == "old" { old } else { new }, value))
        .collect()
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
