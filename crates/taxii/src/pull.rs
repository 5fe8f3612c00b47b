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
    let counts = intel.merge(&source, &fetched.objects)?;
    let date_added_last = match (&fetched.date_added_last, &remembered.date_added_last) {
        (Some(new), old) => Some(latest(old.clone(), new)),
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
