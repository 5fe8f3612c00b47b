//! [`pull`]: one pull of a collection into the [`IntelDir`], shared by `tocsin share pull`
//! and the scheduled pulls of `tocsin serve`, so that both fetch, merge and remember alike.
//!
//! A pull is incremental unless told otherwise: it asks for what was added after the last
//! `X-TAXII-Date-Added-Last` of the same server and collection, and remembers the new one
//! only once the objects are safely merged (a failed pull is simply repeated).

use std::path::PathBuf;

use serde::Serialize;

use crate::client::{latest, ClientError, ObjectFilter, TaxiiClient};
use crate::intel_dir::{IntelDir, IntelError, MergeCounts, SourceKey, SourceState};
use crate::resources::Collection;

/// What to pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequest {
    /// The collection's id, alias or title.
    pub collection: String,
    /// Only objects added after this time (overrides the remembered one).
    pub added_after: Option<String>,
    /// Fetch everything, ignoring what was remembered.
    pub all: bool,
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullReport {
    /// The API root pulled from.
    pub api_root: String,
    /// The collection pulled.
    pub collection_id: String,
    /// Its title.
    pub collection_title: String,
    /// The `added_after` asked for, if any.
    pub added_after: Option<String>,
    /// Pages read.
    pub pages: usize,
    /// What the merge did.
    pub counts: MergeCounts,
    /// The `added_after` of the next incremental pull.
    pub date_added_last: Option<String>,
    /// The bundle file.
    pub bundle: PathBuf,
}

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The server failed or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The intel folder cannot be used.
    #[error(transparent)]
    Intel(#[from] IntelError),
    /// The requester may not read the collection.
    #[error("{url}: the collection {collection} cannot be read with these credentials (can_read is false)")]
    NotReadable {
        /// The API root.
        url: String,
        /// The collection's id.
        collection: String,
    },
}

/// How far ahead of this machine's clock a server's `X-TAXII-Date-Added-Last` may be
/// (clocks differ a little).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// A server's `X-TAXII-Date-Added-Last` as a watermark to pull after, at most a little
/// ahead of now: a date far in the future (a broken or hostile server) would make every
/// later pull ask for nothing.
fn plausible(date_added_last: Option<&str>) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(date_added_last?).ok()?;
    let limit = chrono::Utc::now() + CLOCK_SKEW;
    Some(match parsed > limit {
        true => limit.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        false => date_added_last?.to_owned(),
    })
}

/// Pulls `request`'s collection from `client`'s server into `intel`.
pub fn pull(
    client: &TaxiiClient,
    intel: &IntelDir,
    request: &PullRequest,
) -> Result<PullReport, PullError> {
    let (api_root, _) = client.resolve_api_root()?;
    let collection = readable(client, &api_root, &request.collection)?;
    let source = SourceKey::new(client.url(), &collection.id);
    let remembered = intel.state(&source)?;
    let added_after = match (&request.added_after, request.all) {
        (Some(after), _) => Some(after.clone()),
        (None, true) => None,
        (None, false) => remembered.date_added_last.clone(),
    };
    let filter = ObjectFilter {
        added_after: added_after.clone(),
        ..ObjectFilter::default()
    };
    let fetched = client.get_objects(&api_root, &collection.id, &filter)?;
    // Merged and remembered under the folder's lock, against the state as it is now (a
    // concurrent pull may have moved it while this one fetched).
    let _lock = intel.lock()?;
    let counts = intel.merge(&source, &fetched.objects)?;
    let remembered = intel.state(&source)?;
    let date_added_last = match (
        plausible(fetched.date_added_last.as_deref()),
        &remembered.date_added_last,
    ) {
        (Some(new), old) => Some(latest(old.clone(), &new)),
        (None, old) => old.clone(),
    };
    if date_added_last != remembered.date_added_last {
        intel.save_state(
            &source,
            SourceState {
                date_added_last: date_added_last.clone(),
            },
        )?;
    }
    Ok(PullReport {
        api_root,
        collection_id: collection.id,
        collection_title: collection.title,
        added_after,
        pages: fetched.pages,
        counts,
        date_added_last,
        bundle: intel.bundle_path(&source),
    })
}

/// The collection `key`, if the requester may read it.
fn readable(client: &TaxiiClient, api_root: &str, key: &str) -> Result<Collection, PullError> {
    let collection = client.find_collection(api_root, key)?;
    if !collection.can_read {
        return Err(PullError::NotReadable {
            url: api_root.into(),
            collection: collection.id,
        });
    }
    Ok(collection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_from_the_future_is_brought_back_to_now() {
        assert_eq!(
            plausible(Some("2024-12-02T10:00:00.000000Z")).as_deref(),
            Some("2024-12-02T10:00:00.000000Z")
        );
        let clamped = plausible(Some("9999-01-01T00:00:00Z")).unwrap();
        assert!(clamped.starts_with("20"), "{clamped}");
        assert!(clamped.as_str() < "2100", "{clamped}");
        assert_eq!(plausible(Some("not a date")), None);
        assert_eq!(plausible(None), None);
    }
}
