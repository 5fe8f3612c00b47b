//! [`Metrics`]: the service's counters, shared by the inputs, the consumer and the API,
//! written as Prometheus text at `/metrics` and as JSON in `/api/v1/status`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

/// Counters and gauges, each a relaxed atomic: readers want a recent value, not a
/// consistent snapshot.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Lines (events) acknowledged by the inputs.
    pub lines_accepted: AtomicU64,
    /// Lines refused by the inputs (malformed JSON, not an object).
    pub lines_refused: AtomicU64,
    /// Requests refused because the pipeline is behind (503 with `Retry-After`).
    pub backpressure_refusals: AtomicU64,
    /// Events the pipeline decoded.
    pub events_processed: AtomicU64,
    /// Records the pipeline's decoders could not read (logged with input and position).
    pub decode_errors: AtomicU64,
    /// Detections stored for the first time.
    pub detections_stored: AtomicU64,
    /// Incidents the pipeline saved (opened or updated).
    pub incidents_saved: AtomicU64,
    /// Incidents opened.
    pub incidents_opened: AtomicU64,
    /// Late detections grouped among themselves, since placing them exactly would have read
    /// back more stored detections than `[detection.grouping] late_read_back_limit`.
    pub detections_grouped_apart: AtomicU64,
    /// Consumer commits (one transaction each).
    pub commits: AtomicU64,
    /// The spool position the consumer committed last.
    pub committed_position: AtomicU64,
    /// The spool's durable end, as last seen by the consumer.
    pub spool_end: AtomicU64,
    /// How far the consumer has read and judged (past what it holds for order, which is
    /// judged but not yet committed): the back-pressure measures the backlog from here. The
    /// consumer reads records as soon as they are written, so this may pass `spool_end` by
    /// what waits for its fsync (the backlog is then zero).
    pub read_position: AtomicU64,
    /// Syslog messages spooled (UDP and TCP).
    pub syslog_messages: AtomicU64,
    /// Syslog messages longer than the limit, skipped.
    pub syslog_oversize: AtomicU64,
    /// Syslog datagrams dropped because the pipeline was behind (UDP cannot wait).
    pub syslog_dropped: AtomicU64,
    /// Lines of followed files spooled (blank lines included).
    pub follow_lines: AtomicU64,
    /// Followed files renamed or removed (rotated), read to their end and closed.
    pub follow_rotations: AtomicU64,
    /// Followed files truncated (`copytruncate`), read again from their start.
    pub follow_truncations: AtomicU64,
    /// Lines of followed files longer than 1 MiB, cut.
    pub follow_cut_lines: AtomicU64,
    /// Correlation inputs and watched events held for order now.
    pub held_for_order: AtomicU64,
    /// Rule matches the open correlation windows hold now (kept across steps, saved with
    /// the baseline and reopened after a restart).
    pub correlation_window_matches: AtomicU64,
    /// How many committed steps wait for a grouping into incidents (0 once every stored
    /// detection is grouped).
    pub awaiting_grouping: AtomicU64,
    /// Items released before their time because too many were held.
    pub released_early: AtomicU64,
    /// Detections forwarded to another SIEM.
    pub forwarded: AtomicU64,
    /// Detections not forwarded because the SIEM was too slow or unreachable.
    pub forward_dropped: AtomicU64,
    /// Scheduled TAXII pulls that succeeded (`[[share.pull]]`).
    pub taxii_pulls: AtomicU64,
    /// Scheduled TAXII pulls that failed (logged with the source's URL; tried again).
    pub taxii_pull_failures: AtomicU64,
    /// Objects scheduled TAXII pulls brought that were new or updated.
    pub taxii_objects_changed: AtomicU64,
    /// Rules compiled.
    pub rules: AtomicU64,
    /// Whether the consumer runs (readiness).
    pub consuming: AtomicBool,
    /// Each event's time from its receipt by an input to its detections being committed.
    pub latency: Histogram,
}

/// The upper bounds, in milliseconds, of the latency histogram's buckets (a last bucket
/// holds the rest).
pub const LATENCY_BUCKETS_MS: [u64; 20] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 1000, 2000, 5000, 10000,
];

