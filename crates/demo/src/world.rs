//! The environment the scenario happens in: the remote-support site, its representatives,
//! API keys and the workstations it reaches, all drawn from the seed.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::names;
use crate::DemoConfig;

/// First octets of the public addresses ordinary traffic comes from (corporate egress, cloud
/// automation, the vendor). Disjoint from [`ATTACKER_FIRST_OCTETS`] so that the attacker's
/// infrastructure is always unseen before the intrusion.
const BENIGN_FIRST_OCTETS: &[u8] = &[23, 40, 52, 63, 64, 66, 72, 98, 129, 132, 140, 152, 162];

/// First octets of the hosting ranges the attacker rents servers in.
const ATTACKER_FIRST_OCTETS: &[u8] = &[45, 89, 91, 94, 103, 146, 167, 178, 185, 193, 212];

/// A help-desk representative: a person with an appliance account.
#[derive(Debug, Clone)]
pub(crate) struct Representative {
    /// Display name, `Jana Novak`.
    pub name: String,
    /// Appliance user name, `jnovak`.
    pub user: String,
    /// Offset of the representative's time zone from UTC, in hours.
    pub utc_offset_hours: i64,
    /// Local hour the shift starts.
    pub shift_start_hour: i64,
    /// Length of the shift in hours.
    pub shift_hours: i64,
    /// Public address the representative's console connects from.
    pub ip: Ipv4Addr,
    /// Whether the representative administers the site (users, API keys).
    pub is_admin: bool,
    /// The site's user id of the representative (the `id` of `user_*` events and of the
    /// session reports' `<representative id>`).
    pub id: u32,
    /// How the representative authenticates (`password` or `saml`), as `who=... using X`.
    pub auth: &'static str,
    /// A hybrid worker's or on-call representative's home address, if any.
    pub home_ip: Option<Ipv4Addr>,
}

impl Representative {
    /// `Name (user)` as the appliance writes the actor of an event.
    pub fn who(&self) -> String {
        format!("{} ({})", self.name, self.user)
    }

    /// `Name (user) using method`, the actor of a login or of a change made in `/login`.
    pub fn who_using(&self) -> String {
        format!("{} using {}", self.who(), self.auth)
    }
}

/// How an API key is used in ordinary times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUsage {
    /// Help-desk automation polling around the clock, occasionally resetting passwords.
    HelpdeskAutomation,
    /// A ticketing connector used on weekdays in office hours only.
    TicketingConnector,
    /// A nightly report export.
    NightlyReport,
    /// An hourly asset inventory sync.
    AssetSync,
}

/// An API key of the site.
#[derive(Debug, Clone)]
pub(crate) struct ApiKey {
    /// Key id, `k-7f3a29`.
    pub id: String,
    /// Key name given by the admin who created it (the API account's name).
    pub name: String,
    /// The API account's OAuth client id (40 hex digits), as the appliance names it.
    pub client_id: String,
    /// The address the key is used from.
    pub ip: Ipv4Addr,
    /// When and where the integration's egress moved within its cloud /16, if it did.
    pub moved: Option<(i64, Ipv4Addr)>,
    /// The user agent of the script that uses it.
    pub user_agent: &'static str,
    /// How it is used.
    pub usage: KeyUsage,
}

impl ApiKey {
    /// The address the key's integration calls from at `time` (after its egress moved,
    /// the new one).
    pub fn ip_at(&self, time: i64) -> Ipv4Addr {
        match self.moved {
            Some((at, ip)) if time >= at => ip,
            _ => self.ip,
        }
    }
}

/// An endpoint reachable through the remote-support jump client.
#[derive(Debug, Clone)]
pub(crate) struct Workstation {
    /// Host name, `WS-0042`.
    pub name: String,
    /// Fully qualified name, `WS-0042.corp.northwind.example`.
    pub fqdn: String,
    /// Internal address.
    pub ip: Ipv4Addr,
    /// Domain account of the person who uses it.
    pub user: String,
    /// Jump group (department) on the appliance.
    pub department: &'static str,
    /// Local accounts on the machine (the standard admin account first).
    pub local_accounts: Vec<String>,
}

