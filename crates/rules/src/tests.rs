//! The built-in rules parse, compile and carry complete metadata; each fires on the events
//! it is written for and not on their benign look-alikes; and on generated scenarios they
//! find the intrusion early and stay quiet in ordinary weeks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tocsin_decode::{from_bytes, DecodeOptions};
use tocsin_demo::{DemoConfig, Scenario};
use tocsin_engine::{Engine, EngineBuilder, Scratch};
use tocsin_event::{Event, Fields, Value};
use tocsin_sigma::ast::{Document, Level, Metadata, Status};

use crate::{builtin, builtin_documents};

fn documents() -> Vec<Document> {
    builtin_documents().unwrap_or_else(|e| panic!("a built-in rule does not parse: {e}"))
}

fn engine() -> Engine {
    let (engine, report) = EngineBuilder::new().build(&documents());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    engine
}

fn metadata(doc: &Document) -> &Metadata {
    match doc {
        Document::Rule(r) => &r.meta,
        Document::Filter(f) => &f.meta,
        Document::Correlation(c) => &c.meta,
    }
}

/// The file names (without `.yml`) of the rules `event` matches.
fn fired(engine: &Engine, event: &Event) -> BTreeSet<String> {
    let mut scratch = Scratch::default();
    let fast: BTreeSet<String> = engine
        .evaluate(event, &mut scratch)
        .iter()
        .map(|id| rule_name(engine, *id))
        .collect();
    let reference: BTreeSet<String> = engine
        .evaluate_reference(event)
        .iter()
        .map(|id| rule_name(engine, *id))
        .collect();
    assert_eq!(fast, reference, "the engine's evaluators disagree");
    fast
}

fn rule_name(engine: &Engine, id: u32) -> String {
    let path = &engine.rule(id).meta.location.path;
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// An event of a vendor log, tagged `remote_support/<service>` as its decoder tags it:
/// each field under its own name.
fn vendor_event(service: &str, fields: &[(&str, &str)]) -> Event {
    let mut event = Event {
        logsource: Some(std::sync::Arc::new(tocsin_event::LogSource::new(
            "remote_support",
            service,
        ))),
        ..Event::default()
    };
    for (name, value) in fields {
        event.push(name, name, Value::from(*value));
    }
    event
}

/// A Sysmon event with the given id and `EventData` fields.
fn sysmon(event_id: i64, fields: &[(&str, &str)]) -> Event {
    let mut event = Event::default();
    event.push(
        "Event.System.Channel",
        "Channel",
        Value::from("Microsoft-Windows-Sysmon/Operational"),
    );
    event.push("Event.System.EventID", "EventID", Value::Int(event_id));
    for (name, value) in fields {
        event.push(
            &format!("Event.EventData.{name}"),
            name,
            Value::from(*value),
        );
    }
    event
}

const BOMGAR: &str = r"C:\Program Files\BeyondTrust\Remote Support\bomgar-scc.exe";
const CMD: &str = r"C:\Windows\System32\cmd.exe";
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";

// --- the rule set as a whole -------------------------------------------------------------

#[test]
fn every_rule_parses_and_compiles_without_placeholders() {
    let docs = documents();
    let (engine, report) = EngineBuilder::new().build(&docs);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.needs_placeholders.is_empty(),
        "{:?}",
        report.needs_placeholders
    );
    assert_eq!(
        report.unmapped, 0,
        "a Windows rule has a logsource the engine cannot place"
    );
    let correlations = docs
        .iter()
        .filter(|d| matches!(d, Document::Correlation(_)))
        .count();
    assert_eq!(report.correlations_skipped, correlations);
    assert_eq!(engine.len() + correlations, docs.len());
    assert_eq!(docs.len(), builtin().len(), "one document per file");
}

#[test]
fn the_table_lists_every_rule_file_in_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let listed: Vec<String> = builtin().iter().map(|r| r.file_name.to_string()).collect();
    assert_eq!(listed, on_disk);
}

