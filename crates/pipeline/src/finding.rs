//! [`Finding`]: whatever a detector found, in one model. A Sigma match, a correlation hit and
//! a behavioural anomaly are three kinds of one thing: each names the rule (or detector)
//! that fired as a [`RuleRef`], and each has exactly one conversion to the output line
//! printers write ([`Finding::record`]) and one to the alert incidents are grouped from
//! ([`Finding::alert`]).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use tocsin_anomaly::Anomaly;
use tocsin_engine::{Engine, RuleId};
use tocsin_event::{Event, RuleRef};
use tocsin_incident::{Alert, AlertKind};
use tocsin_output::DetectionRecord;
use tocsin_sigma::ast::Metadata;

use crate::hit::HitView;

/// Who a behavioural anomaly's output line names as its author.
const DETECTOR_AUTHOR: &str = "tocsin behavioural detector";

/// One thing a detector found, borrowed from where it was found.
pub enum Finding<'a> {
    /// A Sigma rule matched an event.
    Rule {
        /// The rule.
        rule: &'a RuleRef,
        /// The fields the rule's `fields` attribute asks to show.
        fields: &'a [String],
        /// The event it matched.
        event: &'a Event,
    },
    /// A correlation rule saw its pattern across events.
    Correlation(HitView<'a>),
    /// A behavioural detector found an event unusual for its principal.
    Anomaly {
        /// What was unusual, and why.
        anomaly: &'a Anomaly,
        /// The event that was.
        event: &'a Event,
    },
}

impl Finding<'_> {
    /// The kind of alert the finding becomes.
    pub fn kind(&self) -> AlertKind {
        match self {
            Finding::Rule { .. } => AlertKind::Sigma,
            Finding::Correlation(_) => AlertKind::Correlation,
            Finding::Anomaly { .. } => AlertKind::Anomaly,
        }
    }

    /// The rule or detector that fired.
    pub fn rule(&self) -> Cow<'_, RuleRef> {
        match self {
            Finding::Rule { rule, .. } => Cow::Borrowed(*rule),
            Finding::Correlation(hit) => Cow::Borrowed(hit.rule()),
            Finding::Anomaly { anomaly, .. } => Cow::Owned(anomaly_rule(anomaly)),
        }
    }

    /// The output line: the event's columns for a rule match or an anomaly (an anomaly's
    /// explanation in its details), the hit's summary for a correlation (see [`HitView`]).
    pub fn record(&self) -> DetectionRecord {
        match self {
            Finding::Rule {
                rule,
                fields,
                event,
            } => DetectionRecord::new(rule, fields, event),
            Finding::Correlation(hit) => hit.record(),
            Finding::Anomaly { anomaly, event } => {
                let mut record = DetectionRecord::new(&anomaly_rule(anomaly), &[], event);
                record
                    .details
                    .insert("explanation", anomaly.explanation.clone().into());
                record
            }
        }
    }

    /// The alert incidents are grouped from: the event's origin, time, entities and fields
    /// for a rule match or an anomaly (with its explanation), the hit's for a correlation.
    pub fn alert(&self) -> Alert {
        match self {
            Finding::Rule { rule, event, .. } => {
                Alert::from_event(AlertKind::Sigma, (*rule).clone(), event)
            }
            Finding::Correlation(hit) => hit.alert(),
            Finding::Anomaly { anomaly, event } => {
                Alert::from_event(AlertKind::Anomaly, anomaly_rule(anomaly), event)
                    .with_explanation(anomaly.explanation.clone())
            }
        }
    }
}

/// The reference of each rule of an engine, by rule id, made on the rule's first finding:
/// a rule set has thousands of rules, a hunt's detections name a few hundred, and making
/// them all up front cost a tenth of the start of a hunt with cached rules.
pub struct RuleRefs {
    engine: Arc<Engine>,
    refs: Vec<OnceLock<RuleRef>>,
}

impl RuleRefs {
    /// The references of `engine`'s rules, none made yet.
    pub fn new(engine: Arc<Engine>) -> Self {
        let refs = std::iter::repeat_with(OnceLock::new)
            .take(engine.len())
            .collect();
        RuleRefs { engine, refs }
    }

    /// The reference of rule `id` (see [`sigma_rule`]); `None` for an id the engine does not
    /// have.
    pub fn get(&self, id: RuleId) -> Option<&RuleRef> {
        let made = self.refs.get(id as usize)?;
        Some(made.get_or_init(|| sigma_rule(&self.engine.rule(id).meta)))
    }
}

/// The rule reference of a Sigma rule or correlation. The id is the rule's `id`, else its
/// `name`, else its title, so that detection keys stay stable; a rule without a level is
/// informational.
pub fn sigma_rule(meta: &Metadata) -> RuleRef {
    RuleRef {
        id: meta
            .id
            .clone()
            .or_else(|| meta.name.clone())
            .unwrap_or_else(|| meta.title.clone()),
        title: meta.title.clone(),
        level: meta.level.unwrap_or_default(),
        tags: meta.tags.clone(),
        author: meta.author.clone(),
    }
}

/// The rule reference of a behavioural detector's anomaly: `anomaly.<kind>`, its title,
/// level and tags.
pub fn anomaly_rule(anomaly: &Anomaly) -> RuleRef {
    RuleRef {
        id: anomaly.rule_id(),
        title: anomaly.title.clone(),
        level: anomaly.level,
        tags: anomaly.tags.clone(),
        author: Some(DETECTOR_AUTHOR.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_event::Level;

    #[test]
    fn rule_id_falls_back_to_name_then_title() {
        let mut meta = Metadata {
            title: "T".into(),
            level: Some(Level::High),
            ..Metadata::default()
        };
        assert_eq!(sigma_rule(&meta).id, "T");
        meta.name = Some("n".into());
        assert_eq!(sigma_rule(&meta).id, "n");
        meta.id = Some("i".into());
        let rule = sigma_rule(&meta);
        assert_eq!(rule.id, "i");
        assert_eq!(rule.level, Level::High);
    }

    #[test]
    fn a_rule_without_level_is_informational() {
        assert_eq!(sigma_rule(&Metadata::default()).level, Level::Informational);
    }
}