/// Everything the scenario happens in.
#[derive(Debug, Clone)]
pub(crate) struct World {
    /// The remote-support site, `support.northwind.example`.
    pub site: String,
    /// The appliance's 4-digit site ID, on every syslog line.
    pub site_id: u32,
    /// Syslog host name of the appliance.
    pub appliance_host: String,
    /// Public address of the appliance (where jump clients connect).
    pub appliance_ip: Ipv4Addr,
    /// Active Directory DNS domain.
    pub ad_domain: String,
    /// NetBIOS domain name.
    pub netbios: String,
    /// The appliance's id in outbound events.
    pub appliance_id: String,
    /// Whether the site is the busy variant's (more sessions a shift).
    pub busy: bool,
    /// Process ids of the appliance's `BG` loggers.
    pub logger_pids: Vec<u32>,
    /// Representatives, admins among them.
    pub representatives: Vec<Representative>,
    /// A representative hired during the benign period (not in `representatives`).
    pub new_hire: Representative,
    /// Help-desk API keys.
    pub keys: Vec<ApiKey>,
    /// The vendor's own operations key, used to revoke a key.
    pub vendor_key: ApiKey,
    /// The vendor's administrator who revokes the key.
    pub vendor_admin: Representative,
    /// Workstations.
    pub workstations: Vec<Workstation>,
    /// Offset of the organisation's headquarters from UTC (workstations' office hours).
    pub hq_utc_offset_hours: i64,
    /// Every public /24 ordinary traffic uses, to keep the attacker out of them.
    pub benign_networks: BTreeSet<[u8; 3]>,
}

impl World {
    /// Draws a world from the generator.
    pub fn generate(rng: &mut ChaCha8Rng, config: &DemoConfig) -> World {
        let org = *names::ORGANISATIONS.choose(rng).unwrap_or(&"example");
        let mut networks = NetworkPool::default();
        let office_egress: Vec<Ipv4Addr> = (0..rng.random_range(2..=3))
            .map(|_| networks.benign_address(rng))
            .collect();
        let mut people = PeoplePool::default();
        let saml = rng.random_bool(0.5);
        let mut representatives: Vec<Representative> = (0..config.representatives)
            .map(|i| draw_representative(rng, &mut people, &office_egress, i < 3))
            .collect();
        for rep in &mut representatives {
            if rng.random_bool(0.3) {
                rep.home_ip = Some(networks.benign_address(rng));
            }
        }
        let mut new_hire = draw_representative(rng, &mut people, &office_egress, false);
        let mut vendor_admin = draw_representative(rng, &mut people, &office_egress, true);
        vendor_admin.ip = networks.benign_address(rng);
        let first_id = rng.random_range(2..40);
        for (n, rep) in representatives.iter_mut().enumerate() {
            rep.id = first_id + u32::try_from(n).unwrap_or(0);
            if saml && !rep.is_admin {
                rep.auth = "saml";
            }
        }
        new_hire.id = first_id + u32::try_from(representatives.len()).unwrap_or(0);
        new_hire.auth = representatives.last().map_or("password", |rep| rep.auth);
        vendor_admin.id = 1;
        let keys = draw_keys(rng, &mut networks, &office_egress);
        let vendor_key = ApiKey {
            id: key_id(rng),
            name: "vendor-security-operations".to_string(),
            client_id: hex(rng, 40),
            ip: vendor_admin.ip,
            moved: None,
            user_agent: "BeyondTrust-SecOps/1.4",
            usage: KeyUsage::AssetSync,
        };
        let ad_domain = format!("corp.{org}.example");
        let prefix = *names::HOST_PREFIXES.choose(rng).unwrap_or(&"WS");
        let local_admin = *names::LOCAL_ADMIN_NAMES
            .choose(rng)
            .unwrap_or(&"localadmin");
        let first_number = rng.random_range(10..400);
        let workstations = (0..config.workstations)
            .map(|i| {
                let name = format!("{prefix}-{:04}", first_number + i);
                draw_workstation(rng, &mut people, name, &ad_domain, local_admin, i)
            })
            .collect();
        let mut keys = keys;
        if rng.random_bool(0.7) {
            // An integration's cloud egress moves to another /24 of its /16 one day.
            let cloud: Vec<usize> = (0..keys.len())
                .filter(|&i| keys[i].usage != KeyUsage::AssetSync)
                .collect();
            if let Some(&index) = cloud.choose(rng) {
                let end = config.benign_period_end.timestamp();
                let days = i64::from(config.benign_days.max(3));
                let day = end - rng.random_range(1..days) * 86_400 + rng.random_range(0..86_400);
                let ip = networks.neighbour(rng, keys[index].ip);
                keys[index].moved = Some((day, ip));
            }
        }
        World {
            site: format!("support.{org}.example"),
            site_id: rng.random_range(1000..10_000),
            appliance_host: format!("rs-appliance-{:02}", rng.random_range(1..5)),
            appliance_ip: networks.benign_address(rng),
            netbios: org.to_uppercase(),
            ad_domain,
            appliance_id: format!("{}", rng.random_range(100_000..1_000_000)),
            busy: false,
            logger_pids: (0..rng.random_range(2..6))
                .map(|_| rng.random_range(2_000..60_000))
                .collect(),
            representatives,
            new_hire,
            keys,
            vendor_key,
            vendor_admin,
            workstations,
            hq_utc_offset_hours: *[-5, -6].choose(rng).unwrap_or(&-5),
            benign_networks: networks.used,
        }
    }

