//! Ordinary weeks at the help desk: representatives' shifts and support sessions, the API
//! keys' scripts, people's workstations, and a few legitimate oddities (a weekend shift, a
//! key rotated, a representative hired, a local password reset, logs zipped for support).

use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::names;
use crate::recorder::{is_weekday, local_midnight, ApiCaller, Recorder, DAY, HOUR, MINUTE};
use crate::records::{EndpointKind, Epoch, Process};
use crate::world::{hex, ApiKey, KeyUsage, Representative};

/// The stretch of time ordinary activity fills: `[start, end)`, whole UTC days from `start`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// Midnight UTC of the first day.
    pub start: Epoch,
    /// End of the logs.
    pub end: Epoch,
    /// End of the period in which only ordinary activity happens; oddities fall before it.
    pub benign_end: Epoch,
}

impl Span {
    fn days(&self) -> impl Iterator<Item = Epoch> + '_ {
        (0..)
            .map(move |d| self.start + d * DAY)
            .take_while(move |day| *day < self.end)
    }

    /// A random UTC day start of the benign period, at least a week after its start.
    fn some_benign_day(&self, rng: &mut ChaCha8Rng) -> Epoch {
        let days = ((self.benign_end - self.start) / DAY).max(2);
        self.start + rng.random_range(days / 3..days) * DAY
    }
}

/// Fills `span` with ordinary activity.
pub(crate) fn generate(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let reps = rec.world.representatives.clone();
    let hire_day = span.some_benign_day(rng);
    for day in span.days() {
        for rep in &reps {
            representative_day(rng, rec, span, rep, day);
        }
        if day > hire_day {
            let hire = rec.world.new_hire.clone();
            representative_day(rng, rec, span, &hire, day);
        }
        for key in rec.world.keys.clone() {
            key_day(rng, rec, span, &key, day);
        }
        for host in 0..rec.world.workstations.len() {
            workstation_day(rng, rec, span, host, day);
        }
    }
    oddities(rng, rec, span, hire_day);
}

fn representative_day(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    rep: &Representative,
    day: Epoch,
) {
    let midnight = local_midnight(day, rep.utc_offset_hours);
    if !is_weekday(midnight, rep.utc_offset_hours) || rng.random_bool(0.06) {
        return;
    }
    let begin = midnight + rep.shift_start_hour * HOUR + rng.random_range(-20..25) * MINUTE;
    let end = begin + rep.shift_hours * HOUR + rng.random_range(-15..40) * MINUTE;
    let sessions = rng.random_range(2..=8);
    shift(rng, rec, span, rep, begin, end, sessions);
    if rng.random_bool(0.04) {
        let late = midnight + rng.random_range(19..=21) * HOUR + rng.random_range(0..60) * MINUTE;
        let sessions = rng.random_range(1..=3);
        shift(rng, rec, span, rep, late, late + 2 * HOUR, sessions);
    }
}

/// A representative logs in at `begin`, runs `sessions` support sessions and logs out at `end`.
fn shift(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    rep: &Representative,
    begin: Epoch,
    end: Epoch,
    sessions: u32,
) {
    if begin < span.start || end >= span.end || end - HOUR <= begin + 5 * MINUTE {
        return;
    }
    rep_event(rec, begin, "login", rep);
    for _ in 0..sessions {
        let start = rng.random_range(begin + 5 * MINUTE..end - HOUR);
        let host = rng.random_range(0..rec.world.workstations.len());
        support_session(rng, rec, rep, start, host, false);
    }
    rep_event(rec, end, "logout", rep);
}

fn rep_event(rec: &mut Recorder<'_>, time: Epoch, event: &str, rep: &Representative) {
    rec.appliance(
        time,
        event,
        vec![
            ("status", "success".to_string()),
            ("target", "rep_client/login".to_string()),
            ("who", format!("{} using password", rep.who())),
            ("who_ip", rep.ip.to_string()),
        ],
    );
}