#[test]
fn metadata_is_complete_and_ids_are_unique_uuids() {
    let mut ids = BTreeSet::new();
    for doc in documents() {
        let meta = metadata(&doc);
        let id = meta.id.clone().unwrap_or_default();
        assert!(is_uuid(&id), "{}: id {id:?} is not a UUID", meta.title);
        assert!(ids.insert(id.clone()), "duplicate id {id}");
        assert_eq!(meta.status, Some(Status::Experimental), "{}", meta.title);
        assert_eq!(meta.author.as_deref(), Some("tocsin"));
        assert!(
            meta.description.as_deref().is_some_and(|d| d.len() > 40),
            "{}",
            meta.title
        );
        assert!(
            meta.date.is_some() && meta.level.is_some(),
            "{}",
            meta.title
        );
        assert!(
            !meta.references.is_empty() && !meta.falsepositives.is_empty(),
            "{}",
            meta.title
        );
        assert!(
            meta.tags.iter().any(|t| t.starts_with("attack.t")),
            "{}: no ATT&CK technique",
            meta.title
        );
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        })
}

#[test]
fn correlations_refer_to_named_rules_that_carry_their_group_field() {
    let docs = documents();
    let names: BTreeMap<String, &Document> = docs
        .iter()
        .filter_map(|d| metadata(d).name.clone().map(|n| (n, d)))
        .collect();
    let mut seen = 0;
    for doc in &docs {
        let Document::Correlation(correlation) = doc else {
            continue;
        };
        seen += 1;
        assert!(
            correlation.generate,
            "{}: base rules must still alert",
            correlation.meta.title
        );
        for name in &correlation.rules {
            let Some(Document::Rule(rule)) = names.get(name) else {
                panic!("{}: no rule named {name}", correlation.meta.title)
            };
            assert_eq!(rule.logsource.service.as_deref(), Some("api_audit"));
            assert_eq!(correlation.group_by, ["api_key_id"]);
        }
    }
    assert_eq!(seen, 2);
}

// --- API audit rules ---------------------------------------------------------------------

fn api_call(action: &str, target: &str, user_agent: &str) -> Event {
    vendor_event(
        "api_audit",
        &[
            ("time", "2024-11-30T19:36:52Z"),
            ("api_key_id", "k-51815a"),
            ("api_key_name", "helpdesk-automation"),
            ("source_ip", "203.0.113.7"),
            ("user_agent", user_agent),
            ("action", action),
            ("target", target),
            ("result", "success"),
        ],
    )
}

#[test]
fn api_local_account_reset_fires_on_local_accounts_only() {
    let engine = engine();
    let rule = "rs_api_local_account_password_reset";
    assert!(fired(
        &engine,
        &api_call(
            "user.password_reset",
            "localadmin@WS-0042",
            "python-requests/2.31"
        )
    )
    .contains(rule));
    assert!(fired(
        &engine,
        &api_call("user.password_reset", "svc_backup@PC-7", "x")
    )
    .contains(rule));
    assert!(!fired(
        &engine,
        &api_call("user.password_reset", "jdoe@corp.example.gov", "x")
    )
    .contains(rule));
    assert!(!fired(&engine, &api_call("user.update", "localadmin@WS-0042", "x")).contains(rule));
    let mut failed = api_call("user.password_reset", "localadmin@WS-0042", "x");
    failed.fields.retain(|f| &*f.path != "result");
    failed.push("result", "result", Value::from("failure"));
    assert!(!fired(&engine, &failed).contains(rule));
}

#[test]
fn api_session_start_and_key_management_fire_on_their_actions() {
    let engine = engine();
    assert!(
        fired(&engine, &api_call("session.start", "WS-0042", "x")).contains("rs_api_session_start")
    );
    assert!(!fired(&engine, &api_call("session.list", "", "x")).contains("rs_api_session_start"));
    for action in ["api_key.create", "api_key.update", "api_key.revoke"] {
        assert!(
            fired(&engine, &api_call(action, "k-1", "x")).contains("rs_api_key_management"),
            "{action}"
        );
    }
    assert!(
        !fired(&engine, &api_call("report.download", "", "x")).contains("rs_api_key_management")
    );
}