    /// The site's administrators.
    pub fn admins(&self) -> impl Iterator<Item = &Representative> {
        self.representatives.iter().filter(|rep| rep.is_admin)
    }

    /// An address in another /24 of `ip`'s /16 that no ordinary traffic used and that is
    /// not in `avoid`'s /24s: the same cloud, another of its networks.
    pub fn cloud_neighbour(
        &self,
        rng: &mut ChaCha8Rng,
        ip: Ipv4Addr,
        avoid: &[Ipv4Addr],
    ) -> Ipv4Addr {
        let [a, b, _, _] = ip.octets();
        loop {
            let octets = [a, b, rng.random_range(0..=255)];
            let taken = avoid.iter().any(|ip| ip.octets()[..3] == octets);
            if !taken && !self.benign_networks.contains(&octets) {
                return Ipv4Addr::new(a, b, octets[2], rng.random_range(2..=254));
            }
        }
    }

    /// A public address in the ranges ordinary traffic comes from (a hotel's, a home's),
    /// never one of the attacker's hosting ranges.
    pub fn fresh_benign_address(&self, rng: &mut ChaCha8Rng) -> Ipv4Addr {
        Ipv4Addr::new(
            *BENIGN_FIRST_OCTETS.choose(rng).unwrap_or(&52),
            rng.random_range(0..=255),
            rng.random_range(0..=255),
            rng.random_range(2..=254),
        )
    }

    /// An address in a hosting range no ordinary traffic has used, its /24 distinct from
    /// `avoid`.
    pub fn attacker_address(&self, rng: &mut ChaCha8Rng, avoid: &[Ipv4Addr]) -> Ipv4Addr {
        loop {
            let octets = [
                *ATTACKER_FIRST_OCTETS.choose(rng).unwrap_or(&185),
                rng.random_range(0..=255),
                rng.random_range(0..=255),
            ];
            let taken = avoid.iter().any(|ip| ip.octets()[..3] == octets);
            if !taken && !self.benign_networks.contains(&octets) {
                return Ipv4Addr::new(octets[0], octets[1], octets[2], rng.random_range(2..=254));
            }
        }
    }
}

/// Hands out public addresses, remembering their /24s.
#[derive(Default)]
struct NetworkPool {
    used: BTreeSet<[u8; 3]>,
}

impl NetworkPool {
    fn benign_address(&mut self, rng: &mut ChaCha8Rng) -> Ipv4Addr {
        let octets = [
            *BENIGN_FIRST_OCTETS.choose(rng).unwrap_or(&52),
            rng.random_range(0..=255),
            rng.random_range(0..=255),
        ];
        self.used.insert(octets);
        Ipv4Addr::new(octets[0], octets[1], octets[2], rng.random_range(2..=254))
    }

    /// An address in another /24 of `ip`'s /16, remembered like the others.
    fn neighbour(&mut self, rng: &mut ChaCha8Rng, ip: Ipv4Addr) -> Ipv4Addr {
        let [a, b, c, _] = ip.octets();
        loop {
            let octets = [a, b, rng.random_range(0..=255)];
            if octets[2] != c && self.used.insert(octets) {
                return Ipv4Addr::new(a, b, octets[2], rng.random_range(2..=254));
            }
        }
    }
}

/// Hands out unique people (display name and account name).
#[derive(Default)]
struct PeoplePool {
    accounts: BTreeSet<String>,
}

impl PeoplePool {
    fn person(&mut self, rng: &mut ChaCha8Rng) -> (String, String) {
        let first = *names::FIRST_NAMES.choose(rng).unwrap_or(&"Sam");
        let last = *names::LAST_NAMES.choose(rng).unwrap_or(&"Smith");
        let base = format!("{}{}", &first[..1], last).to_lowercase();
        let mut account = base.clone();
        let mut suffix = 2;
        while !self.accounts.insert(account.clone()) {
            account = format!("{base}{suffix}");
            suffix += 1;
        }
        (format!("{first} {last}"), account)
    }
}