/// A legitimate support session: the appliance's records and the workstation's events.
/// `zip_logs` makes the representative zip the servicing logs and download them.
fn support_session(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    rep: &Representative,
    start: Epoch,
    host: usize,
    zip_logs: bool,
) {
    let session_id = hex(rng, 32);
    let station = &rec.world.workstations[host];
    let session_fields = vec![
        ("endpoint", station.name.clone()),
        ("jump_group", station.department.to_string()),
        ("session_id", session_id.clone()),
        ("who", rep.who()),
        ("who_ip", rep.ip.to_string()),
    ];
    let mut fields = session_fields.clone();
    fields.extend([
        ("status", "success".to_string()),
        ("target", "jump_client".to_string()),
    ]);
    rec.appliance(start, "support_session_start", fields);
    let client = rec.start_support_client(rng, start + 2, host, &session_id);
    let mut now = start + rng.random_range(2..10) * MINUTE;
    if rng.random_bool(0.3) {
        let command = *names::BENIGN_SHELL_COMMANDS
            .choose(rng)
            .unwrap_or(&"ipconfig /all");
        shell_command(rng, rec, &session_fields, &client, now, host, command);
        now += rng.random_range(1..6) * MINUTE;
    }
    if rng.random_bool(0.15) {
        let file = *names::BENIGN_TRANSFER_FILES
            .choose(rng)
            .unwrap_or(&"tool.msi");
        let mut fields = session_fields.clone();
        fields.extend([
            ("direction", "upload".to_string()),
            ("file", file.to_string()),
        ]);
        rec.appliance(now, "session_file_transfer", fields);
        rec.create_file(
            now + 1,
            host,
            &client,
            format!(r"C:\Windows\Temp\BeyondTrust\{file}"),
        );
        now += rng.random_range(1..6) * MINUTE;
    }
    if zip_logs {
        now = zip_servicing_logs(rng, rec, &session_fields, &client, now, host);
    }
    let end = now + rng.random_range(3..40) * MINUTE;
    let mut fields = session_fields;
    fields.push(("duration", (end - start).to_string()));
    rec.appliance(end, "support_session_end", fields);
}

