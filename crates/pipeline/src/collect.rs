//! [`AlertCollector`]: a [`FindingSink`] that keeps every finding as an alert, for drivers
//! that judge events on one thread and need no output lines (the demo, tests).

use std::ops::ControlFlow;

use tocsin_event::Event;
use tocsin_incident::Alert;

use crate::correlation::KeptMatch;
use crate::detectors::{Detectors, FindingSink, Late, ReplayBuffer};
use crate::finding::Finding;

/// Alerts of the findings, and what the replay needs.
#[derive(Default)]
pub struct AlertCollector {
    /// The alerts, in the order they were found.
    pub alerts: Vec<Alert>,
    /// Matches correlations reference and events behavioural detectors watch, for the
    /// replay.
    pub replay: ReplayBuffer,
    /// The first error of the replay buffer (a full temporary folder); the sink then says
    /// `Break` to every push, and [`AlertCollector::replay`] returns it.
    pub error: Option<std::io::Error>,
}

impl AlertCollector {
    /// Replays what was kept through `detectors` and adds the late findings' alerts.
    ///
    /// # Errors
    ///
    /// The scan could not hold what it kept, or the replay cannot read it back.
    pub fn replay(&mut self, detectors: &mut Detectors) -> std::io::Result<Late> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let late = detectors.replay(std::mem::take(&mut self.replay))?;
        self.alerts
            .extend(late.findings(detectors).map(|finding| finding.alert()));
        Ok(late)
    }

    /// Records a failure to hold what the replay needs; `Break` stops the scan.
    fn held(&mut self, result: std::io::Result<()>) -> ControlFlow<()> {
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.error.get_or_insert(error);
                ControlFlow::Break(())
            }
        }
    }
}

impl FindingSink for AlertCollector {
    fn finding(&mut self, finding: &Finding<'_>) -> ControlFlow<()> {
        self.alerts.push(finding.alert());
        ControlFlow::Continue(())
    }

    fn keep(&mut self, kept: KeptMatch) -> ControlFlow<()> {
        let result = self.replay.keep(kept);
        self.held(result)
    }

    fn watch(&mut self, event: &Event) -> ControlFlow<()> {
        let result = self.replay.watch(event.clone());
        self.held(result)
    }
}
