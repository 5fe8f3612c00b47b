//! The TAXII 2.1 resources (section 3.6 onwards) as serde types: what a server sends and a
//! client reads. Optional properties are left out of the JSON when absent, as the
//! specification asks ("MUST NOT be present" rather than `null`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The TAXII 2.1 media type of every request and response body (section 1.6.8.1).
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// The STIX 2.1 media type a collection's objects have (section 1.6.8.2).
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// The discovery resource (section 4.1): where a server's API roots are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// A human-readable name for the server.
    pub title: String,
    /// What the server offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whom to contact about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// The API root a client should use when it has no other preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The URLs of the API roots the requester may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_roots: Vec<String>,
}

/// An API root's information (section 4.2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiRoot {
    /// A human-readable name.
    pub title: String,
    /// What the API root holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The TAXII versions it speaks (always [`MEDIA_TYPE`] here).
    pub versions: Vec<String>,
    /// The largest request body, in bytes, it accepts (larger ones get 413).
    pub max_content_length: u64,
}

/// A collection resource (section 5.2), as seen by the requester: `can_read` and
/// `can_write` are the requester's own rights.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// The collection's identifier (a UUID).
    pub id: String,
    /// A human-readable name.
    pub title: String,
    /// What the collection holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A short name usable in place of the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Whether the requester may read objects.
    pub can_read: bool,
    /// Whether the requester may add objects.
    pub can_write: bool,
    /// The media types of the objects it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_types: Vec<String>,
}

/// The list of collections (section 5.1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Collections {
    /// The collections the requester may see (absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<Collection>,
}

/// An envelope of objects (section 3.7): one page of a collection's objects.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Whether more objects match than this page holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// The value of the `next` parameter that fetches the following page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The STIX objects of this page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<Value>,
}

/// One object version in a manifest (section 5.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestRecord {
    /// The object's identifier.
    pub id: String,
    /// When the server added this version (RFC 3339, microseconds).
    pub date_added: String,
    /// The version: the object's `modified`, else its `created`.
    pub version: String,
    /// The object's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

/// A collection's manifest (section 5.3): what objects it holds, without their content.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Whether more records match than this page holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// The value of the `next` parameter that fetches the following page (not in the
    /// specification's list for this resource, as for envelopes; clients that page with
    /// `added_after` ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The records of this page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ManifestRecord>,
}

/// The versions of one object (section 5.8).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// Whether more versions match than this page holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// The value of the `next` parameter that fetches the following page (as for
    /// [`Manifest::next`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The versions, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

/// Where a request to add objects stands (section 4.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusValue {
    /// Every object has been processed.
    Complete,
    /// Some objects are still being processed.
    Pending,
}

/// What happened to one object of an add request (section 4.3.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusDetails {
    /// The object's identifier.
    pub id: String,
    /// The object's version.
    pub version: String,
    /// Why it failed, or any other remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The status resource of an add request (section 4.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The status' identifier (a UUID).
    pub id: String,
    /// Whether processing is complete.
    pub status: StatusValue,
    /// When the request was received (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timestamp: Option<String>,
    /// How many objects the request held.
    pub total_count: u64,
    /// How many were added.
    pub success_count: u64,
    /// The objects added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub successes: Vec<StatusDetails>,
    /// How many failed.
    pub failure_count: u64,
    /// The objects that failed, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<StatusDetails>,
    /// How many are still pending.
    pub pending_count: u64,
    /// The objects still pending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pendings: Vec<StatusDetails>,
}

/// A TAXII error message (section 3.6.1), the body of every error response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// A short human-readable summary.
    pub title: String,
    /// What went wrong, in more words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An identifier for this occurrence of the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
    /// The server's own code for the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The HTTP status code sent with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<String>,
    /// A URL with more details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_details: Option<String>,
    /// Further machine-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_optionals_are_left_out() {
        let envelope = Envelope::default();
        assert_eq!(serde_json::to_string(&envelope).unwrap(), "{}");
        let collection = Collection {
            id: "x".into(),
            title: "t".into(),
            ..Collection::default()
        };
        let json = serde_json::to_value(&collection).unwrap();
        assert_eq!(json["can_read"], false);
        assert!(json.get("alias").is_none());
    }

    #[test]
    fn a_status_reads_back() {
        let text = r#"{"id":"s","status":"complete","total_count":2,"success_count":1,
            "successes":[{"id":"indicator--1","version":"2024-12-02T00:00:00.000Z"}],
            "failure_count":1,"failures":[{"id":"x","version":"v","message":"bad"}],
            "pending_count":0}"#;
        let status: Status = serde_json::from_str(text).unwrap();
        assert_eq!(status.status, StatusValue::Complete);
        assert_eq!(status.failures[0].message.as_deref(), Some("bad"));
    }
}