/// A command typed in the session's command shell: logged by the appliance, run by `cmd.exe`
/// under the support client on the workstation.
fn shell_command(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    session_fields: &[(&'static str, String)],
    client: &Process,
    time: Epoch,
    host: usize,
    command: &str,
) {
    let mut fields = session_fields.to_vec();
    fields.push(("command", command.to_string()));
    rec.appliance(time, "session_command_shell", fields);
    let shell = rec.spawn(rng, time, host, client, r"C:\Windows\System32\cmd.exe", "");
    let program = command.split(' ').next().unwrap_or("cmd");
    let image = format!(r"C:\Windows\System32\{program}.exe");
    let arguments = command.split_once(' ').map(|(_, rest)| rest).unwrap_or("");
    rec.spawn(rng, time + 2, host, &shell, &image, arguments);
}

/// The representative zips the component-servicing logs to the temp folder and downloads
/// them: archive creation under the support client that is entirely legitimate.
fn zip_servicing_logs(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    session_fields: &[(&'static str, String)],
    client: &Process,
    time: Epoch,
    host: usize,
) -> Epoch {
    let command = r"powershell.exe -NoProfile -Command Compress-Archive -Path C:\Windows\Logs\CBS\* -DestinationPath C:\Windows\Temp\cbs-logs.zip -Force";
    let mut fields = session_fields.to_vec();
    fields.push(("command", command.to_string()));
    rec.appliance(time, "session_command_shell", fields);
    let shell = rec.spawn(rng, time, host, client, r"C:\Windows\System32\cmd.exe", "");
    let arguments = command.split_once(' ').map(|(_, rest)| rest).unwrap_or("");
    let powershell = rec.spawn(
        rng,
        time + 1,
        host,
        &shell,
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        arguments,
    );
    rec.create_file(
        time + 20,
        host,
        &powershell,
        r"C:\Windows\Temp\cbs-logs.zip".to_string(),
    );
    let mut fields = session_fields.to_vec();
    fields.extend([
        ("direction", "download".to_string()),
        ("file", "cbs-logs.zip".to_string()),
    ]);
    rec.appliance(time + 60, "session_file_transfer", fields);
    time + 2 * MINUTE
}

/// One day of an API key's scripted use.
fn key_day(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span, key: &ApiKey, day: Epoch) {
    let caller = ApiCaller::usual(key);
    let hq = rec.world.hq_utc_offset_hours;
    let midnight = local_midnight(day, hq);
    let weekday = is_weekday(midnight, hq);
    let (first, last, period, actions): (Epoch, Epoch, Epoch, &[&'static str]) = match key.usage {
        KeyUsage::HelpdeskAutomation => (0, 24 * HOUR, 15 * MINUTE, &["session.list"]),
        KeyUsage::TicketingConnector if weekday => (
            8 * HOUR,
            18 * HOUR,
            30 * MINUTE,
            &["session.list", "report.download"],
        ),
        KeyUsage::AssetSync if weekday => (7 * HOUR, 19 * HOUR, HOUR, &["jump_client.list"]),
        KeyUsage::NightlyReport => (
            2 * HOUR,
            2 * HOUR + 1,
            HOUR,
            &["report.download", "report.download"],
        ),
        _ => return,
    };
    let mut last_token: Option<Epoch> = None;
    let mut time = midnight + first + rng.random_range(0..5 * MINUTE);
    while time < midnight + last {
        if time >= span.start && time < span.end {
            if last_token.is_none_or(|last| time - last >= 55 * MINUTE) {
                rec.api_call(rng, time, &caller, "auth.token", "", true);
                last_token = Some(time);
            }
            for (i, action) in (0..).zip(actions.iter()) {
                rec.api_call(rng, time + 1 + i, &caller, action, "", true);
            }
        }
        time += period + rng.random_range(-90..90);
    }
    if key.usage == KeyUsage::HelpdeskAutomation && weekday {
        password_resets(rng, rec, span, &caller, midnight);
    }
}

/// The help-desk automation resets a few domain users' passwords on a weekday, spaced out.
fn password_resets(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    caller: &ApiCaller,
    midnight: Epoch,
) {
    let mut time = midnight + 8 * HOUR + rng.random_range(0..2 * HOUR);
    for _ in 0..rng.random_range(0..=3) {
        let station = &rec.world.workstations[rng.random_range(0..rec.world.workstations.len())];
        let target = format!("{}@{}", station.user, rec.world.ad_domain);
        if time >= span.start && time < span.end {
            rec.api_call(rng, time, caller, "user.password_reset", &target, true);
            rec.appliance(
                time,
                "user_password_reset",
                vec![
                    ("status", "success".to_string()),
                    ("target", target),
                    ("who", caller.who()),
                    ("who_ip", caller.ip.to_string()),
                ],
            );
        }
        time += rng.random_range(45..150) * MINUTE;
    }
}

/// One day of a workstation's user: logon and ordinary programs on weekdays.
fn workstation_day(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    host: usize,
    day: Epoch,
) {
    let hq = rec.world.hq_utc_offset_hours;
    let midnight = local_midnight(day, hq);
    let works = if is_weekday(midnight, hq) {
        rng.random_bool(0.9)
    } else {
        rng.random_bool(0.03)
    };
    let logon = midnight + 8 * HOUR + rng.random_range(0..100) * MINUTE;
    if !works || logon < span.start || logon + 10 * HOUR >= span.end {
        return;
    }
    let station = rec.world.workstations[host].clone();
    let user = format!(r"{}\{}", rec.world.netbios, station.user);
    rec.endpoint(
        logon,
        host,
        EndpointKind::Logon {
            user: station.user.clone(),
            domain: rec.world.netbios.clone(),
            logon_type: if rng.random_bool(0.8) { 2 } else { 11 },
            source: "127.0.0.1".to_string(),
        },
    );
    let userinit = Process {
        image: r"C:\Windows\System32\userinit.exe".to_string(),
        command_line: r"C:\Windows\system32\userinit.exe".to_string(),
        pid: rng.random_range(1_000..9_000) * 4,
        user: user.clone(),
    };
    let explorer = rec.spawn(
        rng,
        logon + 3,
        host,
        &userinit,
        r"C:\Windows\explorer.exe",
        "",
    );
    for (image, parent) in names::DESKTOP_APPS {
        if !rng.random_bool(0.6) {
            continue;
        }
        let image = image.replace("{user}", &station.user);
        let parent = if parent.ends_with("userinit.exe") {
            &userinit
        } else {
            &explorer
        };
        let at = logon + rng.random_range(1..240) * MINUTE;
        let app = rec.spawn(rng, at, host, parent, &image, "");
        if rng.random_bool(0.4) {
            let destination = std::net::Ipv4Addr::new(
                13,
                107,
                rng.random_range(0..=255),
                rng.random_range(1..=254),
            );
            rec.endpoint(
                at + 5,
                host,
                EndpointKind::NetworkConnect {
                    process: app.clone(),
                    destination,
                    port: 443,
                },
            );
        }
        if image.ends_with("WINWORD.EXE") || image.ends_with("EXCEL.EXE") {
            let stem = *names::DOCUMENT_STEMS.choose(rng).unwrap_or(&"notes");
            let extension = if image.ends_with("WINWORD.EXE") {
                "docx"
            } else {
                "xlsx"
            };
            let path = format!(r"C:\Users\{}\Documents\{stem}.{extension}", station.user);
            rec.create_file(at + rng.random_range(5..90) * MINUTE, host, &app, path);
        }
    }
}

/// The legitimate oddities of the benign period.
fn oddities(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span, hire_day: Epoch) {
    let admins: Vec<Representative> = rec.world.admins().cloned().collect();
    let Some(admin) = admins.choose(rng).cloned() else {
        return;
    };
    let hire = rec.world.new_hire.clone();
    let onboard = hire_day + 15 * HOUR + rng.random_range(0..3 * HOUR);
    admin_action(
        rec,
        onboard,
        &admin,
        "user_created",
        vec![("target", hire.user.clone())],
    );

    let rotation = span.some_benign_day(rng) + 16 * HOUR + rng.random_range(0..2 * HOUR);
    if let Some(key) = rec
        .world
        .keys
        .iter()
        .find(|k| k.usage == KeyUsage::TicketingConnector)
        .cloned()
    {
        admin_action(
            rec,
            rotation,
            &admin,
            "api_key_changed",
            vec![
                ("api_key_id", key.id),
                ("api_key_name", key.name),
                ("target", "secret_rotated".to_string()),
            ],
        );
    }

    weekend_shift(rng, rec, span);

    if rng.random_bool(0.6) {
        local_password_reset(rng, rec, span, &admin);
    }
    if rng.random_bool(0.3) {
        let rep =
            rec.world.representatives[rng.random_range(0..rec.world.representatives.len())].clone();
        let day = span.some_benign_day(rng);
        let start = local_midnight(day, rep.utc_offset_hours) + 11 * HOUR;
        let host = rng.random_range(0..rec.world.workstations.len());
        support_session(rng, rec, &rep, start, host, true);
    }
}

fn admin_action(
    rec: &mut Recorder<'_>,
    time: Epoch,
    admin: &Representative,
    event: &str,
    extra: Vec<(&'static str, String)>,
) {
    let mut fields = vec![
        ("status", "success".to_string()),
        ("who", format!("{} using password", admin.who())),
        ("who_ip", admin.ip.to_string()),
    ];
    fields.extend(extra);
    rec.appliance(time, event, fields);
}

/// A representative covers a Saturday.
fn weekend_shift(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let rep =
        rec.world.representatives[rng.random_range(0..rec.world.representatives.len())].clone();
    let saturday = span.days().find(|day| {
        *day >= span.start + 7 * DAY
            && !is_weekday(
                local_midnight(*day, rep.utc_offset_hours),
                rep.utc_offset_hours,
            )
    });
    if let Some(day) = saturday {
        let begin = local_midnight(day, rep.utc_offset_hours) + 10 * HOUR;
        let sessions = rng.random_range(2..=4);
        shift(rng, rec, span, &rep, begin, begin + 4 * HOUR, sessions);
    }
}

/// An admin resets a locked-out workstation's local administrator password in the console.
fn local_password_reset(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    admin: &Representative,
) {
    let host = rng.random_range(0..rec.world.workstations.len());
    let station = rec.world.workstations[host].clone();
    let account = station.local_accounts.first().cloned().unwrap_or_default();
    let time = span.some_benign_day(rng) + 15 * HOUR + rng.random_range(0..3 * HOUR);
    admin_action(
        rec,
        time,
        admin,
        "user_password_reset",
        vec![
            ("endpoint", station.name.clone()),
            ("target", format!("{account}@{}", station.name)),
        ],
    );
    rec.endpoint(
        time + 3,
        host,
        EndpointKind::PasswordReset {
            target_user: account,
            subject_user: format!("{}$", station.name),
        },
    );
}
