//! tocsin-store: work in progress.
