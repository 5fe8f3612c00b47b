//! The intrusion: a stolen help-desk API key used to reset local accounts' passwords (or,
//! in the site-account variant, a representative's), open sessions to workstations and
//! stage their documents, until the vendor revokes the key. Every choice (timing,
//! addresses, accounts, hosts, tools) comes from the seed; the ground truth records each
//! step. What the appliance logs is in the vendor's words: the key's token grants as
//! `login` to `web/api`, local account resets as Vault `account_changed` with
//! `password=***`, a site user's reset as `user_changed` with `new_password`, sessions in
//! the outbound events and session reports.

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::names;
use crate::recorder::{
    is_weekday, local_midnight, ApiCaller, Recorder, SessionHandle, DAY, HOUR, MINUTE,
};
use crate::records::{EndpointKind, Epoch, Process, SessionRep};
use crate::truth::{AttackStep, StepKind};
use crate::world::{hex, ApiKey, KeyUsage, Representative};
use crate::Variant;

/// `cmd.exe`.
const CMD: &str = r"C:\Windows\System32\cmd.exe";
/// Windows PowerShell.
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
/// 7-Zip's command-line archiver.
const SEVEN_ZIP: &str = r"C:\Program Files\7-Zip\7z.exe";

/// What the intrusion did, for the ground truth.
#[derive(Debug, Clone)]
pub(crate) struct AttackOutcome {
    /// The stolen key.
    pub key: ApiKey,
    /// Attacker addresses in order of use.
    pub attacker_ips: Vec<Ipv4Addr>,
    /// Attacker's user agent.
    pub user_agent: String,
    /// Steps in the order they happened.
    pub steps: Vec<AttackStep>,
    /// Accounts reset, `account@HOST`.
    pub accounts_reset: Vec<String>,
    /// Workstations opened.
    pub hosts_touched: Vec<String>,
    /// The staging folder.
    pub staging_folder: String,
    /// When the key was revoked.
    pub revocation: Epoch,
    /// The key's first malicious use.
    pub first_use: Epoch,
    /// The site user taken over (site-account variant).
    pub site_account: Option<String>,
    /// Sessions opened.
    pub sessions: Vec<String>,
}

/// The attacker's choices of tools, drawn once per scenario.
struct Tradecraft {
    caller: ApiCaller,
    /// Who the sessions are opened as: the API account, or the taken-over representative.
    session_rep: SessionRep,
    /// Slow and spaced (stealthy), or hurried.
    slow: bool,
    staging: String,
    archive_name: String,
    powershell_enumeration: bool,
    seven_zip: bool,
}

