//! [`AlertCollector`]: a [`FindingSink`] that keeps every finding as an alert, for drivers
//! that judge events on one thread and need no output lines (the demo, tests).

use std::ops::ControlFlow;

use tocsin_event::Event;
use tocsin_incident::Alert;

use crate::correlation::KeptMatch;
use crate::detectors::{Detectors, FindingSink, Late};
use crate::finding::Finding;

/// Alerts of the findings, and what the replay needs.
#[derive(Default)]
pub struct AlertCollector {
    /// The alerts, in the order they were found.
    pub alerts: Vec<Alert>,
    /// Matches correlations reference, for the replay.
    pub kept: Vec<KeptMatch>,
    /// Events the behavioural detectors watch, for the replay.
    pub watched: Vec<Event>,
}

impl AlertCollector {
    /// Replays what was kept through `detectors` and adds the late findings' alerts.
    pub fn replay(&mut self, detectors: &mut Detectors) -> Late {
        let late = detectors.replay(
            std::mem::take(&mut self.kept),
            std::mem::take(&mut self.watched),
        );
        self.alerts
            .extend(late.findings(detectors).map(|finding| finding.alert()));
        late
    }
}

impl FindingSink for AlertCollector {
    fn finding(&mut self, finding: &Finding<'_>) -> ControlFlow<()> {
        self.alerts.push(finding.alert());
        ControlFlow::Continue(())
    }

    fn keep(&mut self, kept: KeptMatch) -> ControlFlow<()> {
        self.kept.push(kept);
        ControlFlow::Continue(())
    }

    fn watch(&mut self, event: &Event) -> ControlFlow<()> {
        self.watched.push(event.clone());
        ControlFlow::Continue(())
    }
}