/// A histogram of latencies in fixed buckets ([`LATENCY_BUCKETS_MS`]), counted since start:
/// a reader that wants a period's quantiles subtracts two readings.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Counts `events` that each took `micros`.
    pub fn observe(&self, micros: i64, events: u64) {
        let micros = u64::try_from(micros).unwrap_or(0);
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|&bound| micros <= bound * 1000)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        add(&self.counts[bucket], events);
        add(&self.sum_micros, micros.saturating_mul(events));
    }

    /// The count of each bucket, in order (the last is past every bound).
    pub fn counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .collect()
    }
}

/// The bucket bound under which a share `q` (0 to 1) of `counts` fall, in milliseconds;
/// `None` for no count, or when the quantile falls past the last bound.
pub fn quantile_ms(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return LATENCY_BUCKETS_MS.get(index).copied();
        }
    }
    None
}

/// A copy of the counters, for JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// See [`Metrics::lines_accepted`].
    pub lines_accepted: u64,
    /// See [`Metrics::lines_refused`].
    pub lines_refused: u64,
    /// See [`Metrics::backpressure_refusals`].
    pub backpressure_refusals: u64,
    /// See [`Metrics::events_processed`].
    pub events_processed: u64,
    /// See [`Metrics::decode_errors`].
    pub decode_errors: u64,
    /// See [`Metrics::detections_stored`].
    pub detections_stored: u64,
    /// See [`Metrics::incidents_saved`].
    pub incidents_saved: u64,
    /// See [`Metrics::incidents_opened`].
    pub incidents_opened: u64,
    /// See [`Metrics::detections_grouped_apart`].
    pub detections_grouped_apart: u64,
    /// See [`Metrics::commits`].
    pub commits: u64,
    /// See [`Metrics::committed_position`].
    pub committed_position: u64,
    /// See [`Metrics::spool_end`].
    pub spool_end: u64,
    /// Bytes acknowledged but not yet read by the pipeline (what back-pressure measures).
    pub backlog_bytes: u64,
    /// See [`Metrics::syslog_messages`].
    pub syslog_messages: u64,
    /// See [`Metrics::syslog_oversize`].
    pub syslog_oversize: u64,
    /// See [`Metrics::syslog_dropped`].
    pub syslog_dropped: u64,
    /// See [`Metrics::follow_lines`].
    pub follow_lines: u64,
    /// See [`Metrics::follow_rotations`].
    pub follow_rotations: u64,
    /// See [`Metrics::follow_truncations`].
    pub follow_truncations: u64,
    /// See [`Metrics::follow_cut_lines`].
    pub follow_cut_lines: u64,
    /// See [`Metrics::held_for_order`].
    pub held_for_order: u64,
    /// See [`Metrics::correlation_window_matches`].
    pub correlation_window_matches: u64,
    /// See [`Metrics::awaiting_grouping`].
    pub awaiting_grouping: u64,
    /// See [`Metrics::released_early`].
    pub released_early: u64,
    /// See [`Metrics::forwarded`].
    pub forwarded: u64,
    /// See [`Metrics::forward_dropped`].
    pub forward_dropped: u64,
    /// See [`Metrics::rules`].
    pub rules: u64,
    /// See [`Metrics::consuming`].
    pub consuming: bool,
    /// The latency histogram's counts, per bucket of [`LATENCY_BUCKETS_MS`] and one past.
    pub latency_counts: Vec<u64>,
    /// The median latency since start, as a bucket bound in milliseconds.
    pub latency_p50_ms: Option<u64>,
    /// The 99th percentile latency since start, as a bucket bound in milliseconds.
    pub latency_p99_ms: Option<u64>,
}