/// Plays `variant`'s intrusion, its first use drawn from `earliest` on; returns what it did.
pub(crate) fn play(
    rng: &mut ChaCha8Rng,
    rec: &mut Recorder<'_>,
    variant: Variant,
    earliest: Epoch,
    window: Epoch,
) -> AttackOutcome {
    let keys: Vec<ApiKey> = rec
        .world
        .keys
        .iter()
        .filter(|k| k.usage == KeyUsage::HelpdeskAutomation)
        .cloned()
        .collect();
    let key = keys
        .choose(rng)
        .cloned()
        .unwrap_or_else(|| rec.world.keys[0].clone());
    let stealthy = variant == Variant::Stealthy;
    let first_use = if stealthy {
        office_hours_time(rng, rec, earliest, window)
    } else {
        earliest + rng.random_range(0..window)
    };
    let usual_ip = key.ip_at(first_use);
    let first_ip = if stealthy {
        let avoid: Vec<Ipv4Addr> = [Some(key.ip), key.moved.map(|m| m.1)]
            .into_iter()
            .flatten()
            .collect();
        rec.world.cloud_neighbour(rng, usual_ip, &avoid)
    } else {
        rec.world.attacker_address(rng, &[])
    };
    let user_agent = if stealthy {
        key.user_agent.to_string()
    } else {
        names::ATTACKER_USER_AGENTS
            .choose(rng)
            .copied()
            .unwrap_or("curl/8.5.0")
            .to_string()
    };
    let mut attack = Attack {
        outcome: AttackOutcome {
            key: key.clone(),
            attacker_ips: vec![first_ip],
            user_agent: user_agent.clone(),
            steps: Vec::new(),
            accounts_reset: Vec::new(),
            hosts_touched: Vec::new(),
            staging_folder: names::STAGING_FOLDERS
                .choose(rng)
                .copied()
                .unwrap_or(r"C:\PerfLogs\Admin")
                .replace("{hex}", &hex(rng, 4)),
            revocation: 0,
            first_use,
            site_account: None,
            sessions: Vec::new(),
        },
        time: first_use,
    };
    let caller = ApiCaller {
        key_id: key.id.clone(),
        key_name: key.name.clone(),
        client_id: key.client_id.clone(),
        ip: first_ip,
        user_agent,
    };
    let mut craft = Tradecraft {
        session_rep: caller.session_rep(),
        caller,
        slow: stealthy,
        staging: attack.outcome.staging_folder.clone(),
        archive_name: format!("{}.zip", hex(rng, 8)),
        powershell_enumeration: rng.random_bool(0.5),
        seven_zip: rng.random_bool(0.5),
    };
    let targets = choose_targets(rng, rec);
    attack.authenticate(rng, rec, &craft.caller);
    attack.reconnoitre(rng, rec, &craft.caller, stealthy);
    if variant == Variant::SiteAccount {
        let rep = choose_site_account(rng, rec);
        attack.reset_site_user(rng, rec, &craft.caller, &rep);
        attack.time += rng.random_range(2..15) * MINUTE;
        let avoid = attack.outcome.attacker_ips.clone();
        let console_ip = if rng.random_bool(0.5) {
            first_ip
        } else {
            rec.world.attacker_address(rng, &avoid)
        };
        if !attack.outcome.attacker_ips.contains(&console_ip) {
            attack.outcome.attacker_ips.push(console_ip);
        }
        attack.console_login(rec, &rep, console_ip);
        craft.session_rep = rep.session_rep(console_ip);
    } else {
        attack.reset_passwords(rng, rec, &craft.caller, &targets, craft.slow);
        attack.time += rng.random_range(3..25) * MINUTE;
        if !stealthy && rng.random_bool(0.6) {
            let avoid = attack.outcome.attacker_ips.clone();
            craft.caller.ip = rec.world.attacker_address(rng, &avoid);
            craft.session_rep.public_ip = craft.caller.ip;
            attack.outcome.attacker_ips.push(craft.caller.ip);
            attack.authenticate(rng, rec, &craft.caller);
        }
    }
    for (host, account) in &targets {
        attack.time += rng.random_range(1..4) * MINUTE;
        attack.raid_workstation(rng, rec, &craft, *host, account, variant);
        attack.time += if craft.slow {
            rng.random_range(20..90) * MINUTE
        } else {
            rng.random_range(2..30) * MINUTE
        };
    }
    let revocation = (attack.time + HOUR).max(first_use + rng.random_range(6..40) * HOUR);
    attack.time = revocation;
    attack.revoke(rng, rec, &craft.caller);
    attack.outcome
}

/// A time in the attack window during the help-desk's office hours on a weekday (HQ time),
/// when the integrations are busiest: the stealthy attacker's cover.
fn office_hours_time(
    rng: &mut ChaCha8Rng,
    rec: &Recorder<'_>,
    earliest: Epoch,
    window: Epoch,
) -> Epoch {
    let hq = rec.world.hq_utc_offset_hours;
    let first_day = earliest - earliest.rem_euclid(DAY);
    let days: Vec<Epoch> = (0..6)
        .map(|d| local_midnight(first_day + d * DAY, hq))
        .filter(|midnight| is_weekday(*midnight, hq) && *midnight + 9 * HOUR >= earliest)
        .collect();
    let span_end = earliest + window.max(DAY);
    let midnight = days
        .iter()
        .copied()
        .filter(|m| *m + 9 * HOUR < span_end)
        .collect::<Vec<_>>()
        .choose(rng)
        .copied()
        .or_else(|| days.first().copied())
        .unwrap_or(earliest);
    midnight + 9 * HOUR + rng.random_range(0..7 * HOUR)
}

/// The site user the attacker takes over: a representative who is not an administrator.
fn choose_site_account(rng: &mut ChaCha8Rng, rec: &Recorder<'_>) -> Representative {
    let reps: Vec<&Representative> = rec
        .world
        .representatives
        .iter()
        .filter(|rep| !rep.is_admin)
        .collect();
    reps.choose(rng)
        .map(|rep| (*rep).clone())
        .unwrap_or_else(|| rec.world.representatives[0].clone())
}

/// The hosts to raid and, for each, the local account to take over; other accounts of the
/// same hosts may be reset too (returned first in the reset list).
fn choose_targets(rng: &mut ChaCha8Rng, rec: &Recorder<'_>) -> Vec<(usize, String)> {
    let mut hosts: Vec<usize> = (0..rec.world.workstations.len()).collect();
    hosts.shuffle(rng);
    hosts.truncate(rng.random_range(3..=6).min(hosts.len()));
    hosts
        .into_iter()
        .map(|host| {
            let accounts = &rec.world.workstations[host].local_accounts;
            let account = accounts.choose(rng).cloned().unwrap_or_default();
            (host, account)
        })
        .collect()
}

