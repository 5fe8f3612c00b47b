//! The vendor's vocabulary the generator writes, and only it: the appliance's documented
//! syslog events, the outbound events' names and the session reports' event types (see
//! `crates/decode/FORMATS.md` and the vendor pages it cites). Tests check every generated
//! record against these lists, so that no invented event name creeps back in.

/// Syslog events (`event=`) the generator writes, each one the vendor documents:
/// logins and logouts (console, web and API), a user's own password change, site users
/// added and changed, API accounts added and changed, Vault accounts changed.
pub const APPLIANCE_EVENTS: &[&str] = &[
    "login",
    "logout",
    "change_password",
    "user_added",
    "user_changed",
    "api_account_added",
    "api_account_changed",
    "account_changed",
];

/// Outbound events (`event=`) the generator writes (the vendor's HTTP recipient triggers:
/// a session starting and ending, someone joining or leaving it).
pub const OUTBOUND_EVENTS: &[&str] = &[
    "support_conference_begin",
    "support_conference_end",
    "support_conference_member_added",
    "support_conference_member_departed",
];

/// Session report `event_type`s the generator writes.
pub const REPORT_EVENT_TYPES: &[&str] = &[
    "Session Start",
    "Session End",
    "Conference Member Added",
    "Command Shell Session Started",
    "File Upload",
    "File Download",
];
