//! tocsin-rules: work in progress.