#[test]
fn api_unusual_client_fires_on_generic_clients_not_on_integrations() {
    let engine = engine();
    let rule = "rs_api_unusual_client";
    for agent in [
        "curl/8.5.0",
        "Go-http-client/2.0",
        "python-urllib3/2.2.3",
        "",
    ] {
        assert!(
            fired(&engine, &api_call("auth.token", "", agent)).contains(rule),
            "{agent:?}"
        );
    }
    for agent in [
        "python-requests/2.31.0",
        "ServiceNow/Xanadu",
        "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1",
    ] {
        assert!(
            !fired(&engine, &api_call("auth.token", "", agent)).contains(rule),
            "{agent:?}"
        );
    }
}

// --- appliance rules ---------------------------------------------------------------------

fn appliance(event: &str, extra: &[(&str, &str)]) -> Event {
    let mut fields = vec![
        ("event", event),
        ("site", "support.example.com"),
        ("status", "success"),
        ("when", "1732995412"),
        ("host", "rs-appliance-01"),
        ("program", "BG"),
    ];
    fields.extend_from_slice(extra);
    vendor_event("appliance", &fields)
}

#[test]
fn appliance_rules_fire_on_their_events() {
    let engine = engine();
    // An API account as the vendor's `who` names it, and a representative.
    let by_key = [
        (
            "who",
            "helpdesk-automation (e52a9aa6fc0508ddf3a40601a736b230a1bebcd1)",
        ),
        ("who_ip", "185.1.2.3"),
    ];
    let by_rep = [
        ("who", "Jana Novak (jnovak) using password"),
        ("who_ip", "52.1.2.3"),
    ];

    // A Vault account's password changed (`password=***`), whoever made it.
    let rule = "rs_appliance_local_account_password_reset";
    let vault = |password: Option<&'static str>| {
        let mut fields = vec![
            ("name", "itadmin@DT-0381"),
            ("username", "itadmin"),
            by_key[0],
            by_key[1],
        ];
        fields.extend(password.map(|p| ("password", p)));
        appliance("account_changed", &fields)
    };
    assert!(fired(&engine, &vault(Some("***"))).contains(rule));
    assert!(
        !fired(&engine, &vault(None)).contains(rule),
        "a Vault account changed without its password"
    );
    assert!(!fired(
        &engine,
        &appliance("account_added", &[("name", "x"), by_rep[0], by_rep[1]])
    )
    .contains(rule));

    for event in ["api_key_created", "api_key_changed", "api_key_revoked"] {
        assert!(
            !fired(&engine, &appliance(event, &[("api_key_id", "k-1")]))
                .contains("rs_appliance_api_key_change"),
            "{event} is not the vendor's"
        );
    }
    assert!(fired(
        &engine,
        &appliance("user_added", &[("new_username", "newrep")])
    )
    .contains("rs_appliance_user_created"));
    assert!(
        !fired(&engine, &appliance("user_created", &[("target", "newrep")]))
            .contains("rs_appliance_user_created"),
        "user_created is not the vendor's"
    );
    for target in ["rep_client", "web/login", "web/api"] {
        for who in [by_rep, by_key] {
            let login = appliance("login", &[("target", target), who[0], who[1]]);
            assert!(fired(&engine, &login).is_empty(), "a login is not an alert");
        }
    }
}

#[test]
fn sessions_started_by_an_api_account_are_told_from_representatives_sessions() {
    let engine = engine();
    let rule = "rs_appliance_api_session";
    let member = |kind: &str, user_id: &str| {
        vendor_event(
            "outbound_event",
            &[
                ("event", "support_conference_member_added"),
                ("version", "3"),
                ("timestamp", "1733239566"),
                ("lsid", "e9e99aeb9ad54fb381634498502c5a1b"),
                ("type", kind),
                ("user_id", user_id),
                ("username", "helpdesk-automation"),
            ],
        )
    };
    let client_id = "e52a9aa6fc0508ddf3a40601a736b230a1bebcd1";
    assert!(fired(&engine, &member("representative", client_id)).contains(rule));
    assert!(!fired(&engine, &member("representative", "23")).contains(rule));
    assert!(!fired(&engine, &member("customer", client_id)).contains(rule));
    let begin = vendor_event(
        "outbound_event",
        &[
            ("event", "support_conference_begin"),
            ("lsid", "e9e99aeb9ad54fb381634498502c5a1b"),
        ],
    );
    assert!(fired(&engine, &begin).is_empty());
}

