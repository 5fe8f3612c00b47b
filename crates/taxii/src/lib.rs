//! TAXII 2.1 for tocsin: how partners exchange STIX 2.1 objects over HTTPS.
//!
//! # Brief overview
//!
//! * [`resources`]: the protocol's JSON resources (discovery, API root, collection,
//!   envelope, manifest, versions, status, error) and its media type, shared by the server
//!   (`tocsin serve`) and the client (`tocsin share`), so that both speak the same words.
//! * [`client`]: [`TaxiiClient`], a blocking client (discovery, collections, get objects
//!   page by page, add objects and wait for their status), bounded against hostile servers.
//! * [`envelopes`]: objects split into envelopes no larger than a server accepts.
//! * [`intel_dir`]: [`IntelDir`], the folder of pulled bundles that detection reads as
//!   indicators, merged object by object and written atomically.
//! * [`pull`]: one incremental pull of a collection into an [`IntelDir`], shared by
//!   `tocsin share pull` and `tocsin serve`'s scheduled pulls.
//! * [`store`]: [`CollectionStore`], a server's collections, objects and add statuses in
//!   SQLite, with the filters and paging of [`query`] ([`Query`]).
//! * [`time`]: TAXII timestamps as microseconds.
//!
//! The specification is OASIS TAXII Version 2.1 (Committee Specification 01, 2021); section
//! numbers in comments refer to it.

pub mod client;
pub mod envelopes;
pub mod intel_dir;
pub mod pull;
pub mod query;
pub mod resources;
pub mod store;
pub mod time;

pub use client::{ClientError, ClientOptions, Credentials, Fetched, ObjectFilter, TaxiiClient};
pub use intel_dir::{IntelDir, IntelError, MergeCounts, SourceKey};
pub use pull::{pull, PullError, PullReport, PullRequest};
pub use query::{Limits, Query, QueryError, VersionFilter};
pub use resources::{
    ApiRoot, Collection, Collections, Discovery, Envelope, ErrorMessage, Manifest, ManifestRecord,
    Status, StatusDetails, StatusValue, Versions, MEDIA_TYPE, STIX_MEDIA_TYPE,
};
pub use store::{CollectionRecord, CollectionStore, Page, StoreError};
