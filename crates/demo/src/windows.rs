//! Renders endpoint events as the JSON the `evtx` crate prints for Sysmon and Security
//! records (agreed format 3): `{"Event":{"System":{...},"EventData":{...}}}`, one per line.

use std::collections::HashMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use chrono::DateTime;
use serde_json::{json, Value};

use crate::records::{EndpointEvent, EndpointKind, Epoch, Process};
use crate::world::{Workstation, World};

const SYSMON_CHANNEL: &str = "Microsoft-Windows-Sysmon/Operational";
const SYSMON_PROVIDER: &str = "Microsoft-Windows-Sysmon";
const SECURITY_PROVIDER: &str = "Microsoft-Windows-Security-Auditing";

/// All endpoint events, one JSON object per line, numbering each host's records.
pub(crate) fn render(world: &World, events: &[EndpointEvent]) -> String {
    let mut record_ids: HashMap<usize, u64> = HashMap::new();
    let mut out = String::with_capacity(events.len() * 700);
    for event in events {
        let record_id = record_ids.entry(event.host).or_insert(0);
        *record_id += 1;
        let _ = writeln!(out, "{}", render_event(world, event, *record_id));
    }
    out
}

fn render_event(world: &World, event: &EndpointEvent, record_id: u64) -> Value {
    let station = &world.workstations[event.host];
    let (provider, channel, event_id, data) = match &event.kind {
        EndpointKind::ProcessCreate { process, parent } => (
            SYSMON_PROVIDER,
            SYSMON_CHANNEL,
            1,
            process_create(event, process, parent),
        ),
        EndpointKind::FileCreate { process, target } => (
            SYSMON_PROVIDER,
            SYSMON_CHANNEL,
            11,
            file_create(event, process, target),
        ),
        EndpointKind::NetworkConnect {
            process,
            destination,
            port,
        } => (
            SYSMON_PROVIDER,
            SYSMON_CHANNEL,
            3,
            network_connect(event, station, process, *destination, *port),
        ),
        EndpointKind::Logon {
            user,
            domain,
            logon_type,
            source,
        } => (
            SECURITY_PROVIDER,
            "Security",
            4624,
            logon(world, station, user, domain, *logon_type, source),
        ),
        EndpointKind::PasswordReset {
            target_user,
            subject_user,
        } => (
            SECURITY_PROVIDER,
            "Security",
            4724,
            password_reset(world, station, target_user, subject_user),
        ),
    };
    json!({
        "Event": {
            "System": {
                "Provider": { "#attributes": { "Name": provider } },
                "EventID": event_id,
                "Level": 4,
                "Channel": channel,
                "Computer": station.fqdn,
                "TimeCreated": { "#attributes": { "SystemTime": system_time(event.time) } },
                "EventRecordID": record_id,
            },
            "EventData": data,
        }
    })
}

fn process_create(event: &EndpointEvent, process: &Process, parent: &Process) -> Value {
    let original = process.image.rsplit('\\').next().unwrap_or_default();
    json!({
        "RuleName": "-",
        "UtcTime": sysmon_time(event.time),
        "ProcessGuid": process_guid(event.host, process),
        "ProcessId": process.pid,
        "Image": process.image,
        "OriginalFileName": original,
        "CommandLine": process.command_line,
        "CurrentDirectory": r"C:\Windows\system32\",
        "User": process.user,
        "IntegrityLevel": if process.user.contains("SYSTEM") { "System" } else { "High" },
        "ParentProcessGuid": process_guid(event.host, parent),
        "ParentProcessId": parent.pid,
        "ParentImage": parent.image,
        "ParentCommandLine": parent.command_line,
        "ParentUser": parent.user,
    })
}

fn file_create(event: &EndpointEvent, process: &Process, target: &str) -> Value {
    json!({
        "RuleName": "-",
        "UtcTime": sysmon_time(event.time),
        "ProcessGuid": process_guid(event.host, process),
        "ProcessId": process.pid,
        "Image": process.image,
        "TargetFilename": target,
        "CreationUtcTime": sysmon_time(event.time),
        "User": process.user,
    })
}

fn network_connect(
    event: &EndpointEvent,
    station: &Workstation,
    process: &Process,
    destination: Ipv4Addr,
    port: u16,
) -> Value {
    json!({
        "RuleName": "-",
        "UtcTime": sysmon_time(event.time),
        "ProcessGuid": process_guid(event.host, process),
        "ProcessId": process.pid,
        "Image": process.image,
        "User": process.user,
        "Protocol": "tcp",
        "Initiated": true,
        "SourceIsIpv6": false,
        "SourceIp": station.ip.to_string(),
        "SourceHostname": station.fqdn,
        "SourcePort": 49_152 + (process.pid % 16_000),
        "DestinationIsIpv6": false,
        "DestinationIp": destination.to_string(),
        "DestinationPort": port,
    })
}

fn logon(
    world: &World,
    station: &Workstation,
    user: &str,
    domain: &str,
    logon_type: u8,
    source: &str,
) -> Value {
    json!({
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": format!("{}$", station.name),
        "SubjectDomainName": world.netbios,
        "TargetUserName": user,
        "TargetDomainName": domain,
        "LogonType": logon_type,
        "LogonProcessName": "User32",
        "AuthenticationPackageName": "Negotiate",
        "WorkstationName": station.name,
        "IpAddress": source,
        "IpPort": "0",
    })
}

fn password_reset(world: &World, station: &Workstation, target: &str, subject: &str) -> Value {
    json!({
        "TargetUserName": target,
        "TargetDomainName": station.name,
        "SubjectUserSid": "S-1-5-18",
        "SubjectUserName": subject,
        "SubjectDomainName": world.netbios,
        "SubjectLogonId": "0x3e7",
    })
}

/// A stable GUID for a process of a host, derived from the host and process id.
fn process_guid(host: usize, process: &Process) -> String {
    format!(
        "{{5770385f-{:04x}-{:04x}-0000-0010{:08x}}}",
        host & 0xffff,
        process.pid & 0xffff,
        process.pid
    )
}

/// `2024-12-02T03:20:11.000000Z`.
fn system_time(time: Epoch) -> String {
    DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

/// `2024-12-02 03:20:11.000`, as Sysmon writes `UtcTime`.
fn sysmon_time(time: Epoch) -> String {
    DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}
