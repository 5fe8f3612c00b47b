//! tocsin-anomaly: work in progress.
