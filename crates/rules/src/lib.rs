//! tocsin's built-in Sigma rules: the project's own detections for remote-support abuse,
//! embedded in the binary so that `tocsin hunt` and `tocsin demo` work with no rule files.
//!
//! # Brief overview
//!
//! * [`builtin`]: every built-in rule as a [`BuiltinRule`] (file name and YAML text),
//!   compiled in from `crates/rules/rules/*.yml`.
//! * [`BuiltinRule::parse`] and [`builtin_documents`]: the rules parsed with
//!   [`tocsin_sigma::parse_documents`], ready for the engine and the correlator.
//!
//! The rules cover the intrusion of December 2024 into a remote-support SaaS used by the US
//! Treasury (a stolen API key used to reset local accounts, open sessions to workstations
//! and collect documents), and its generalisation to other vendors' clients:
//!
//! * API audit (`rs_api_*`): local account password resets through the API, several of
//!   them by one key (a `value_count` correlation), a reset followed by a session by the
//!   same key (a `temporal_ordered` correlation), sessions started with an API key, API key
//!   management, and API calls from generic HTTP clients.
//! * Appliance syslog (`rs_appliance_*`): the same resets, API account and key changes in
//!   the vendor's names (`api_account_added`, ...), a site user's password set by another
//!   account (`user_changed` with `new_password`), sessions opened with an API key, and
//!   session shell commands that collect users' documents (these last two on the demo's
//!   events: the vendor's syslog carries no session activity).
//! * Session reports (`rs_session_*`): command shells in sessions, and files of users'
//!   Documents or Desktop downloaded.
//! * Windows endpoints (`win_*`): remote-support clients (BeyondTrust `bomgar-scc.exe`,
//!   ScreenConnect, AnyDesk, TeamViewer, RustDesk, Splashtop) spawning shells or writing
//!   archives and scripts, recursive listing and bulk copy of Documents folders, and
//!   documents or archives written to staging folders.
//!
//! # Logsource taxonomy
//!
//! Windows rules use the standard Sigma categories (`process_creation`, `file_event`).
//! The vendor logs use an extension of the taxonomy: `product: remote_support` with
//! `service: appliance` (the appliance's syslog, fields named by their `key=` in the
//! message body, plus `who_name`, `who_user`, `auth_method` derived from `who`) or
//! `service: api_audit` (the API audit log, JSON fields `api_key_id`, `action`, `target`,
//! `result`, `source_ip`, `user_agent`...) or `service: session_report` (the reporting
//! API's session events: `event_type`, `performed_by_username`, `customer_hostname`,
//! `filename`, ...). Accounts in `target` are written
//! `account@HOST` for an endpoint's local account and `user@domain.tld` for a directory
//! account; the rules on local accounts rely on that distinction.

use std::path::Path;

use tocsin_sigma::ast::Document;
use tocsin_sigma::SigmaError;

/// One built-in rule file: its name and its YAML text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRule {
    /// The file name under `crates/rules/rules/`, such as `rs_api_session_start.yml`.
    pub file_name: &'static str,
    /// The rule's YAML text.
    pub text: &'static str,
}

impl BuiltinRule {
    /// The path errors and locations name: `builtin/<file_name>`.
    pub fn path(&self) -> String {
        format!("builtin/{}", self.file_name)
    }

    /// The file's documents, parsed (one result per YAML document).
    pub fn parse(&self) -> Vec<Result<Document, SigmaError>> {
        tocsin_sigma::parse_documents(self.text, Path::new(&self.path()))
    }
}

/// Includes `rules/<name>` as a [`BuiltinRule`].
macro_rules! rule {
    ($name:literal) => {
        BuiltinRule {
            file_name: $name,
            text: include_str!(concat!("../rules/", $name)),
        }
    };
}

/// Every built-in rule, sorted by file name.
static BUILTIN: &[BuiltinRule] = &[
    rule!("rs_api_key_management.yml"),
    rule!("rs_api_local_account_password_reset.yml"),
    rule!("rs_api_password_reset_burst.yml"),
    rule!("rs_api_reset_then_session.yml"),
    rule!("rs_api_session_start.yml"),
    rule!("rs_api_unusual_client.yml"),
    rule!("rs_appliance_api_key_change.yml"),
    rule!("rs_appliance_api_session.yml"),
    rule!("rs_appliance_local_account_password_reset.yml"),
    rule!("rs_appliance_shell_document_collection.yml"),
    rule!("rs_appliance_site_user_password_set.yml"),
    rule!("rs_appliance_user_created.yml"),
    rule!("rs_session_command_shell.yml"),
    rule!("rs_session_document_download.yml"),
    rule!("win_archive_in_staging_folder.yml"),
    rule!("win_bulk_copy_of_user_documents.yml"),
    rule!("win_documents_copied_to_staging_folder.yml"),
    rule!("win_remote_support_client_spawns_shell.yml"),
    rule!("win_remote_support_client_writes_archive.yml"),
    rule!("win_user_documents_enumeration.yml"),
];

/// Every built-in rule, sorted by file name.
pub fn builtin() -> &'static [BuiltinRule] {
    BUILTIN
}

/// Every built-in rule parsed into Sigma documents (rules and correlations).
///
/// # Errors
///
/// The first rule that does not parse (which the crate's tests rule out).
// Same shape as `tocsin_sigma::parse_documents` returns: errors are the cold path.
#[allow(clippy::result_large_err)]
pub fn builtin_documents() -> Result<Vec<Document>, SigmaError> {
    BUILTIN.iter().flat_map(BuiltinRule::parse).collect()
}

#[cfg(test)]
mod tests;
