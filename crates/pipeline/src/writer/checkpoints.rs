//! Checkpoints of the grouping state, so that detections arriving late (earlier than the
//! newest one grouped) are grouped by continuing from a state saved before them, not by
//! regrouping every stored detection.
//!
//! A live service stores detections as events arrive, and events arrive out of order: a
//! shipper that was offline sends its backlog, collectors on several hosts drift. Grouping
//! is a fold in time order, so a late detection cannot be appended to the last state; from
//! a state saved before it, the stored detections after that state (the late one among
//! them) are grouped again, which gives exactly what regrouping the whole store gives, at a
//! cost that follows how late the detection is instead of the store's size.
//!
//! # Which states are kept
//!
//! Each grouping that leaves a state is counted. The states of the last [`RECENT`]
//! groupings are kept, grouping `n` in blob `grouping-checkpoint-recent-<n mod RECENT>`:
//! under load, detections are usually late by a grouping or two. Further back, the state of
//! grouping `n` is also saved at level `l` = 1 + the number of trailing zero bits of `n`
//! when that is 3 to [`LEVELS`], in blob `grouping-checkpoint-<l>`: level `l` holds the
//! newest grouping that is an odd multiple of `2^(l-1)`, so the levels hold states of ages
//! spread geometrically, and for a detection late by any number of groupings (up to 2^16,
//! about 18 hours at the service's pace of one a second) a checkpoint before it is at most
//! about three times as far back. A grouping writes one state, and a second one every
//! fourth grouping. The index ([`CHECKPOINTS_BLOB`]) lists the blobs holding a state and
//! the newest detection each grouped.
//!
//! # When a checkpoint may be used
//!
//! A checkpoint is valid while every stored detection up to its newest one (in grouping
//! order: time, then key) was grouped in it. Three things keep that true:
//! - a grouping that took late detections forgets the checkpoints at or after the earliest
//!   of them (they did not see it);
//! - a grouping of every stored detection forgets them all, as does one that leaves no
//!   state (a detection without a time);
//! - the index is taken out of the store with the grouping state, before a run writes its
//!   first detection, and written back with the run's incidents: a run stopped in between
//!   leaves no checkpoint, and the next run regroups everything.
//!
//! A checkpoint whose blob does not hold the state the index says is not used.

use serde::{Deserialize, Serialize};

/// The store blob holding the index of the checkpoints (JSON).
pub const CHECKPOINTS_BLOB: &str = "grouping-checkpoints";

/// How many levels of checkpoints are kept (see the module documentation).
pub const LEVELS: u32 = 16;

/// How many of the latest groupings' states are kept (see the module documentation).
pub const RECENT: u64 = 4;

/// The index of the saved checkpoints, and how many groupings saved a state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    /// How many groupings left a state (the next one is numbered after it).
    groupings: u64,
    /// The blobs holding a state, oldest state first.
    saved: Vec<Checkpoint>,
}

/// A grouping state saved in one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The blob holding the state.
    pub blob: String,
    /// The time of the newest detection it grouped.
    pub micros: i64,
    /// The key of that detection.
    pub key: String,
}

impl Checkpoint {
    /// Whether it comes before the detection at `micros` keyed `key` in grouping order.
    fn before(&self, micros: i64, key: &str) -> bool {
        (self.micros, self.key.as_str()) < (micros, key)
    }
}

impl Checkpoints {
    /// The index as stored, or none when there is none or it cannot be read (then every
    /// late detection regroups the store, as without checkpoints).
    pub fn parse(bytes: Option<&[u8]>) -> Checkpoints {
        bytes
            .filter(|bytes| !bytes.is_empty())
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or_default()
    }

    /// The index as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The newest checkpoint before the detection at `micros` keyed `key`.
    pub fn newest_before(&self, micros: i64, key: &str) -> Option<&Checkpoint> {
        self.saved
            .iter()
            .filter(|checkpoint| checkpoint.before(micros, key))
            .max_by(|a, b| (a.micros, &a.key).cmp(&(b.micros, &b.key)))
    }