#[test]
fn rules_on_the_vendors_own_vocabulary_fire_on_its_events() {
    // Issue 15: the event names and fields the vendor documents.
    let engine = engine();
    for event in [
        "api_account_added",
        "api_account_changed",
        "api_account_removed",
    ] {
        let change = appliance(
            event,
            &[("client_id", "e52a9aa6fc05"), ("name", "helpdesk")],
        );
        assert!(
            fired(&engine, &change).contains("rs_appliance_api_key_change"),
            "{event}"
        );
    }
    let rule = "rs_appliance_site_user_password_set";
    let user_changed = |who_user: &str, new_password: Option<&str>| {
        let mut fields = vec![("who_user", who_user), ("old_username", "jnovak")];
        fields.extend(new_password.map(|p| ("new_password", p)));
        appliance("user_changed", &fields)
    };
    assert!(fired(&engine, &user_changed("e52a9aa6fc05", Some("***NEW***"))).contains(rule));
    assert!(
        !fired(&engine, &user_changed("jnovak", Some("***NEW***"))).contains(rule),
        "a user's own password change"
    );
    assert!(
        !fired(&engine, &user_changed("admin", None)).contains(rule),
        "a change that sets no password"
    );

    let session_event = |event_type: &str, extra: &[(&str, &str)]| {
        let mut fields = vec![
            ("lsid", "e9e99aeb9ad54fb381634498502c5a1b"),
            ("event_type", event_type),
            ("performed_by_username", "jnovak"),
            ("customer_hostname", "WS-0042"),
        ];
        fields.extend_from_slice(extra);
        vendor_event("session_report", &fields)
    };
    assert!(fired(
        &engine,
        &session_event("Command Shell Session Started", &[])
    )
    .contains("rs_session_command_shell"));
    let download = |filename| session_event("File Download", &[("filename", filename)]);
    let rule = "rs_session_document_download";
    assert!(fired(
        &engine,
        &download("C:\\Users\\jdoe\\Documents\\budget.xlsx")
    )
    .contains(rule));
    assert!(fired(&engine, &download("C:\\Users\\jdoe\\desktop\\notes.txt")).contains(rule));
    assert!(!fired(&engine, &download("C:\\Windows\\Temp\\setup.log")).contains(rule));
    // Session events are not appliance syslog: the appliance rules do not meet them.
    assert!(fired(&engine, &session_event("Session Start", &[])).is_empty());
}

#[test]
fn archive_download_rule_fires_on_archives_taken_from_the_customer() {
    let engine = engine();
    let rule = "rs_appliance_shell_document_collection";
    let transfer = |event_type: &str, filename: &str| {
        vendor_event(
            "session_report",
            &[
                ("lsid", "e9e99aeb9ad54fb381634498502c5a1b"),
                ("event_type", event_type),
                ("performed_by_username", "jnovak"),
                ("customer_hostname", "WS-0042"),
                ("filename", filename),
            ],
        )
    };
    for file in [
        r"C:\PerfLogs\Admin\3f9a1c2e.zip",
        r"C:\Users\Public\Libraries\sync\out.7z",
        r"C:\Windows\Temp\cbs-logs.zip",
    ] {
        assert!(
            fired(&engine, &transfer("File Download", file)).contains(rule),
            "{file}"
        );
    }
    assert!(!fired(
        &engine,
        &transfer("File Download", r"C:\Windows\Temp\setup.log")
    )
    .contains(rule));
    assert!(
        !fired(
            &engine,
            &transfer("File Upload", r"C:\Windows\Temp\BeyondTrust\toolkit.zip")
        )
        .contains(rule),
        "a tool kit pushed to the customer"
    );
    // The old, invented appliance event no longer means anything.
    let shell = appliance(
        "session_command_shell",
        &[(
            "command",
            r"cmd.exe /c dir /s /b C:\Users\*\Documents\*.pdf",
        )],
    );
    assert!(fired(&engine, &shell).is_empty());
}

