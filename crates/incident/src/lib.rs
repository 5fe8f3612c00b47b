//! tocsin-incident: work in progress.
