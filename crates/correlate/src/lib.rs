//! tocsin-correlate: work in progress.