/// Every rule fired by the events the decoders read from `text` (named `name`).
fn fired_on_text(engine: &Engine, name: &str, text: &str) -> BTreeSet<String> {
    let source = from_bytes(name, text.as_bytes().to_vec(), &DecodeOptions::default()).unwrap();
    let mut all = BTreeSet::new();
    for event in source {
        all.extend(fired(
            engine,
            &event.unwrap_or_else(|e| panic!("{name}: {e}")),
        ));
    }
    all
}

#[test]
fn rules_meet_the_vendors_real_forms_through_the_decoders() {
    let engine = engine();
    let client = "e52a9aa6fc0508ddf3a40601a736b230a1bebcd1";
    let syslog = format!(
        "Feb  5 12:54:46 example_host BG[98765]: 1234:01:01:event=account_changed;site=support.example.com;when=1738778086;name=itadmin@DT-0381;username=itadmin;password=***;who=helpdesk-automation ({client});who_ip=185.1.2.3\n\
         <133>1 2025-02-05T12:55:07-05:00 example_host BG 16703 - [meta sequenceId=\"46\"] 1234:01:01:event=api_account_changed;site=support.example.com;when=1738778107;name=helpdesk-automation;client_id={client};new_client_secret=***NEW***;who=Jana Novak (jnovak) using password;who_ip=52.1.2.3\n\
         Feb  5 12:56:00 example_host BG: 1234:01:02:event=user_changed;site=support.example.com;when=1738778160;old_username=jnovak;old_permissions:suppor\n\
         Feb  5 12:56:00 example_host BG: 1234:02:02:t=1;new_password=***NEW***;who=helpdesk-automation ({client});who_ip=185.1.2.3\n"
    );
    let fired = fired_on_text(&engine, "appliance.log", &syslog);
    for rule in [
        "rs_appliance_local_account_password_reset",
        "rs_appliance_api_key_change",
        "rs_appliance_site_user_password_set",
        "rs_appliance_user_created",
    ] {
        assert!(fired.contains(rule), "{rule}: {fired:?}");
    }
    let outbound = format!(
        "event=support_conference_begin&version=3&timestamp=1738778200&lsid=e9e99aeb9ad54fb381634498502c5a1b&external_key=\n\
         event=support_conference_member_added&version=3&timestamp=1738778200&lsid=e9e99aeb9ad54fb381634498502c5a1b&type=representative&user_id={client}&username=helpdesk-automation&display_name=helpdesk-automation\n"
    );
    assert_eq!(
        fired_on_text(&engine, "outbound-events.log", &outbound),
        BTreeSet::from(["rs_appliance_api_session".to_string()])
    );
    let report = r#"<?xml version="1.0" encoding="UTF-8"?>
<session_list xmlns="http://www.beyondtrust.com/sra/namespaces/API/reporting">
<session lsid="e9e99aeb9ad54fb381634498502c5a1b">
  <start_time timestamp="1738778200">2025-02-05T17:56:40+00:00</start_time>
  <customer_list><customer gsnumber="2"><hostname>DT-0381</hostname></customer></customer_list>
  <rep_list><representative gsnumber="1" id="23"><username>jnovak</username></representative></rep_list>
  <session_details>
    <event timestamp="1738778300" event_type="Command Shell Session Started"><performed_by type="representative" gsnumber="1">Jana Novak</performed_by><data><value name="instance" value="1" /></data></event>
    <event timestamp="1738778400" event_type="File Download"><performed_by type="representative" gsnumber="1">Jana Novak</performed_by><filename>C:\PerfLogs\Admin\1f2e3d4c.zip</filename></event>
  </session_details>
</session>
</session_list>
"#;
    let fired = fired_on_text(&engine, "session-reports.xml", report);
    for rule in [
        "rs_session_command_shell",
        "rs_appliance_shell_document_collection",
    ] {
        assert!(fired.contains(rule), "{rule}: {fired:?}");
    }
}

