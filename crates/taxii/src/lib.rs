//! TAXII 2.1 for tocsin: how partners exchange STIX 2.1 objects over HTTPS.
//!
//! # Brief overview
//!
//! * [`resources`]: the protocol's JSON resources (discovery, API root, collection,
//!   envelope, manifest, versions, status, error) and its media type, shared by the server
//!   (`tocsin serve`) and the client (`tocsin share`), so that both speak the same words.
//!
//! The specification is OASIS TAXII Version 2.1 (Committee Specification 01, 2021); section
//! numbers in comments refer to it.

pub mod resources;

pub use resources::{
    ApiRoot, Collection, Collections, Discovery, Envelope, ErrorMessage, Manifest,
    ManifestRecord, Status, StatusDetails, StatusValue, Versions, MEDIA_TYPE, STIX_MEDIA_TYPE,
};