    /// Forgets the checkpoints that do not come before the detection at `micros` keyed
    /// `key`: grouped late, it is in none of them.
    pub fn forget_from(&mut self, micros: i64, key: &str) {
        self.saved
            .retain(|checkpoint| checkpoint.before(micros, key));
    }

    /// Forgets every checkpoint (a grouping of the whole store, or one that left no state).
    pub fn forget_all(&mut self) {
        self.saved.clear();
    }

    /// Counts a grouping that left a state whose newest detection is at `micros` keyed
    /// `key`; returns the blobs its state is to be saved in (see the module documentation).
    pub fn record(&mut self, micros: i64, key: &str) -> Vec<String> {
        self.groupings = self.groupings.wrapping_add(1).max(1);
        let mut due = vec![format!(
            "grouping-checkpoint-recent-{}",
            self.groupings % RECENT
        )];
        let level = self.groupings.trailing_zeros() + 1;
        if (3..=LEVELS).contains(&level) {
            due.push(format!("grouping-checkpoint-{level}"));
        }
        self.saved
            .retain(|checkpoint| !due.contains(&checkpoint.blob));
        for blob in &due {
            self.saved.push(Checkpoint {
                blob: blob.clone(),
                micros,
                key: key.to_owned(),
            });
        }
        self.saved
            .sort_by(|a, b| (a.micros, &a.key, &a.blob).cmp(&(b.micros, &b.key, &b.blob)));
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(checkpoints: &Checkpoints) -> Vec<i64> {
        checkpoints.saved.iter().map(|c| c.micros).collect()
    }

    #[test]
    fn the_latest_groupings_are_kept_and_older_ones_geometrically() {
        let mut checkpoints = Checkpoints::default();
        let mut written = Vec::new();
        for minute in 1..=16 {
            written.push(checkpoints.record(minute, "k"));
        }
        // Each grouping writes a recent slot; 4 and 12 also level 3, 8 level 4, 16 level 5.
        let wrote = |n: usize| written[n - 1].clone();
        assert_eq!(wrote(7), vec!["grouping-checkpoint-recent-3"]);
        assert_eq!(
            wrote(12),
            vec!["grouping-checkpoint-recent-0", "grouping-checkpoint-3"]
        );
        assert_eq!(wrote(8)[1], "grouping-checkpoint-4");
        assert_eq!(wrote(16)[1], "grouping-checkpoint-5");
        // After 16 groupings: the last four, 12 (level 3) and 8 (level 4); 16 is also at
        // level 5.
        assert_eq!(minutes(&checkpoints), vec![8, 12, 13, 14, 15, 16, 16]);
    }

    #[test]
    fn the_newest_checkpoint_before_a_late_detection_is_found_and_later_ones_forgotten() {
        let mut checkpoints = Checkpoints::default();
        for minute in 1..=12 {
            checkpoints.record(minute, "k");
        }
        // Kept: 8 (level 4), 9 to 12 (recent) and 12 (level 3).
        assert_eq!(minutes(&checkpoints), vec![8, 9, 10, 11, 12, 12]);
        let found = checkpoints.newest_before(10, "a").map(|c| c.micros);
        assert_eq!(found, Some(9));
        assert_eq!(checkpoints.newest_before(8, "a"), None);
        // Same time, a greater key: after it.
        assert_eq!(checkpoints.newest_before(8, "z").map(|c| c.micros), Some(8));
        checkpoints.forget_from(10, "a");
        assert_eq!(minutes(&checkpoints), vec![8, 9]);
        checkpoints.forget_all();
        assert_eq!(checkpoints.newest_before(i64::MAX, "z"), None);
    }

    #[test]
    fn an_unreadable_index_is_no_checkpoint() {
        assert_eq!(
            Checkpoints::parse(Some(b"{not json")),
            Checkpoints::default()
        );
        assert_eq!(Checkpoints::parse(None), Checkpoints::default());
        let mut checkpoints = Checkpoints::default();
        checkpoints.record(1, "k");
        checkpoints.record(2, "k");
        let bytes = checkpoints.to_bytes();
        assert_eq!(Checkpoints::parse(Some(&bytes)), checkpoints);
    }
}