// --- Windows rules -----------------------------------------------------------------------

fn process(image: &str, command_line: &str, parent: &str) -> Event {
    let original = image.rsplit('\\').next().unwrap_or(image);
    sysmon(
        1,
        &[
            ("Image", image),
            ("OriginalFileName", original),
            ("CommandLine", command_line),
            ("ParentImage", parent),
        ],
    )
}

#[test]
fn support_client_spawning_a_shell_is_marked_for_every_vendor() {
    let engine = engine();
    let rule = "win_remote_support_client_spawns_shell";
    for parent in [
        BOMGAR,
        r"C:\Program Files (x86)\ScreenConnect Client (abc)\ScreenConnect.ClientService.exe",
        r"C:\Program Files (x86)\AnyDesk\AnyDesk.exe",
        r"C:\Program Files\TeamViewer\TeamViewer.exe",
    ] {
        assert!(
            fired(&engine, &process(CMD, "cmd.exe", parent)).contains(rule),
            "{parent}"
        );
        assert!(
            fired(&engine, &process(POWERSHELL, "powershell.exe", parent)).contains(rule),
            "{parent}"
        );
    }
    assert!(!fired(
        &engine,
        &process(CMD, "cmd.exe", r"C:\Windows\explorer.exe")
    )
    .contains(rule));
    assert!(!fired(
        &engine,
        &process(r"C:\Windows\System32\notepad.exe", "notepad", BOMGAR)
    )
    .contains(rule));
    let mut file_event = process(CMD, "cmd.exe", BOMGAR);
    file_event
        .fields
        .retain(|f| f.alias.as_deref() != Some("EventID"));
    file_event.push("Event.System.EventID", "EventID", Value::Int(11));
    assert!(
        !fired(&engine, &file_event).contains(rule),
        "placed on process creation only"
    );
}

#[test]
fn document_listing_and_copying_fire_on_collection_commands_only() {
    let engine = engine();
    let listing = "win_user_documents_enumeration";
    let copying = "win_bulk_copy_of_user_documents";
    let dir = process(
        CMD,
        r"cmd.exe /c dir /s /b C:\Users\*\Documents\*.docx",
        CMD,
    );
    let gci = process(
        POWERSHELL,
        r"powershell -c Get-ChildItem -Path C:\Users\*\Documents -Recurse -Include *.pdf",
        CMD,
    );
    let robocopy = process(
        r"C:\Windows\System32\Robocopy.exe",
        r"Robocopy.exe C:\Users\jdoe\Documents C:\PerfLogs\Admin *.docx /S",
        CMD,
    );
    assert!(fired(&engine, &dir).contains(listing));
    assert!(fired(&engine, &gci).contains(listing));
    assert!(fired(&engine, &robocopy).contains(copying));
    assert!(!fired(&engine, &robocopy).contains(listing));
    let word = process(
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        r"WINWORD.EXE /n C:\Users\jdoe\Documents\memo.docx",
        r"C:\Windows\explorer.exe",
    );
    assert!(
        fired(&engine, &word).is_empty(),
        "opening a document is not an alert"
    );
    let backup = process(
        r"C:\Windows\System32\Robocopy.exe",
        r"Robocopy.exe D:\build C:\out /MIR",
        CMD,
    );
    assert!(!fired(&engine, &backup).contains(copying));
}

fn file_created(image: &str, target: &str) -> Event {
    sysmon(11, &[("Image", image), ("TargetFilename", target)])
}

