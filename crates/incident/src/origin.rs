//! Familiar origins: detections of the site's own automation acting from the site's own
//! networks join incidents as context and open none.
//!
//! The intrusion tocsin exists for is a stolen API key used from somewhere the site never
//! worked from. The same acts (local accounts reset through the API, a session opened on
//! each workstation) are also an administrator's maintenance script run from the office on
//! a quiet night: rules see the same events, only the origin differs. A grouper given an
//! [`OriginTrust`] asks it of each alert; an alert it calls familiar joins its group (and
//! is listed, with the reason, in the incident it ends up in) but adds no signal, exactly
//! like a suppressed one (see [`crate::suppression`]). What is familiar is learned from the
//! site's history by the driver (`tocsin-pipeline` asks the behavioural detectors' site
//! networks); this crate only defines the question.

use std::fmt;

use crate::alert::Alert;

/// Tells whether an alert is the site's own activity from where the site works from, so
/// that it counts as context rather than evidence. Implementations must answer for the
/// alert's own time, the same whenever they are asked, so that a regrouping decides as the
/// first grouping did.
pub trait OriginTrust: Send + Sync + fmt::Debug {
    /// Whether `alert` came from a familiar origin.
    fn is_familiar(&self, alert: &Alert) -> bool;
}