/// The attack in progress: its clock and what it has done so far.
struct Attack {
    outcome: AttackOutcome,
    time: Epoch,
}

impl Attack {
    fn step(&mut self, time: Epoch, kind: StepKind, host: Option<&str>, detail: String) {
        self.outcome.steps.push(AttackStep {
            time: utc(time),
            kind,
            host: host.map(str::to_string),
            detail,
        });
    }

    fn authenticate(&mut self, rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, caller: &ApiCaller) {
        rec.api_call(rng, self.time, caller, "auth.token", "", true);
        self.step(
            self.time,
            StepKind::TokenAuthentication,
            None,
            format!("token for {} from {}", caller.key_id, caller.ip),
        );
    }

    /// Lists users, sessions and jump clients; the stealthy attacker calls only what the
    /// integration itself calls.
    fn reconnoitre(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        caller: &ApiCaller,
        stealthy: bool,
    ) {
        self.time += rng.random_range(20..90);
        let actions: &[&'static str] = if stealthy {
            &["session.list"]
        } else {
            &["user.list", "session.list", "jump_client.list"]
        };
        for &action in actions {
            rec.api_call(rng, self.time, caller, action, "", true);
            self.step(
                self.time,
                StepKind::Reconnaissance,
                None,
                action.to_string(),
            );
            self.time += rng.random_range(5..30);
        }
    }

    /// Resets the chosen accounts (and, sometimes, a second local account of the same host),
    /// starting 1.5 to 4 minutes after the token (slowly: minutes to an hour apart). The
    /// appliance logs each as a change of the Vault account that holds the endpoint's
    /// credential (`account_changed`, `password=***`), the endpoint as event 4724.
    fn reset_passwords(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        caller: &ApiCaller,
        targets: &[(usize, String)],
        slow: bool,
    ) {
        let first_reset = self
            .outcome
            .steps
            .first()
            .map(|s| s.time.timestamp())
            .unwrap_or(self.time)
            + rng.random_range(90..240);
        self.time = self.time.max(first_reset);
        for (host, account) in targets {
            let station = rec.world.workstations[*host].clone();
            let mut accounts = vec![account.clone()];
            if !slow && rng.random_bool(0.3) {
                accounts.extend(
                    station
                        .local_accounts
                        .iter()
                        .filter(|a| *a != account)
                        .take(1)
                        .cloned(),
                );
            }
            for account in accounts {
                let target = format!("{account}@{}", station.name);
                rec.api_call(rng, self.time, caller, "user.password_reset", &target, true);
                rec.vault_account_changed(self.time, &caller.who(), caller.ip, &account, *host);
                rec.endpoint(
                    self.time + 2,
                    *host,
                    EndpointKind::PasswordReset {
                        target_user: account,
                        subject_user: format!("{}$", station.name),
                    },
                );
                self.step(
                    self.time,
                    StepKind::PasswordReset,
                    Some(&station.name),
                    target.clone(),
                );
                self.outcome.accounts_reset.push(target);
                self.time += if slow {
                    rng.random_range(8..45) * MINUTE
                } else {
                    rng.random_range(20..120)
                };
            }
        }
    }

    /// Resets a representative's site password through the API: the appliance logs a
    /// `user_changed` by the API account with the password marked changed.
    fn reset_site_user(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        caller: &ApiCaller,
        rep: &Representative,
    ) {
        self.time += rng.random_range(90..240);
        rec.api_call(
            rng,
            self.time,
            caller,
            "user.password_reset",
            &rep.user,
            true,
        );
        rec.user_changed(
            self.time,
            &caller.who(),
            caller.ip,
            rep,
            &[("new_password", "***NEW***")],
        );
        self.step(
            self.time,
            StepKind::SiteUserPasswordReset,
            None,
            format!("site user {}", rep.user),
        );
        self.outcome.site_account = Some(rep.user.clone());
    }

    /// Logs in to the representative console as `rep`, with the password just set.
    fn console_login(&mut self, rec: &mut Recorder<'_>, rep: &Representative, ip: Ipv4Addr) {
        rec.appliance(
            self.time,
            "login",
            vec![
                ("status", "success".to_string()),
                ("target", "rep_client".to_string()),
                ("who", format!("{} using password", rep.who())),
                ("who_ip", ip.to_string()),
            ],
        );
        self.step(
            self.time,
            StepKind::ConsoleLogin,
            None,
            format!("{} from {ip}", rep.user),
        );
    }

