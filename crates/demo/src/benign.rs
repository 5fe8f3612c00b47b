//! Ordinary weeks at the help desk: representatives' shifts and support sessions, the API
//! keys' scripts, people's workstations, and the legitimate oddities real sites have, each
//! drawn from the seed (how many, who, when, which names): a weekend shift, a key rotated
//! and a new one created, a representative hired, a local password reset, logs zipped for
//! support, an integration that starts a session about once a week, representatives
//! logging in from new networks (travelling, a hybrid worker's first office day, on call
//! from home at night), a tool kit pushed through a session, a profile migration with
//! `robocopy`, a `tree /f` looking for a lost file, a monthly maintenance night resetting
//! training-room PCs' local accounts, and an integration's egress moving within its cloud.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::names;
use crate::recorder::{
    is_weekday, local_midnight, ApiCaller, Recorder, SessionHandle, DAY, HOUR, MINUTE,
};
use crate::records::{EndpointKind, Epoch, Process, SessionRep};
use crate::world::{hex, key_id, ApiKey, KeyUsage, Representative};

/// `cmd.exe`.
const CMD: &str = r"C:\Windows\System32\cmd.exe";

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

    /// A random UTC day start of the benign period, in its last two thirds.
    fn some_benign_day(&self, rng: &mut ChaCha8Rng) -> Epoch {
        let days = ((self.benign_end - self.start) / DAY).max(2);
        self.start + rng.random_range(days / 3..days) * DAY
    }

    /// Benign days as a share of a 30-day month.
    fn months(&self) -> f64 {
        (self.benign_end - self.start) as f64 / (30 * DAY) as f64
    }
}

/// Where representatives log in from on given days, other than their usual address:
/// (user, UTC day start) to address.
type Whereabouts = BTreeMap<(String, Epoch), Ipv4Addr>;