#[test]
fn staging_rules_fire_on_documents_and_archives_in_staging_folders() {
    let engine = engine();
    let documents = "win_documents_copied_to_staging_folder";
    let archive = "win_archive_in_staging_folder";
    let robocopy = r"C:\Windows\System32\Robocopy.exe";
    assert!(fired(
        &engine,
        &file_created(robocopy, r"C:\Users\Public\Libraries\sync\budget.xlsx")
    )
    .contains(documents));
    assert!(fired(
        &engine,
        &file_created(robocopy, r"C:\Windows\Temp\wct1a2b\memo.docx")
    )
    .contains(documents));
    assert!(!fired(
        &engine,
        &file_created(robocopy, r"C:\Users\jdoe\Documents\memo.docx")
    )
    .contains(documents));
    let word = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE";
    assert!(!fired(&engine, &file_created(word, r"C:\Users\Public\memo.docx")).contains(documents));

    let seven_zip = r"C:\Program Files\7-Zip\7z.exe";
    assert!(fired(
        &engine,
        &file_created(seven_zip, r"C:\PerfLogs\Admin\3f9a.zip")
    )
    .contains(archive));
    assert!(fired(
        &engine,
        &file_created(POWERSHELL, r"C:\ProgramData\Microsoft\Crypto\cache\a.zip")
    )
    .contains(archive));
    assert!(!fired(
        &engine,
        &file_created(POWERSHELL, r"C:\Windows\Temp\cbs-logs.zip")
    )
    .contains(archive));
    assert!(!fired(
        &engine,
        &file_created(seven_zip, r"C:\Users\jdoe\Downloads\photos.zip")
    )
    .contains(archive));

    let client = "win_remote_support_client_writes_archive";
    assert!(fired(
        &engine,
        &file_created(BOMGAR, r"C:\Windows\Temp\BeyondTrust\tools.zip")
    )
    .contains(client));
    assert!(!fired(
        &engine,
        &file_created(BOMGAR, r"C:\Windows\Temp\BeyondTrust\VPNClient-5.2.1.msi")
    )
    .contains(client));
}

// --- generated scenarios -----------------------------------------------------------------

/// Every detection of a scenario's three logs: (time, rule, level, text).
fn hunt(engine: &Engine, scenario: &Scenario) -> Vec<(i64, String, Level, String)> {
    let levels: BTreeMap<String, Level> = engine
        .rules()
        .map(|(id, info)| {
            (
                rule_name(engine, id),
                info.meta.level.unwrap_or(Level::Informational),
            )
        })
        .collect();
    let mut found = Vec::new();
    let mut scratch = Scratch::default();
    for (name, text) in scenario.logs() {
        let source = from_bytes(name, text.as_bytes().to_vec(), &DecodeOptions::default()).unwrap();
        for event in source {
            let event = event.unwrap_or_else(|e| panic!("{name}: {e}"));
            for id in engine.evaluate(&event, &mut scratch) {
                let rule = rule_name(engine, *id);
                let micros = event
                    .timestamp_micros
                    .unwrap_or_else(|| panic!("{name}: event without time"));
                let text = ["target", "TargetFilename", "CommandLine", "command"]
                    .iter()
                    .find_map(|f| event.first(f).map(|v| v.to_string()))
                    .unwrap_or_default();
                found.push((micros / 1_000_000, rule.clone(), levels[&rule], text));
            }
        }
    }
    found.sort();
    found
}

/// The rules that the generator's benign oddities legitimately meet at medium or above
/// (each one's `falsepositives` names them): sessions an integration starts through the
/// API; Vault and local accounts reset by an administrator or the monthly maintenance
/// script (with its sessions to each PC); zipped logs taken from a customer; a tool kit
/// pushed and unpacked; a profile migration with robocopy; `tree /f` in Documents. No
/// other rule may fire at medium or above on ordinary traffic.
const ODDITY_RULES: &[&str] = &[
    "rs_api_session_start",
    "rs_appliance_api_session",
    "rs_api_local_account_password_reset",
    "rs_appliance_local_account_password_reset",
    "rs_api_password_reset_burst",
    "rs_api_reset_then_session",
    "rs_appliance_shell_document_collection",
    "win_remote_support_client_writes_archive",
    "win_bulk_copy_of_user_documents",
    "win_user_documents_enumeration",
];

