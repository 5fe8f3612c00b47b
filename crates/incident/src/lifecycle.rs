//! The life of an incident: status, resolution, assignee, notes and response actions, and the
//! append-only audit record every change produces.
//!
//! # Transition table
//!
//! | from | allowed to |
//! | --- | --- |
//! | `new` | `investigating`, `confirmed`, `closed` |
//! | `investigating` | `confirmed`, `closed` |
//! | `confirmed` | `contained`, `closed` |
//! | `contained` | `confirmed` (containment failed), `closed` |
//! | `closed` | `investigating` (reopen) |
//!
//! Closing needs a [`Resolution`]; any other move must not carry one. Reopening a closed
//! incident clears its resolution (the old one stays in the audit trail). Moving to the
//! status an incident already has is refused: it would add an audit record that says nothing.
//! `new` is never a target: an incident that was looked at is never new again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{LifecycleError, ParseError};
use crate::incident::Incident;

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Found by grouping, nobody has looked yet.
    #[default]
    New,
    /// An analyst is looking.
    Investigating,
    /// It is a real attack.
    Confirmed,
    /// The attacker's access is cut (key revoked, host isolated), clean-up may go on.
    Contained,
    /// Done, with a resolution.
    Closed,
}

impl Status {
    /// Every status, in the order of the table above.
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Investigating,
        Status::Confirmed,
        Status::Contained,
        Status::Closed,
    ];

    /// The statuses this one may move to (the transition table).
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::New => &[Status::Investigating, Status::Confirmed, Status::Closed],
            Status::Investigating => &[Status::Confirmed, Status::Closed],
            Status::Confirmed => &[Status::Contained, Status::Closed],
            Status::Contained => &[Status::Confirmed, Status::Closed],
            Status::Closed => &[Status::Investigating],
        }
    }

    /// Whether the table allows moving from `self` to `to`.
    pub fn can_move_to(self, to: Status) -> bool {
        self.next().contains(&to)
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Investigating => "investigating",
            Status::Confirmed => "confirmed",
            Status::Contained => "contained",
            Status::Closed => "closed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| ParseError {
                what: "status",
                found: text.to_owned(),
                expected: "new, investigating, confirmed, contained, closed",
            })
    }
}

/// How a closed incident ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// A real attack.
    TruePositive,
    /// The detections were wrong.
    FalsePositive,
    /// The detections were right but the activity was authorised (an admin, a pentest).
    Benign,
}

impl Resolution {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::TruePositive => "true-positive",
            Resolution::FalsePositive => "false-positive",
            Resolution::Benign => "benign",
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Resolution {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "true-positive" | "tp" => Ok(Resolution::TruePositive),
            "false-positive" | "fp" => Ok(Resolution::FalsePositive),
            "benign" => Ok(Resolution::Benign),
            _ => Err(ParseError {
                what: "resolution",
                found: text.to_owned(),
                expected: "true-positive, false-positive, benign",
            }),
        }
    }
}

/// Who makes a change and when (microseconds since the Unix epoch, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp<'a> {
    /// The analyst (or tool) making the change.
    pub actor: &'a str,
    /// When.
    pub at_micros: i64,
}

/// A note an analyst left on an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// When it was written.
    pub at_micros: i64,
    /// Who wrote it.
    pub author: String,
    /// The text.
    pub text: String,
}

/// A response action taken ("API key revoked", "host isolated").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseAction {
    /// When it was taken.
    pub at_micros: i64,
    /// Who took it.
    pub actor: String,
    /// What was done.
    pub action: String,
}

/// The analyst-owned part of an incident: never recomputed by grouping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Where the incident stands.
    pub status: Status,
    /// How it ended, when closed.
    pub resolution: Option<Resolution>,
    /// Who works on it.
    pub assignee: Option<String>,
    /// Notes, oldest first.
    pub notes: Vec<Note>,
    /// Response actions, oldest first.
    pub actions: Vec<ResponseAction>,
}

/// What one audit record changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    /// The status moved.
    Status {
        /// The old status.
        from: Status,
        /// The new status.
        to: Status,
        /// The resolution, when closing.
        resolution: Option<Resolution>,
    },
    /// The assignee changed (`None` is unassigned).
    Assigned {
        /// The old assignee.
        from: Option<String>,
        /// The new assignee.
        to: Option<String>,
    },
    /// A note was added.
    Note {
        /// Its text.
        text: String,
    },
    /// A response action was recorded.
    Action {
        /// What was done.
        action: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Status {
                from,
                to,
                resolution: Some(resolution),
            } => write!(f, "status {from} -> {to} ({resolution})"),
            Change::Status { from, to, .. } => write!(f, "status {from} -> {to}"),
            Change::Assigned { from, to } => write!(
                f,
                "assignee {} -> {}",
                from.as_deref().unwrap_or("nobody"),
                to.as_deref().unwrap_or("nobody")
            ),
            Change::Note { text } => write!(f, "note: {text}"),
            Change::Action { action } => write!(f, "action: {action}"),
        }
    }
}