/// Fills `span` with ordinary activity.
pub(crate) fn generate(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let reps = rec.world.representatives.clone();
    let hire_day = span.some_benign_day(rng);
    let whereabouts = whereabouts(rng, rec, span);
    for day in span.days() {
        for rep in &reps {
            representative_day(rng, rec, span, rep, day, &whereabouts);
        }
        if day > hire_day {
            let hire = rec.world.new_hire.clone();
            representative_day(rng, rec, span, &hire, day, &whereabouts);
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

/// Days some representatives log in from elsewhere: travelling (a hotel's or conference's
/// network), a hybrid worker's first day at the office (until then always from home).
fn whereabouts(rng: &mut ChaCha8Rng, rec: &Recorder<'_>, span: Span) -> Whereabouts {
    let mut places = Whereabouts::new();
    let reps = &rec.world.representatives;
    for _ in 0..rng.random_range(0..=3) {
        let rep = &reps[rng.random_range(0..reps.len())];
        let first = span.some_benign_day(rng);
        let hotel = rec.world.fresh_benign_address(rng);
        for day in 0..rng.random_range(1..=3) {
            places.insert((rep.user.clone(), first + day * DAY), hotel);
        }
    }
    let hybrid: Vec<&Representative> = reps.iter().filter(|r| r.home_ip.is_some()).collect();
    if let Some(rep) = hybrid.choose(rng) {
        if rng.random_bool(0.7) {
            places.insert((rep.user.clone(), span.some_benign_day(rng)), rep.ip);
        }
    }
    places
}

fn representative_day(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    rep: &Representative,
    day: Epoch,
    whereabouts: &Whereabouts,
) {
    let midnight = local_midnight(day, rep.utc_offset_hours);
    if !is_weekday(midnight, rep.utc_offset_hours) || rng.random_bool(0.06) {
        return;
    }
    // A hybrid worker works from home until the first office day, and from the office
    // on some days after it.
    let usual = rep.home_ip.unwrap_or(rep.ip);
    let ip = whereabouts
        .get(&(rep.user.clone(), day))
        .copied()
        .unwrap_or(usual);
    let begin = midnight + rep.shift_start_hour * HOUR + rng.random_range(-20..25) * MINUTE;
    let end = begin + rep.shift_hours * HOUR + rng.random_range(-15..40) * MINUTE;
    let sessions = if rec.world.busy {
        rng.random_range(4..=12)
    } else {
        rng.random_range(2..=8)
    };
    shift(rng, rec, span, rep, ip, begin, end, sessions);
    if rng.random_bool(0.04) {
        let late = midnight + rng.random_range(19..=21) * HOUR + rng.random_range(0..60) * MINUTE;
        let sessions = rng.random_range(1..=3);
        shift(rng, rec, span, rep, ip, late, late + 2 * HOUR, sessions);
    }
}

/// A representative logs in at `begin` from `ip`, runs `sessions` support sessions and
/// logs out at `end`.
#[allow(clippy::too_many_arguments)]
fn shift(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    rep: &Representative,
    ip: Ipv4Addr,
    begin: Epoch,
    end: Epoch,
    sessions: u32,
) {
    if begin < span.start || end >= span.end || end - HOUR <= begin + 5 * MINUTE {
        return;
    }
    rep_event(rec, begin, "login", rep, ip);
    for _ in 0..sessions {
        let start = rng.random_range(begin + 5 * MINUTE..end - HOUR);
        let host = rng.random_range(0..rec.world.workstations.len());
        support_session(rng, rec, rep.session_rep(ip), start, host);
    }
    rep_event(rec, end, "logout", rep, ip);
}

/// A representative console login or logout, as the vendor logs it.
fn rep_event(rec: &mut Recorder<'_>, time: Epoch, event: &str, rep: &Representative, ip: Ipv4Addr) {
    let mut fields = vec![
        ("target", "rep_client".to_string()),
        ("who", rep.who_using()),
        ("who_ip", ip.to_string()),
    ];
    if event == "login" {
        fields.push(("status", "success".to_string()));
    }
    rec.appliance(time, event, fields);
}

/// A legitimate support session: the outbound events and report, and the workstation's
/// events; sometimes a shell command or a file pushed.
fn support_session(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    rep: SessionRep,
    start: Epoch,
    host: usize,
) {
    let session = rec.begin_session(rng, start, rep, host, "");
    let mut now = start + rng.random_range(2..10) * MINUTE;
    if rng.random_bool(0.3) {
        let command = *names::BENIGN_SHELL_COMMANDS
            .choose(rng)
            .unwrap_or(&"ipconfig /all");
        let program = command.split(' ').next().unwrap_or("cmd");
        let image = format!(r"C:\Windows\System32\{program}.exe");
        let arguments = command.split_once(' ').map(|(_, rest)| rest).unwrap_or("");
        shell_command(rng, rec, &session, now, &image, arguments);
        now += rng.random_range(1..6) * MINUTE;
    }
    if rng.random_bool(0.15) {
        let file = *names::BENIGN_TRANSFER_FILES
            .choose(rng)
            .unwrap_or(&"tool.msi");
        push_file(rec, &session, now, file);
        now += rng.random_range(1..6) * MINUTE;
    }
    let end = now + rng.random_range(3..40) * MINUTE;
    rec.end_session(&session, end);
}

/// A file pushed to the workstation through the session: the report's `File Upload`,
/// the support client writing it.
fn push_file(rec: &mut Recorder<'_>, session: &SessionHandle, time: Epoch, file: &str) -> String {
    let path = format!(r"C:\Windows\Temp\BeyondTrust\{file}");
    rec.session_event(session, time, "File Upload", Some(path.clone()));
    rec.create_file(time + 1, session.host, &session.client, path.clone());
    path
}

/// A command typed in the session's command shell (the report records the shell), run by
/// `cmd.exe` under the support client on the workstation; returns the command's process.
fn shell_command(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    session: &SessionHandle,
    time: Epoch,
    image: &str,
    arguments: &str,
) -> Process {
    rec.session_event(session, time, "Command Shell Session Started", None);
    let shell = rec.spawn(rng, time, session.host, &session.client, CMD, "");
    rec.spawn(rng, time + 2, session.host, &shell, image, arguments)
}

/// The representative zips the component-servicing logs to the temp folder and downloads
/// them: archive creation under the support client that is entirely legitimate.
fn zip_servicing_logs(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    session: &SessionHandle,
    time: Epoch,
) -> Epoch {
    let arguments = r"-NoProfile -Command Compress-Archive -Path C:\Windows\Logs\CBS\* -DestinationPath C:\Windows\Temp\cbs-logs.zip -Force";
    let powershell = shell_command(
        rng,
        rec,
        session,
        time,
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        arguments,
    );
    rec.create_file(
        time + 20,
        session.host,
        &powershell,
        r"C:\Windows\Temp\cbs-logs.zip".to_string(),
    );
    rec.session_event(
        session,
        time + 60,
        "File Download",
        Some(r"C:\Windows\Temp\cbs-logs.zip".to_string()),
    );
    time + 2 * MINUTE
}

/// One day of an API key's scripted use.
fn key_day(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span, key: &ApiKey, day: Epoch) {
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
            let caller = ApiCaller::usual_at(key, time);
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
        password_resets(rng, rec, span, key, midnight);
    }
}

/// The help-desk automation resets a few domain users' passwords on a weekday, spaced out
/// (directory accounts: only the API audit log records them, the appliance's syslog does
/// not).
fn password_resets(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    key: &ApiKey,
    midnight: Epoch,
) {
    let mut time = midnight + 8 * HOUR + rng.random_range(0..2 * HOUR);
    for _ in 0..rng.random_range(0..=3) {
        let station = &rec.world.workstations[rng.random_range(0..rec.world.workstations.len())];
        let target = format!("{}@{}", station.user, rec.world.ad_domain);
        if time >= span.start && time < span.end {
            let caller = ApiCaller::usual_at(key, time);
            rec.api_call(rng, time, &caller, "user.password_reset", &target, true);
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
    rec.user_added(onboard, &admin, &hire);

    let rotation = span.some_benign_day(rng) + 16 * HOUR + rng.random_range(0..2 * HOUR);
    if let Some(key) = rec
        .world
        .keys
        .iter()
        .find(|k| k.usage == KeyUsage::TicketingConnector)
        .cloned()
    {
        rec.api_account_changed(
            rotation,
            &admin,
            &key,
            &[("new_client_secret", "***NEW***")],
        );
    }
    new_api_key(rng, rec, span, &admin);
    weekend_shift(rng, rec, span);
    if rng.random_bool(0.6) {
        local_password_reset(rng, rec, span, &admin);
    }
    if rng.random_bool(0.3) {
        let rep = random_rep(rng, rec);
        let day = span.some_benign_day(rng);
        let start = local_midnight(day, rep.utc_offset_hours) + 11 * HOUR;
        let host = rng.random_range(0..rec.world.workstations.len());
        let session = rec.begin_session(rng, start, rep.session_rep(rep.ip), host, "");
        let now = zip_servicing_logs(rng, rec, &session, start + 3 * MINUTE);
        rec.end_session(&session, now + rng.random_range(3..20) * MINUTE);
    }
    integration_sessions(rng, rec, span);
    on_call_nights(rng, rec, span);
    for _ in 0..rng.random_range(1..=3) {
        tool_kit(rng, rec, span);
    }
    if rng.random_bool(0.6) {
        profile_migration(rng, rec, span);
    }
    for _ in 0..rng.random_range(0..=2) {
        lost_file_search(rng, rec, span);
    }
    if rng.random_bool(span.months().min(1.0)) {
        maintenance_night(rng, rec, span, &admin);
    }
}

fn random_rep(rng: &mut ChaCha8Rng, rec: &Recorder<'_>) -> Representative {
    rec.world.representatives[rng.random_range(0..rec.world.representatives.len())].clone()
}

/// A weekday time in the benign period within `hours` of HQ's local day.
fn office_time(rng: &mut ChaCha8Rng, rec: &Recorder<'_>, span: Span, hours: (i64, i64)) -> Epoch {
    let hq = rec.world.hq_utc_offset_hours;
    let mut day = span.some_benign_day(rng);
    while !is_weekday(local_midnight(day, hq), hq) {
        day -= DAY;
    }
    local_midnight(day, hq) + rng.random_range(hours.0 * HOUR..hours.1 * HOUR)
}

/// The ticketing integration starts a support session through the API about once a week
/// (the rate drawn per site), with the ticket as the session's external key.
fn integration_sessions(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let Some(key) = rec
        .world
        .keys
        .iter()
        .find(|k| k.usage == KeyUsage::TicketingConnector)
        .cloned()
    else {
        return;
    };
    let hq = rec.world.hq_utc_offset_hours;
    let per_weekday = rng.random_range(0.1..0.35);
    let mut day = span.start;
    while day < span.benign_end {
        let midnight = local_midnight(day, hq);
        if is_weekday(midnight, hq) && rng.random_bool(per_weekday) {
            let time = midnight + rng.random_range(9 * HOUR..17 * HOUR);
            let caller = ApiCaller::usual_at(&key, time);
            let host = rng.random_range(0..rec.world.workstations.len());
            let name = rec.world.workstations[host].name.clone();
            let ticket = format!("INC{:07}", rng.random_range(100_000..9_999_999));
            rec.api_call(rng, time, &caller, "session.start", &name, true);
            let session = rec.begin_session(rng, time, caller.session_rep(), host, &ticket);
            let mut now = time + rng.random_range(1..5) * MINUTE;
            if rng.random_bool(0.5) {
                shell_command(
                    rng,
                    rec,
                    &session,
                    now,
                    r"C:\Windows\System32\ipconfig.exe",
                    "/all",
                );
                now += rng.random_range(1..4) * MINUTE;
            }
            let end = now + rng.random_range(2..25) * MINUTE;
            rec.api_call(rng, end, &caller, "session.end", &name, true);
            rec.end_session(&session, end);
        }
        day += DAY;
    }
}

/// A representative on call logs in from home at night and fixes something.
fn on_call_nights(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    for _ in 0..rng.random_range(0..=2) {
        let rep = random_rep(rng, rec);
        let home = rep
            .home_ip
            .unwrap_or_else(|| rec.world.fresh_benign_address(rng));
        let night = local_midnight(span.some_benign_day(rng), rep.utc_offset_hours)
            + rng.random_range(22 * HOUR..26 * HOUR);
        let sessions = rng.random_range(1..=2);
        shift(
            rng,
            rec,
            span,
            &rep,
            home,
            night,
            night + 2 * HOUR,
            sessions,
        );
    }
}

/// A representative pushes a zipped tool kit through a session and unpacks it.
fn tool_kit(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let rep = random_rep(rng, rec);
    let time = office_time(rng, rec, span, (9, 17));
    let host = rng.random_range(0..rec.world.workstations.len());
    let session = rec.begin_session(
        rng,
        time,
        rep.session_rep(rep.home_ip.unwrap_or(rep.ip)),
        host,
        "",
    );
    let kit = format!(
        "{}-{}.zip",
        ["toolkit", "sysinternals", "diag-kit", "netfix-tools"]
            .choose(rng)
            .unwrap_or(&"toolkit"),
        hex(rng, 4)
    );
    let now = time + rng.random_range(1..5) * MINUTE;
    let path = push_file(rec, &session, now, &kit);
    let expand = format!(
        "-NoProfile -Command Expand-Archive -Path {path} -DestinationPath C:\\Windows\\Temp\\BeyondTrust\\kit -Force"
    );
    shell_command(
        rng,
        rec,
        &session,
        now + MINUTE,
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        &expand,
    );
    rec.end_session(&session, now + rng.random_range(10..40) * MINUTE);
}

/// A representative migrates a user's profile to a new PC with `robocopy`.
fn profile_migration(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let rep = random_rep(rng, rec);
    let time = office_time(rng, rec, span, (9, 16));
    let host = rng.random_range(0..rec.world.workstations.len());
    let station = rec.world.workstations[host].clone();
    let new_pc = format!("{}-N{}", station.name, rng.random_range(1..10));
    let session = rec.begin_session(
        rng,
        time,
        rep.session_rep(rep.home_ip.unwrap_or(rep.ip)),
        host,
        "",
    );
    let mut now = time + rng.random_range(2..6) * MINUTE;
    for folder in ["Documents", "Desktop", "Pictures"] {
        let arguments = format!(
            r"C:\Users\{0}\{folder} \\{new_pc}\C$\Users\{0}\{folder} /E /COPY:DAT /R:1 /W:1 /MT:8",
            station.user
        );
        shell_command(
            rng,
            rec,
            &session,
            now,
            r"C:\Windows\System32\Robocopy.exe",
            &arguments,
        );
        now += rng.random_range(3..15) * MINUTE;
    }
    rec.end_session(&session, now + rng.random_range(2..10) * MINUTE);
}

/// A representative looks for a user's lost file with `tree /f` in their Documents.
fn lost_file_search(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let rep = random_rep(rng, rec);
    let time = office_time(rng, rec, span, (9, 17));
    let host = rng.random_range(0..rec.world.workstations.len());
    let user = rec.world.workstations[host].user.clone();
    let session = rec.begin_session(
        rng,
        time,
        rep.session_rep(rep.home_ip.unwrap_or(rep.ip)),
        host,
        "",
    );
    let now = time + rng.random_range(1..5) * MINUTE;
    let arguments = format!(r"C:\Users\{user}\Documents /f");
    shell_command(
        rng,
        rec,
        &session,
        now,
        r"C:\Windows\System32\tree.com",
        &arguments,
    );
    rec.end_session(&session, now + rng.random_range(5..20) * MINUTE);
}

/// The monthly maintenance night: an administrator's script (its own API account, used
/// only on these nights) resets the local accounts of the training-room PCs and checks
/// each through a session.
fn maintenance_night(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    span: Span,
    admin: &Representative,
) {
    let key = ApiKey {
        id: key_id(rng),
        name: [
            "training-room-maintenance",
            "lab-reset-script",
            "classroom-refresh",
        ]
        .choose(rng)
        .unwrap_or(&"training-room-maintenance")
        .to_string(),
        client_id: hex(rng, 40),
        ip: admin.ip,
        moved: None,
        user_agent:
            "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.5247",
        usage: KeyUsage::AssetSync,
    };
    let mut pcs: Vec<usize> = (0..rec.world.workstations.len()).collect();
    pcs.shuffle(rng);
    pcs.truncate(rng.random_range(4..=10).min(pcs.len()));
    let hq = rec.world.hq_utc_offset_hours;
    let mut time =
        local_midnight(span.some_benign_day(rng), hq) + rng.random_range(20 * HOUR..23 * HOUR);
    let caller = ApiCaller::usual_at(&key, time);
    rec.api_call(rng, time, &caller, "auth.token", "", true);
    time += rng.random_range(10..60);
    for &host in &pcs {
        let station = rec.world.workstations[host].clone();
        let account = station.local_accounts.first().cloned().unwrap_or_default();
        let target = format!("{account}@{}", station.name);
        rec.api_call(rng, time, &caller, "user.password_reset", &target, true);
        rec.vault_account_changed(time, &caller.who(), caller.ip, &account, host);
        rec.endpoint(
            time + 2,
            host,
            EndpointKind::PasswordReset {
                target_user: account.clone(),
                subject_user: format!("{}$", station.name),
            },
        );
        time += rng.random_range(5..40);
    }
    for &host in &pcs {
        let station = rec.world.workstations[host].clone();
        let account = station.local_accounts.first().cloned().unwrap_or_default();
        rec.api_call(rng, time, &caller, "session.start", &station.name, true);
        let session = rec.begin_session(rng, time, caller.session_rep(), host, "");
        shell_command(
            rng,
            rec,
            &session,
            time + 30,
            r"C:\Windows\System32\net.exe",
            &format!("user {account}"),
        );
        time += rng.random_range(60..240);
        rec.api_call(rng, time, &caller, "session.end", &station.name, true);
        rec.end_session(&session, time);
        time += rng.random_range(10..60);
    }
}

/// An administrator creates a new API account for a reporting script, which then pulls a
/// report every weekday morning from the office.
fn new_api_key(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span, admin: &Representative) {
    let key = ApiKey {
        id: key_id(rng),
        name: [
            "bi-reporting",
            "survey-export",
            "license-audit",
            "kpi-dashboard",
        ]
        .choose(rng)
        .unwrap_or(&"bi-reporting")
        .to_string(),
        client_id: hex(rng, 40),
        ip: admin.ip,
        moved: None,
        user_agent: "python-requests/2.32.3",
        usage: KeyUsage::NightlyReport,
    };
    let created = office_time(rng, rec, span, (10, 16));
    rec.api_account_changed(created, admin, &key, &[]);
    let hq = rec.world.hq_utc_offset_hours;
    let mut day = created - created.rem_euclid(DAY) + DAY;
    while day < span.end {
        let midnight = local_midnight(day, hq);
        if is_weekday(midnight, hq) {
            let time = midnight + 7 * HOUR + rng.random_range(0..30 * MINUTE);
            let caller = ApiCaller::usual_at(&key, time);
            rec.api_call(rng, time, &caller, "auth.token", "", true);
            rec.api_call(rng, time + 2, &caller, "report.download", "", true);
        }
        day += DAY;
    }
}

/// A representative covers a Saturday.
fn weekend_shift(rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, span: Span) {
    let rep = random_rep(rng, rec);
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
        let ip = rep.home_ip.unwrap_or(rep.ip);
        shift(rng, rec, span, &rep, ip, begin, begin + 4 * HOUR, sessions);
    }
}

/// An admin resets a locked-out workstation's local administrator password in the console
/// (the Vault account holding it).
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
    rec.web_login(time, admin);
    rec.vault_account_changed(time, &admin.who_using(), admin.ip, &account, host);
    rec.endpoint(
        time + 3,
        host,
        EndpointKind::PasswordReset {
            target_user: account,
            subject_user: format!("{}$", station.name),
        },
    );
}