#[test]
fn generated_intrusions_are_found_early_and_ordinary_weeks_stay_quiet() {
    let engine = engine();
    for seed in [1, 2, 3, 4] {
        let config = DemoConfig {
            benign_days: 8,
            workstations: 60,
            representatives: 12,
            ..DemoConfig::new(seed)
        };
        let scenario = Scenario::generate(&config);
        let truth = &scenario.truth;
        let detections = hunt(&engine, &scenario);
        let first_use = truth.first_malicious_use.timestamp();
        let benign_end = truth.benign_period_end.timestamp();

        let first_alert = detections
            .iter()
            .find(|d| d.0 >= first_use && d.2 >= Level::Medium);
        let delay = first_alert.map(|d| d.0 - first_use);
        assert!(
            delay.is_some_and(|s| s < 300),
            "seed {seed}: first alert after {delay:?} s"
        );

        let resets: BTreeSet<&str> = detections
            .iter()
            .filter(|d| d.0 >= first_use && d.1 == "rs_api_local_account_password_reset")
            .map(|d| d.3.as_str())
            .collect();
        let attack_hits = |rule: &str| {
            detections
                .iter()
                .filter(|d| d.0 >= first_use && d.1 == rule)
                .count()
        };
        assert_eq!(
            attack_hits("rs_appliance_local_account_password_reset"),
            truth.accounts_reset.len(),
            "seed {seed}"
        );
        assert_eq!(
            attack_hits("rs_appliance_api_session"),
            truth.hosts_touched.len(),
            "seed {seed}"
        );
        assert!(
            attack_hits("rs_appliance_shell_document_collection") >= truth.hosts_touched.len(),
            "seed {seed}"
        );
        assert_eq!(
            resets,
            truth.accounts_reset.iter().map(String::as_str).collect(),
            "seed {seed}"
        );

        for host in &truth.hosts_touched {
            let staged = detections.iter().any(|d| {
                d.1 == "win_documents_copied_to_staging_folder"
                    && d.3.starts_with(&truth.staging_folder)
            });
            assert!(staged, "seed {seed}: staging on {host} not found");
        }
        let high_in_attack = detections
            .iter()
            .filter(|d| d.0 >= first_use && d.2 >= Level::High)
            .count();
        assert!(high_in_attack >= truth.hosts_touched.len(), "seed {seed}");

        let benign_alerts: Vec<_> = detections
            .iter()
            .filter(|d| d.0 < benign_end && d.2 >= Level::Medium)
            .collect();
        for alert in &benign_alerts {
            assert!(
                ODDITY_RULES.contains(&alert.1.as_str()),
                "seed {seed}: ordinary traffic raised {alert:?}"
            );
        }
    }
}

/// The rules' part of the demo's criteria on the full-size demo over 20 seeds: the first
/// medium alert within 5 minutes, a high one in the attack, and no medium-or-higher alert on
/// ordinary traffic other than the oddities' (slow: run with `cargo test -p tocsin-rules --
/// --ignored`). How many incidents those alerts open is `tocsin demo --evaluate`'s to
/// measure.
#[test]
#[ignore = "generates and hunts twenty full-size scenarios"]
fn twenty_full_size_seeds_meet_the_rules_part_of_the_demo_criteria() {
    let engine = engine();
    for seed in 0..20 {
        let scenario = Scenario::generate(&DemoConfig::new(seed));
        let truth = &scenario.truth;
        let detections = hunt(&engine, &scenario);
        let first_use = truth.first_malicious_use.timestamp();
        let first = detections
            .iter()
            .find(|d| d.0 >= first_use && d.2 >= Level::Medium);
        let delay = first.map(|d| d.0 - first_use);
        assert!(
            delay.is_some_and(|s| s < 300),
            "seed {seed}: first alert after {delay:?} s"
        );
        assert!(
            detections
                .iter()
                .any(|d| d.0 >= first_use && d.2 >= Level::High),
            "seed {seed}"
        );
        let benign: Vec<_> = detections
            .iter()
            .filter(|d| d.0 < truth.benign_period_end.timestamp() && d.2 >= Level::Medium)
            .collect();
        println!(
            "seed {seed}: first alert after {delay:?} s, {} benign alerts",
            benign.len()
        );
        for alert in benign {
            assert!(
                ODDITY_RULES.contains(&alert.1.as_str()),
                "seed {seed}: ordinary traffic raised {alert:?}"
            );
        }
    }
}