/// One entry of an incident's append-only audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The incident changed.
    pub incident_id: String,
    /// When (microseconds since the Unix epoch, UTC).
    pub at_micros: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub change: Change,
}

impl Incident {
    /// Moves the incident to `to` along the transition table; closing needs `resolution`,
    /// other moves must not have one.
    pub fn transition(
        &mut self,
        to: Status,
        resolution: Option<Resolution>,
        by: Stamp<'_>,
    ) -> Result<AuditRecord, LifecycleError> {
        self.check_actor(by)?;
        let from = self.lifecycle.status;
        if !from.can_move_to(to) {
            let allowed = from.next().iter().map(|s| s.as_str()).collect::<Vec<_>>();
            return Err(LifecycleError::IllegalTransition {
                incident: self.id.clone(),
                from,
                to,
                allowed: allowed.join(", "),
            });
        }
        match (to, resolution) {
            (Status::Closed, None) => {
                return Err(LifecycleError::MissingResolution {
                    incident: self.id.clone(),
                })
            }
            (to, Some(_)) if to != Status::Closed => {
                return Err(LifecycleError::UnexpectedResolution {
                    incident: self.id.clone(),
                    to,
                })
            }
            _ => {}
        }
        self.lifecycle.status = to;
        self.lifecycle.resolution = resolution;
        Ok(self.audit(
            by,
            Change::Status {
                from,
                to,
                resolution,
            },
        ))
    }

    /// Gives the incident to `assignee` (`None`, or an empty name, unassigns it). Giving it
    /// to whom it is already assigned changes nothing and is refused
    /// ([`LifecycleError::Unchanged`]), so that the audit trail records only changes; see
    /// [`Incident::assignment_changes`].
    pub fn assign(
        &mut self,
        assignee: Option<&str>,
        by: Stamp<'_>,
    ) -> Result<AuditRecord, LifecycleError> {
        self.check_actor(by)?;
        if !self.assignment_changes(assignee) {
            return Err(LifecycleError::Unchanged {
                incident: self.id.clone(),
                what: "assignee",
            });
        }
        let to = assignee_name(assignee);
        let from = std::mem::replace(&mut self.lifecycle.assignee, to.clone());
        Ok(self.audit(by, Change::Assigned { from, to }))
    }

    /// Whether assigning `assignee` would change the incident's assignee (names are compared
    /// trimmed; an empty name means nobody).
    pub fn assignment_changes(&self, assignee: Option<&str>) -> bool {
        self.lifecycle.assignee != assignee_name(assignee)
    }

    /// Adds a note.
    pub fn add_note(&mut self, text: &str, by: Stamp<'_>) -> Result<AuditRecord, LifecycleError> {
        self.check_actor(by)?;
        let text = self.non_empty(text, "note")?;
        self.lifecycle.notes.push(Note {
            at_micros: by.at_micros,
            author: by.actor.to_owned(),
            text: text.clone(),
        });
        Ok(self.audit(by, Change::Note { text }))
    }

    /// Records a response action ("API key revoked").
    pub fn record_action(
        &mut self,
        action: &str,
        by: Stamp<'_>,
    ) -> Result<AuditRecord, LifecycleError> {
        self.check_actor(by)?;
        let action = self.non_empty(action, "action")?;
        self.lifecycle.actions.push(ResponseAction {
            at_micros: by.at_micros,
            actor: by.actor.to_owned(),
            action: action.clone(),
        });
        Ok(self.audit(by, Change::Action { action }))
    }

    fn audit(&self, by: Stamp<'_>, change: Change) -> AuditRecord {
        AuditRecord {
            incident_id: self.id.clone(),
            at_micros: by.at_micros,
            actor: by.actor.trim().to_owned(),
            change,
        }
    }

    fn check_actor(&self, by: Stamp<'_>) -> Result<(), LifecycleError> {
        self.non_empty(by.actor, "actor").map(drop)
    }

    fn non_empty(&self, text: &str, what: &'static str) -> Result<String, LifecycleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(LifecycleError::Empty {
                incident: self.id.clone(),
                what,
            });
        }
        Ok(text.to_owned())
    }
}