fn draw_representative(
    rng: &mut ChaCha8Rng,
    people: &mut PeoplePool,
    office_egress: &[Ipv4Addr],
    is_admin: bool,
) -> Representative {
    let (name, user) = people.person(rng);
    Representative {
        name,
        user,
        utc_offset_hours: *[-5, -5, -5, -6, -6, -7, -8].choose(rng).unwrap_or(&-5),
        shift_start_hour: rng.random_range(7..=10),
        shift_hours: rng.random_range(8..=9),
        ip: *office_egress.choose(rng).unwrap_or(&Ipv4Addr::LOCALHOST),
        is_admin,
        id: 0,
        auth: "password",
        home_ip: None,
    }
}

fn draw_keys(
    rng: &mut ChaCha8Rng,
    networks: &mut NetworkPool,
    office_egress: &[Ipv4Addr],
) -> Vec<ApiKey> {
    let cloud = networks.benign_address(rng);
    let office = *office_egress.first().unwrap_or(&Ipv4Addr::LOCALHOST);
    let mut keys = vec![
        ApiKey {
            id: key_id(rng),
            name: "helpdesk-automation".to_string(),
            client_id: hex(rng, 40),
            moved: None,
            ip: cloud,
            user_agent: "python-requests/2.31.0",
            usage: KeyUsage::HelpdeskAutomation,
        },
        ApiKey {
            id: key_id(rng),
            name: "itsm-connector".to_string(),
            client_id: hex(rng, 40),
            moved: None,
            ip: networks.benign_address(rng),
            user_agent: "ServiceNow/Xanadu",
            usage: KeyUsage::TicketingConnector,
        },
        ApiKey {
            id: key_id(rng),
            name: "nightly-report-export".to_string(),
            client_id: hex(rng, 40),
            moved: None,
            ip: cloud,
            user_agent:
                "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.5247",
            usage: KeyUsage::NightlyReport,
        },
        ApiKey {
            id: key_id(rng),
            name: "asset-inventory-sync".to_string(),
            client_id: hex(rng, 40),
            moved: None,
            ip: office,
            user_agent: "python-requests/2.28.2",
            usage: KeyUsage::AssetSync,
        },
    ];
    if rng.random_bool(0.5) {
        keys.push(ApiKey {
            id: key_id(rng),
            name: "helpdesk-automation-dr".to_string(),
            client_id: hex(rng, 40),
            moved: None,
            ip: networks.benign_address(rng),
            user_agent: "python-requests/2.31.0",
            usage: KeyUsage::HelpdeskAutomation,
        });
    }
    keys
}

fn draw_workstation(
    rng: &mut ChaCha8Rng,
    people: &mut PeoplePool,
    name: String,
    ad_domain: &str,
    local_admin: &str,
    index: usize,
) -> Workstation {
    let (_, user) = people.person(rng);
    let mut local_accounts = vec![local_admin.to_string()];
    if rng.random_bool(0.3) {
        let app = *names::LOCAL_APP_ACCOUNTS.choose(rng).unwrap_or(&"appsvc");
        local_accounts.push(app.to_string());
    }
    let subnet = u8::try_from(index / 200).unwrap_or(u8::MAX);
    let host = u8::try_from(index % 200 + 20).unwrap_or(u8::MAX);
    Workstation {
        fqdn: format!("{name}.{ad_domain}"),
        name,
        ip: Ipv4Addr::new(10, 20, 10u8.saturating_add(subnet), host),
        user,
        department: names::DEPARTMENTS.choose(rng).copied().unwrap_or("IT"),
        local_accounts,
    }
}

/// A fresh API key id, `k-` and six hex digits.
pub(crate) fn key_id(rng: &mut ChaCha8Rng) -> String {
    format!("k-{:06x}", rng.random_range(0..0x100_0000u32))
}

/// `n` random lowercase hex digits.
pub(crate) fn hex(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

impl Representative {
    /// The representative as the representative of a session, from `ip`.
    pub fn session_rep(&self, ip: Ipv4Addr) -> crate::records::SessionRep {
        crate::records::SessionRep {
            display_name: self.name.clone(),
            username: self.user.clone(),
            id: self.id.to_string(),
            public_ip: ip,
        }
    }
}
