//! tocsin-demo: work in progress.
