//! `tocsin serve`: the live detection service.
//!
//! Shippers send events over HTTP ([`api`]) or syslog over UDP and TCP ([`syslog`]); the ingest makes each body into spool records
//! ([`ingest`]) and acknowledges it only once the durable spool (`tocsin-spool`) holds it.
//! The consumer ([`consumer`]) reads the spool and judges the events with the same
//! pipeline as `tocsin hunt` (`tocsin-pipeline`) on one thread, while a second one commits
//! the detections, incidents and its spool position to the SQLite store, in order, so that an acknowledged event is never lost and a
//! detection never made twice. API tokens ([`auth`]) and users' passwords ([`users`]) are
//! stored hashed; [`metrics`] are served to Prometheus; [`taxii`] is the TAXII 2.1 server
//! partners share STIX objects through; [`config`] is the TOML configuration;
//! [`service::run`] ties it together.

pub mod actions;
pub mod api;
pub mod auth;
mod committer;
pub mod config;
pub mod consumer;
pub mod contain;
pub mod fault;
pub mod follow;
pub mod forward;
pub mod ingest;
pub mod limit;
pub mod metrics;
mod reader;
mod records;
pub mod reorder;
pub mod respond;
pub mod rules;
pub mod service;
pub mod share;
pub mod syslog;
pub mod taxii;
pub mod tls;
pub mod users;
pub mod webhooks;

pub use config::ServeConfig;
pub use service::{run, DataDir, ServeError, Started};