/// Adds to a counter.
pub fn add(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let committed = get(&self.committed_position);
        let end = get(&self.spool_end);
        let latency = self.latency.counts();
        Snapshot {
            lines_accepted: get(&self.lines_accepted),
            lines_refused: get(&self.lines_refused),
            backpressure_refusals: get(&self.backpressure_refusals),
            events_processed: get(&self.events_processed),
            decode_errors: get(&self.decode_errors),
            detections_stored: get(&self.detections_stored),
            incidents_saved: get(&self.incidents_saved),
            incidents_opened: get(&self.incidents_opened),
            detections_grouped_apart: get(&self.detections_grouped_apart),
            commits: get(&self.commits),
            committed_position: committed,
            spool_end: end,
            backlog_bytes: end.saturating_sub(committed.max(get(&self.read_position))),
            syslog_messages: get(&self.syslog_messages),
            syslog_oversize: get(&self.syslog_oversize),
            syslog_dropped: get(&self.syslog_dropped),
            follow_lines: get(&self.follow_lines),
            follow_rotations: get(&self.follow_rotations),
            follow_truncations: get(&self.follow_truncations),
            follow_cut_lines: get(&self.follow_cut_lines),
            held_for_order: get(&self.held_for_order),
            correlation_window_matches: get(&self.correlation_window_matches),
            awaiting_grouping: get(&self.awaiting_grouping),
            released_early: get(&self.released_early),
            forwarded: get(&self.forwarded),
            forward_dropped: get(&self.forward_dropped),
            rules: get(&self.rules),
            consuming: self.consuming.load(Ordering::Relaxed),
            latency_p50_ms: quantile_ms(&latency, 0.5),
            latency_p99_ms: quantile_ms(&latency, 0.99),
            latency_counts: latency,
        }
    }

    /// The counters in Prometheus' text exposition format.
    pub fn prometheus(&self) -> String {
        let s = self.snapshot();
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 30] = [
            (
                "tocsin_lines_accepted_total",
                "counter",
                "Lines acknowledged by the inputs.",
                s.lines_accepted,
            ),
            (
                "tocsin_lines_refused_total",
                "counter",
                "Lines refused by the inputs.",
                s.lines_refused,
            ),
            (
                "tocsin_backpressure_refusals_total",
                "counter",
                "Requests refused because the pipeline is behind.",
                s.backpressure_refusals,
            ),
            (
                "tocsin_events_processed_total",
                "counter",
                "Events decoded by the pipeline.",
                s.events_processed,
            ),
            (
                "tocsin_decode_errors_total",
                "counter",
                "Records the pipeline could not decode.",
                s.decode_errors,
            ),
            (
                "tocsin_detections_stored_total",
                "counter",
                "Detections stored.",
                s.detections_stored,
            ),
            (
                "tocsin_incidents_saved_total",
                "counter",
                "Incidents saved (opened or updated).",
                s.incidents_saved,
            ),
            (
                "tocsin_incidents_opened_total",
                "counter",
                "Incidents opened.",
                s.incidents_opened,
            ),
            (
                "tocsin_detections_grouped_apart_total",
                "counter",
                "Late detections grouped among themselves (reading back what came before would pass the limit).",
                s.detections_grouped_apart,
            ),
            (
                "tocsin_commits_total",
                "counter",
                "Pipeline transactions committed.",
                s.commits,
            ),
            (
                "tocsin_spool_committed_position",
                "gauge",
                "Spool position the pipeline committed.",
                s.committed_position,
            ),
            (
                "tocsin_spool_end_position",
                "gauge",
                "Spool position of the last durable record.",
                s.spool_end,
            ),
            (
                "tocsin_spool_backlog_bytes",
                "gauge",
                "Bytes acknowledged and not yet processed.",
                s.backlog_bytes,
            ),
            (
                "tocsin_syslog_messages_total",
                "counter",
                "Syslog messages spooled.",
                s.syslog_messages,
            ),
            (
                "tocsin_syslog_oversize_total",
                "counter",
                "Syslog messages over the size limit, skipped.",
                s.syslog_oversize,
            ),
            (
                "tocsin_syslog_dropped_total",
                "counter",
                "Syslog datagrams dropped while the pipeline was behind.",
                s.syslog_dropped,
            ),
            (
                "tocsin_follow_lines_total",
                "counter",
                "Lines of followed files spooled.",
                s.follow_lines,
            ),
            (
                "tocsin_follow_rotations_total",
                "counter",
                "Followed files renamed or removed, read to their end.",
                s.follow_rotations,
            ),
            (
                "tocsin_follow_truncations_total",
                "counter",
                "Followed files truncated, read again from their start.",
                s.follow_truncations,
            ),
            (
                "tocsin_follow_cut_lines_total",
                "counter",
                "Lines of followed files longer than 1 MiB, cut.",
                s.follow_cut_lines,
            ),
            (
                "tocsin_held_for_order",
                "gauge",
                "Correlation inputs and watched events held until in time order.",
                s.held_for_order,
            ),
            (
                "tocsin_correlation_window_matches",
                "gauge",
                "Rule matches the open correlation windows hold.",
                s.correlation_window_matches,
            ),
            (
                "tocsin_released_early_total",
                "counter",
                "Held items released early because too many were held.",
                s.released_early,
            ),
            (
                "tocsin_forwarded_total",
                "counter",
                "Detections forwarded to another SIEM.",
                s.forwarded,
            ),
            (
                "tocsin_forward_dropped_total",
                "counter",
                "Detections not forwarded: the SIEM was too slow or unreachable.",
                s.forward_dropped,
            ),
            (
                "tocsin_taxii_pulls_total",
                "counter",
                "Scheduled TAXII pulls that succeeded.",
                load(&self.taxii_pulls),
            ),
            (
                "tocsin_taxii_pull_failures_total",
                "counter",
                "Scheduled TAXII pulls that failed (tried again next period).",
                load(&self.taxii_pull_failures),
            ),
            (
                "tocsin_taxii_objects_changed_total",
                "counter",
                "Objects scheduled TAXII pulls brought that were new or updated.",
                load(&self.taxii_objects_changed),
            ),
            ("tocsin_rules", "gauge", "Rules compiled.", s.rules),
            (
                "tocsin_consuming",
                "gauge",
                "1 while the pipeline consumes the spool.",
                u64::from(s.consuming),
            ),
        ];
        let mut text = String::new();
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        self.write_latency(&mut text);
        text
    }

    /// The latency histogram in Prometheus' format (cumulative buckets, in seconds).
    fn write_latency(&self, text: &mut String) {
        let name = "tocsin_ingest_to_store_seconds";
        let _ = writeln!(
            text,
            "# HELP {name} Time from an event's receipt to its detections in the store.\n# TYPE {name} histogram"
        );
        let counts = self.latency.counts();
        let mut cumulative = 0;
        for (index, count) in counts.iter().enumerate() {
            cumulative += count;
            let bound = match LATENCY_BUCKETS_MS.get(index) {
                Some(ms) => format!("{}", *ms as f64 / 1000.0),
                None => "+Inf".into(),
            };
            let _ = writeln!(text, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.latency.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(text, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_help_type_and_value_for_each() {
        let metrics = Metrics::default();
        add(&metrics.lines_accepted, 3);
        metrics.spool_end.store(100, Ordering::Relaxed);
        metrics.committed_position.store(40, Ordering::Relaxed);
        let text = metrics.prometheus();
        assert!(text.contains(
            "# TYPE tocsin_lines_accepted_total counter\ntocsin_lines_accepted_total 3\n"
        ));
        assert!(text.contains("\ntocsin_spool_backlog_bytes 60\n"));
        assert_eq!(text.lines().filter(|l| l.starts_with("# HELP")).count(), 31);
    }

    #[test]
    fn latency_quantiles_are_bucket_bounds() {
        let metrics = Metrics::default();
        assert_eq!(metrics.snapshot().latency_p99_ms, None);
        metrics.latency.observe(1_500, 98); // 1.5 ms: the 2 ms bucket
        metrics.latency.observe(40_000, 1); // the 50 ms bucket
        metrics.latency.observe(60_000_000, 1); // past every bound
        let snapshot = metrics.snapshot();
        assert_eq!(snapshot.latency_p50_ms, Some(2));
        assert_eq!(snapshot.latency_p99_ms, Some(50));
        assert_eq!(quantile_ms(&snapshot.latency_counts, 1.0), None);
        let text = metrics.prometheus();
        assert!(
            text.contains("tocsin_ingest_to_store_seconds_bucket{le=\"0.002\"} 98\n"),
            "{text}"
        );
        assert!(text.contains("tocsin_ingest_to_store_seconds_bucket{le=\"+Inf\"} 100\n"));
        assert!(text.contains("tocsin_ingest_to_store_seconds_count 100\n"));
    }
}
