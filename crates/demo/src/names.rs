//! Word lists the world is drawn from: people, organisations, files, user agents.
//!
//! Kept apart from the generator so that the generator reads as behaviour, not data.

/// Given names of representatives and employees.
pub(crate) const FIRST_NAMES: &[&str] = &[
    "Alice", "Ana", "Andre", "Brian", "Carla", "Chen", "Daniel", "Deepa", "Diego", "Elena",
    "Emeka", "Farah", "Grace", "Hannah", "Hiro", "Ines", "Ivan", "James", "Jana", "Jorge", "Julia",
    "Kemal", "Kofi", "Laura", "Li", "Lucas", "Maria", "Mark", "Mei", "Mohamed", "Nadia", "Nina",
    "Omar", "Paul", "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Tom", "Uma",
    "Victor", "Wei", "Yara", "Yusuf", "Zoe",
];

/// Family names of representatives and employees.
pub(crate) const LAST_NAMES: &[&str] = &[
    "Adams", "Alvarez", "Baker", "Banerjee", "Brooks", "Castro", "Chen", "Clarke", "Cohen", "Diaz",
    "Evans", "Fischer", "Garcia", "Gupta", "Hall", "Hughes", "Ito", "Jensen", "Khan", "Kim",
    "Kowalski", "Lee", "Lopez", "Martin", "Mendes", "Meyer", "Moreau", "Murphy", "Nguyen", "Novak",
    "Okafor", "Olsen", "Patel", "Perez", "Quinn", "Reyes", "Rossi", "Santos", "Schmidt", "Silva",
    "Singh", "Smith", "Suzuki", "Taylor", "Tran", "Walker", "Weber", "Young",
];

/// Organisations the environment may belong to (all under the reserved `.example` domain).
pub(crate) const ORGANISATIONS: &[&str] = &[
    "northwind",
    "contoso",
    "fabrikam",
    "tailspin",
    "woodgrove",
    "adatum",
    "litware",
    "proseware",
];

/// Prefixes of workstation host names.
pub(crate) const HOST_PREFIXES: &[&str] = &["WS", "PC", "DT", "WKS"];

/// Departments, used as jump groups on the appliance.
pub(crate) const DEPARTMENTS: &[&str] = &[
    "Finance",
    "Accounting",
    "Legal",
    "HR",
    "Procurement",
    "Policy",
    "Operations",
    "IT",
];

/// Names of the built-in local administrator account an organisation standardises on.
pub(crate) const LOCAL_ADMIN_NAMES: &[&str] = &[
    "localadmin",
    "Administrator",
    "itadmin",
    "deskadmin",
    "support_local",
];

/// Local application accounts some workstations carry.
pub(crate) const LOCAL_APP_ACCOUNTS: &[&str] =
    &["svc_backup", "svc_scanner", "kiosk", "svc_print", "appsvc"];

/// Document names users keep in their Documents folder.
pub(crate) const DOCUMENT_STEMS: &[&str] = &[
    "budget-fy25",
    "sanctions-review",
    "memo-draft",
    "briefing-notes",
    "q4-forecast",
    "vendor-contracts",
    "travel-plan",
    "meeting-minutes",
    "policy-options",
    "staffing",
    "audit-findings",
    "cable-summary",
    "board-deck",
    "risk-register",
    "procurement-list",
];

/// Document extensions.
pub(crate) const DOCUMENT_EXTENSIONS: &[&str] = &["docx", "xlsx", "pdf", "pptx"];

/// Commands representatives legitimately run in a session's command shell.
pub(crate) const BENIGN_SHELL_COMMANDS: &[&str] = &[
    "ipconfig /all",
    "gpupdate /force",
    "sfc /scannow",
    "netsh winsock reset",
    "systeminfo",
    "tasklist /svc",
    "net use",
    "wmic printer list brief",
];

/// Installers and logs representatives push to a workstation in file transfers.
pub(crate) const BENIGN_TRANSFER_FILES: &[&str] = &[
    "PrinterDriver_x64.msi",
    "VPNClient-5.2.1.msi",
    "OfficeRepair.cmd",
    "TeamsBootstrapper.exe",
    "diag-collector.ps1",
];

/// Ordinary applications on a workstation, with the parent that usually starts them.
pub(crate) const DESKTOP_APPS: &[(&str, &str)] = &[
    (
        r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Users\{user}\AppData\Local\Microsoft\Teams\current\Teams.exe",
        r"C:\Windows\explorer.exe",
    ),
    (
        r"C:\Program Files\Microsoft OneDrive\OneDrive.exe",
        r"C:\Windows\System32\userinit.exe",
    ),
];

/// User agents the attacker's tooling may present (some look like ordinary scripts).
pub(crate) const ATTACKER_USER_AGENTS: &[&str] = &[
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Go-http-client/2.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "python-urllib3/2.2.3",
];

/// Staging folders the attacker may copy documents into.
pub(crate) const STAGING_FOLDERS: &[&str] = &[
    r"C:\Users\Public\Libraries\sync",
    r"C:\ProgramData\Microsoft\Crypto\cache",
    r"C:\Windows\Temp\wct{hex}",
    r"C:\PerfLogs\Admin",
];
