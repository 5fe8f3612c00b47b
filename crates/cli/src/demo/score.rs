//! Scoring a pipeline outcome against the ground truth: the first alert on the attack, the
//! attack's incident, the false alarms and the incidents of low alerts only; and the
//! issue's acceptance criteria (issue 15).

use std::collections::HashMap;

use tocsin_event::Level;
use tocsin_incident::{Alert, AlertKind, Band, Incident};

use super::pipeline::Outcome;

/// The longest acceptable delay between the detection clock (the key's first misuse; in
/// the stealthy variant, the first password reset) and the first alert.
pub const MAX_FIRST_ALERT_DELAY_MICROS: i64 = 5 * 60 * 1_000_000;
/// The level the first alert must reach.
pub const FIRST_ALERT_LEVEL: Level = Level::Medium;
/// The band the attack's one incident must reach.
pub const MIN_ATTACK_BAND: Band = Band::High;
/// The most false incidents per site-month (over all runs: false incidents divided by the
/// benign days / 30).
pub const MAX_FALSE_INCIDENTS_PER_SITE_MONTH: f64 = 0.2;

/// The first alert raised on the attacker's activity that can open an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstAlert {
    /// Index of the alert in [`Outcome::alerts`].
    pub alert: usize,
    /// When it was raised (event time, microseconds).
    pub at_micros: i64,
    /// How long after the key's first malicious use.
    pub delay_micros: i64,
    /// The attacker's events up to and including the one that raised it (for an alert
    /// whose origin is not an attacker event, those up to its time).
    pub attacker_events: usize,
}

/// The figures of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    /// The first alert on the attack, if any.
    pub first_alert: Option<FirstAlert>,
    /// The first alert on the attack from the Sigma rules and correlations alone (without
    /// the behavioural detector), to show that detection does not hang on one detector.
    pub first_rule_alert: Option<FirstAlert>,
    /// Index in [`Outcome::incidents`] of the incident holding the most attack alerts.
    pub attack_incident: Option<usize>,
    /// Other incidents holding attack alerts (the attack split in several).
    pub other_attack_incidents: usize,
    /// Indexes of the incidents holding no attack alert: false alarms.
    pub false_incidents: Vec<usize>,
    /// Indexes of the incidents whose every alert is below medium (an incident should
    /// open on evidence, not on low alerts alone).
    pub low_only_incidents: Vec<usize>,
}

impl Score {
    /// Scores `outcome`, whose detection clock (see [`MAX_FIRST_ALERT_DELAY_MICROS`])
    /// started at `first_use_micros`.
    pub fn of(outcome: &Outcome, first_use_micros: i64) -> Score {
        let first_alert = first_attack_alert(outcome, first_use_micros, |_| true);
        let first_rule_alert = first_attack_alert(outcome, first_use_micros, |alert| {
            alert.kind != AlertKind::Anomaly
        });
        let attack_counts: Vec<usize> = outcome
            .incidents
            .iter()
            .map(|incident| attack_members(incident, outcome))
            .collect();
        let attack_incident = attack_counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(index, _)| index);
        let holding = attack_counts.iter().filter(|count| **count > 0).count();
        let levels: HashMap<&str, Level> = outcome
            .alerts
            .iter()
            .map(|alert| (alert.key.as_str(), alert.rule.level))
            .collect();
        let low_only_incidents = outcome
            .incidents
            .iter()
            .enumerate()
            .filter(|(_, incident)| {
                incident.members.iter().all(|member| {
                    levels
                        .get(member.alert_key.as_str())
                        .is_some_and(|level| *level < Level::Medium)
                })
            })
            .map(|(index, _)| index)
            .collect();
        Score {
            low_only_incidents,
            first_alert,
            first_rule_alert,
            attack_incident,
            other_attack_incidents: holding.saturating_sub(1),
            false_incidents: attack_counts
                .iter()
                .enumerate()
                .filter(|(_, count)| **count == 0)
                .map(|(index, _)| index)
                .collect(),
        }
    }

    /// The attack incident's band, if there is one.
    pub fn attack_band(&self, outcome: &Outcome) -> Option<Band> {
        self.attack_incident
            .and_then(|index| outcome.incidents.get(index))
            .map(|incident| incident.severity.band)
    }

    /// Whether every attack alert is in one incident, of band high or above.
    pub fn attack_in_one_severe_incident(&self, outcome: &Outcome) -> bool {
        self.other_attack_incidents == 0
            && self
                .attack_band(outcome)
                .is_some_and(|band| band >= MIN_ATTACK_BAND)
    }

    /// Whether the first alert came in time.
    pub fn alerted_in_time(&self) -> bool {
        self.first_alert
            .as_ref()
            .is_some_and(|first| first.delay_micros <= MAX_FIRST_ALERT_DELAY_MICROS)
    }
}

/// How many of the incident's members are attack alerts.
fn attack_members(incident: &Incident, outcome: &Outcome) -> usize {
    incident
        .members
        .iter()
        .filter(|member| outcome.attack_alerts.contains(&member.alert_key))
        .count()
}