    /// A session to one workstation: shell, enumeration, staging, archive, download.
    fn raid_workstation(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        craft: &Tradecraft,
        host: usize,
        account: &str,
        variant: Variant,
    ) {
        let station = rec.world.workstations[host].clone();
        let by_api = variant != Variant::SiteAccount;
        if by_api {
            rec.api_call(
                rng,
                self.time,
                &craft.caller,
                "session.start",
                &station.name,
                true,
            );
        }
        let handle = rec.begin_session(rng, self.time, craft.session_rep.clone(), host, "");
        self.step(
            self.time,
            StepKind::SessionStart,
            Some(&station.name),
            format!("session {}", handle.lsid),
        );
        self.outcome.sessions.push(handle.lsid.clone());
        self.outcome.hosts_touched.push(station.name.clone());
        let mut client = handle.client.clone();
        if by_api {
            rec.endpoint(
                self.time + 20,
                host,
                EndpointKind::Logon {
                    user: account.to_string(),
                    domain: station.name.clone(),
                    logon_type: 2,
                    source: "127.0.0.1".to_string(),
                },
            );
            client.user = format!(r"{}\{account}", station.name);
        }
        self.time += rng.random_range(40..120);
        let session = Session {
            handle: handle.clone(),
            host,
            host_name: station.name.clone(),
            client,
        };
        self.run_commands(rng, rec, craft, &session, &station.user);
        if by_api {
            rec.api_call(
                rng,
                self.time,
                &craft.caller,
                "session.end",
                &station.name,
                true,
            );
        }
        rec.end_session(&handle, self.time);
        self.step(
            self.time,
            StepKind::SessionEnd,
            Some(&station.name),
            format!("session {}", handle.lsid),
        );
    }

    /// What the intruder does in one session: a shell, a look around, document discovery,
    /// staging, an archive, its download, and cleaning up.
    fn run_commands(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        craft: &Tradecraft,
        session: &Session,
        user: &str,
    ) {
        rec.session_event(
            &session.handle,
            self.time,
            "Command Shell Session Started",
            None,
        );
        let shell = rec.spawn(rng, self.time, session.host, &session.client, CMD, "");
        let host = Some(session.host_name.as_str());
        self.step(
            self.time,
            StepKind::ShellSpawned,
            host,
            shell.command_line.clone(),
        );
        for (program, arguments) in [
            (r"C:\Windows\System32\whoami.exe", "/all"),
            (r"C:\Windows\System32\net.exe", "localgroup administrators"),
        ] {
            self.time += rng.random_range(5..40);
            session.command(rng, rec, self.time, &shell, program, arguments);
        }
        self.time += rng.random_range(10..60);
        self.enumerate_documents(rng, rec, craft, session, &shell);
        self.time += rng.random_range(30..120);
        self.stage_documents(rng, rec, craft, session, &shell, user);
        self.time += rng.random_range(20..90);
        self.archive_and_download(rng, rec, craft, session, &shell);
        self.time += rng.random_range(20..90);
        let cleanup = format!(
            r"/c del /q {0}\*.docx {0}\*.xlsx {0}\*.pdf {0}\*.pptx",
            craft.staging
        );
        session.command(rng, rec, self.time, &shell, CMD, &cleanup);
        self.time += rng.random_range(20..90);
    }

    /// Lists every user's documents, with `dir` or `Get-ChildItem` as the seed chose.
    fn enumerate_documents(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        craft: &Tradecraft,
        session: &Session,
        shell: &Process,
    ) {
        let (image, arguments) = if craft.powershell_enumeration {
            (
                POWERSHELL,
                r"-NoProfile -Command $ErrorActionPreference='SilentlyContinue'; Get-ChildItem -Path C:\Users\*\Documents -Recurse -Include *.docx,*.xlsx,*.pdf,*.pptx | Select-Object FullName,Length,LastWriteTime | Format-Table -AutoSize",
            )
        } else {
            (
                CMD,
                r"/c dir /s /b C:\Users\*\Documents\*.docx C:\Users\*\Documents\*.xlsx C:\Users\*\Documents\*.pdf",
            )
        };
        let process = session.command(rng, rec, self.time, shell, image, arguments);
        let host = Some(session.host_name.as_str());
        self.step(
            self.time,
            StepKind::DocumentEnumeration,
            host,
            process.command_line,
        );
    }