/// An assignee as stored: trimmed, and `None` for nobody (no name or an empty one).
fn assignee_name(assignee: Option<&str>) -> Option<String> {
    assignee
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BY: Stamp<'static> = Stamp {
        actor: "ana",
        at_micros: 1_000,
    };

    fn incident_in(status: Status) -> Incident {
        let mut incident = Incident::placeholder("INC-test");
        incident.lifecycle.status = status;
        incident
    }

    fn resolution_for(to: Status) -> Option<Resolution> {
        (to == Status::Closed).then_some(Resolution::TruePositive)
    }

    #[test]
    fn every_legal_transition_is_applied_and_audited() {
        for from in Status::ALL {
            for &to in from.next() {
                let mut incident = incident_in(from);
                let record = incident.transition(to, resolution_for(to), BY).unwrap();
                assert_eq!(incident.lifecycle.status, to);
                assert_eq!(record.incident_id, "INC-test");
                assert_eq!(record.actor, "ana");
                assert_eq!(
                    record.change,
                    Change::Status {
                        from,
                        to,
                        resolution: resolution_for(to)
                    }
                );
            }
        }
    }

    #[test]
    fn every_transition_outside_the_table_is_refused_without_change() {
        let mut refused = 0;
        for from in Status::ALL {
            for to in Status::ALL.into_iter().filter(|to| !from.can_move_to(*to)) {
                let mut incident = incident_in(from);
                let error = incident.transition(to, resolution_for(to), BY).unwrap_err();
                assert!(matches!(error, LifecycleError::IllegalTransition { .. }));
                assert_eq!(incident.lifecycle.status, from);
                refused += 1;
            }
        }
        assert_eq!(refused, 25 - 10);
    }

    #[test]
    fn illegal_transition_message_names_the_way_out() {
        let error = incident_in(Status::Closed)
            .transition(Status::Contained, None, BY)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "incident INC-test: cannot go from closed to contained (allowed from closed: investigating)"
        );
    }

    #[test]
    fn closing_needs_a_resolution_and_only_closing_takes_one() {
        let mut incident = incident_in(Status::Investigating);
        let error = incident.transition(Status::Closed, None, BY).unwrap_err();
        assert!(matches!(error, LifecycleError::MissingResolution { .. }));
        assert_eq!(incident.lifecycle.status, Status::Investigating);
        let error = incident
            .transition(Status::Confirmed, Some(Resolution::Benign), BY)
            .unwrap_err();
        assert!(matches!(error, LifecycleError::UnexpectedResolution { .. }));
    }

    #[test]
    fn reopening_clears_the_resolution() {
        let mut incident = incident_in(Status::New);
        incident
            .transition(Status::Closed, Some(Resolution::FalsePositive), BY)
            .unwrap();
        assert_eq!(
            incident.lifecycle.resolution,
            Some(Resolution::FalsePositive)
        );
        incident
            .transition(Status::Investigating, None, BY)
            .unwrap();
        assert_eq!(incident.lifecycle.resolution, None);
    }

    /// Issue 20, finding 20: assigning the current assignee records nothing.
    #[test]
    fn a_no_op_assignment_is_refused_and_records_nothing() {
        let mut incident = incident_in(Status::Confirmed);
        incident.assign(Some("bob"), BY).unwrap();
        assert!(!incident.assignment_changes(Some(" bob ")));
        let again = incident.assign(Some(" bob "), BY);
        assert!(
            matches!(again, Err(LifecycleError::Unchanged { .. })),
            "{again:?}"
        );
        assert!(
            incident.assignment_changes(Some("")),
            "unassigning bob is a change"
        );
        let nobody = incident_in(Status::New);
        assert!(!nobody.assignment_changes(None));
        assert!(!nobody.assignment_changes(Some("  ")));
    }

    #[test]
    fn notes_actions_and_assignment_are_kept_and_audited() {
        let mut incident = incident_in(Status::Confirmed);
        let record = incident.assign(Some("bob"), BY).unwrap();
        assert_eq!(record.change.to_string(), "assignee nobody -> bob");
        let record = incident.record_action(" API key revoked ", BY).unwrap();
        assert_eq!(record.change.to_string(), "action: API key revoked");
        incident
            .add_note("key K-1 was used from 198.51.100.9", BY)
            .unwrap();
        assert_eq!(incident.lifecycle.assignee.as_deref(), Some("bob"));
        assert_eq!(incident.lifecycle.actions[0].action, "API key revoked");
        assert_eq!(incident.lifecycle.notes[0].author, "ana");
        assert!(incident.add_note("  ", BY).is_err());
        let nobody = Stamp {
            actor: "",
            at_micros: 0,
        };
        assert!(incident.record_action("host isolated", nobody).is_err());
        assert_eq!(incident.lifecycle.actions.len(), 1);
    }

    #[test]
    fn words_parse() {
        assert_eq!("Closed".parse::<Status>(), Ok(Status::Closed));
        assert_eq!(
            "false_positive".parse::<Resolution>(),
            Ok(Resolution::FalsePositive)
        );
        assert!("done".parse::<Status>().is_err());
        assert!("maybe".parse::<Resolution>().is_err());
    }
}