/// The earliest attack alert of [`FIRST_ALERT_LEVEL`] or above that `wanted` accepts (ties
/// by key).
fn first_attack_alert(
    outcome: &Outcome,
    first_use_micros: i64,
    wanted: impl Fn(&Alert) -> bool,
) -> Option<FirstAlert> {
    let (index, alert, at) = outcome
        .alerts
        .iter()
        .enumerate()
        .filter(|(_, alert)| {
            alert.rule.level >= FIRST_ALERT_LEVEL
                && outcome.attack_alerts.contains(&alert.key)
                && wanted(alert)
        })
        .filter_map(|(index, alert): (usize, &Alert)| {
            alert.timestamp_micros.map(|at| (index, alert, at))
        })
        .min_by(|a, b| a.2.cmp(&b.2).then_with(|| a.1.key.cmp(&b.1.key)))?;
    let origin = (alert.origin.source.as_str().into(), alert.origin.record);
    let attacker_events = match outcome.attacker_event_ranks.get(&origin) {
        Some(rank) => *rank,
        None => outcome
            .attacker_event_times
            .partition_point(|time| *time <= at),
    };
    Some(FirstAlert {
        alert: index,
        at_micros: at,
        delay_micros: at - first_use_micros,
        attacker_events,
    })
}

/// The acceptance criteria over several runs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Runs scored.
    pub runs: usize,
    /// Runs whose first alert came within the delay.
    pub in_time: usize,
    /// Runs whose attack was in one incident of band high or above.
    pub severe: usize,
    /// False incidents over all runs.
    pub false_incidents: usize,
    /// Site-months of benign activity over all runs (benign days / 30).
    pub site_months: f64,
    /// Incidents of low alerts only, over all runs.
    pub low_only_incidents: usize,
    /// The longest first-alert delay seen (microseconds), over runs that alerted.
    pub worst_delay_micros: Option<i64>,
}

impl Totals {
    /// Adds one run: its score, whether its attack was in one severe incident, and its
    /// benign site-months.
    pub fn add(&mut self, score: &Score, one_severe_incident: bool, site_months: f64) {
        self.runs += 1;
        self.in_time += usize::from(score.alerted_in_time());
        self.severe += usize::from(one_severe_incident);
        self.false_incidents += score.false_incidents.len();
        self.site_months += site_months;
        self.low_only_incidents += score.low_only_incidents.len();
        if let Some(first) = &score.first_alert {
            self.worst_delay_micros = Some(
                self.worst_delay_micros
                    .map_or(first.delay_micros, |worst| worst.max(first.delay_micros)),
            );
        }
    }

    /// False incidents per site-month.
    pub fn false_incidents_per_site_month(&self) -> f64 {
        if self.site_months <= 0.0 {
            return 0.0;
        }
        self.false_incidents as f64 / self.site_months
    }

    /// Whether every criterion holds.
    pub fn passed(&self) -> bool {
        self.runs > 0
            && self.in_time == self.runs
            && self.severe == self.runs
            && self.false_incidents_per_site_month() <= MAX_FALSE_INCIDENTS_PER_SITE_MONTH
            && self.low_only_incidents == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(delay: Option<i64>, false_incidents: usize) -> Score {
        Score {
            first_alert: delay.map(|delay_micros| FirstAlert {
                alert: 0,
                at_micros: delay_micros,
                delay_micros,
                attacker_events: 1,
            }),
            first_rule_alert: None,
            attack_incident: Some(0),
            other_attack_incidents: 0,
            false_incidents: (0..false_incidents).collect(),
            low_only_incidents: Vec::new(),
        }
    }

    #[test]
    fn totals_pass_only_when_every_criterion_holds() {
        let mut totals = Totals::default();
        assert!(!totals.passed(), "no run proves nothing");
        // Two runs of 30 benign days: two site-months, at most 0.4 false incidents.
        totals.add(&score(Some(60_000_000), 0), true, 1.0);
        totals.add(&score(Some(MAX_FIRST_ALERT_DELAY_MICROS), 0), true, 1.0);
        assert!(totals.passed());
        assert_eq!(
            totals.worst_delay_micros,
            Some(MAX_FIRST_ALERT_DELAY_MICROS)
        );
        totals.add(&score(Some(1), 1), true, 1.0);
        assert!((totals.false_incidents_per_site_month() - 1.0 / 3.0).abs() < 1e-9);
        assert!(
            !totals.passed(),
            "1 false incident in 3 site-months is above 0.2"
        );
    }

    #[test]
    fn a_late_or_missing_alert_a_split_or_mild_attack_or_a_low_only_incident_fails() {
        let mut late = Totals::default();
        late.add(&score(Some(MAX_FIRST_ALERT_DELAY_MICROS + 1), 0), true, 1.0);
        assert!(!late.passed());
        let mut silent = Totals::default();
        silent.add(&score(None, 0), true, 1.0);
        assert!(!silent.passed());
        let mut mild = Totals::default();
        mild.add(&score(Some(0), 0), false, 1.0);
        assert!(!mild.passed());
        let mut low = Totals::default();
        let mut with_low = score(Some(0), 0);
        with_low.low_only_incidents = vec![3];
        low.add(&with_low, true, 1.0);
        assert!(!low.passed());
    }
}