    /// Archives the staging folder (7-Zip with a password, or `Compress-Archive`) and
    /// downloads the archive through the session.
    fn archive_and_download(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        craft: &Tradecraft,
        session: &Session,
        shell: &Process,
    ) {
        let staging = &craft.staging;
        let archive = format!(r"{staging}\{}", craft.archive_name);
        let (image, arguments) = if craft.seven_zip {
            let password = hex(rng, 10);
            let arguments = format!(r"a -tzip -mx=9 -p{password} {archive} {staging}\*");
            (SEVEN_ZIP, arguments)
        } else {
            let arguments = format!(
                r"-NoProfile -Command Compress-Archive -Path {staging}\* -DestinationPath {archive} -CompressionLevel Optimal"
            );
            (POWERSHELL, arguments)
        };
        let archiver = session.command(rng, rec, self.time, shell, image, &arguments);
        self.time += rng.random_range(10..60);
        rec.create_file(self.time, session.host, &archiver, archive.clone());
        let host = Some(session.host_name.as_str());
        self.step(self.time, StepKind::ArchiveCreated, host, archive.clone());
        self.time += rng.random_range(20..90);
        rec.session_event(
            &session.handle,
            self.time,
            "File Download",
            Some(archive.clone()),
        );
        self.step(self.time, StepKind::FileDownload, host, archive);
    }

    /// Copies the workstation user's documents into the staging folder.
    fn stage_documents(
        &mut self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        craft: &Tradecraft,
        session: &Session,
        shell: &Process,
        user: &str,
    ) {
        session.command(
            rng,
            rec,
            self.time,
            shell,
            CMD,
            &format!("/c mkdir {}", craft.staging),
        );
        self.time += rng.random_range(5..20);
        let arguments = format!(
            r"C:\Users\{user}\Documents {} *.docx *.xlsx *.pdf *.pptx /S /R:0 /W:0 /NP /NFL",
            craft.staging
        );
        let copier = session.command(
            rng,
            rec,
            self.time,
            shell,
            r"C:\Windows\System32\Robocopy.exe",
            &arguments,
        );
        self.step(
            self.time,
            StepKind::DocumentStaging,
            Some(&session.host_name),
            copier.command_line.clone(),
        );
        let mut stems: Vec<&str> = names::DOCUMENT_STEMS.to_vec();
        stems.shuffle(rng);
        for stem in stems.iter().take(rng.random_range(4..=12)) {
            let extension = names::DOCUMENT_EXTENSIONS
                .choose(rng)
                .copied()
                .unwrap_or("docx");
            self.time += rng.random_range(0..3);
            rec.create_file(
                self.time,
                session.host,
                &copier,
                format!(r"{}\{stem}.{extension}", craft.staging),
            );
        }
    }

    /// The vendor revokes the key; the attacker's later tries fail.
    fn revoke(&mut self, rng: &mut ChaCha8Rng, rec: &mut Recorder<'_>, caller: &ApiCaller) {
        let key = self.outcome.key.clone();
        let admin = rec.world.vendor_admin.clone();
        rec.api_account_changed(
            self.time,
            &admin,
            &key,
            &[("new_enabled", "0"), ("new_client_secret", "***NEW***")],
        );
        let vendor = ApiCaller::usual_at(&rec.world.vendor_key, self.time);
        rec.api_call(rng, self.time + 5, &vendor, "api_key.revoke", &key.id, true);
        self.step(
            self.time,
            StepKind::KeyRevoked,
            None,
            format!("{} revoked by {}", key.id, admin.user),
        );
        self.outcome.revocation = self.time;
        if rng.random_bool(0.7) {
            let mut time = self.time + rng.random_range(10..180) * MINUTE;
            for _ in 0..rng.random_range(1..=3) {
                rec.api_call(rng, time, caller, "auth.token", "", false);
                self.outcome.steps.push(AttackStep {
                    time: utc(time),
                    kind: StepKind::RevokedKeyRejected,
                    host: None,
                    detail: format!("token refused for {} from {}", caller.key_id, caller.ip),
                });
                time += rng.random_range(1..20) * MINUTE;
            }
        }
    }
}

/// An open session: its handle, workstation and support client process.
struct Session {
    handle: SessionHandle,
    host: usize,
    host_name: String,
    client: Process,
}

impl Session {
    /// A command typed in the session's shell: the process it starts (the session report
    /// records only that a shell was opened, not what was typed in it).
    fn command(
        &self,
        rng: &mut ChaCha8Rng,
        rec: &mut Recorder<'_>,
        time: Epoch,
        shell: &Process,
        image: &str,
        arguments: &str,
    ) -> Process {
        rec.spawn(rng, time + 1, self.host, shell, image, arguments)
    }
}

fn utc(time: Epoch) -> DateTime<Utc> {
    DateTime::from_timestamp(time, 0).unwrap_or_default()
}
