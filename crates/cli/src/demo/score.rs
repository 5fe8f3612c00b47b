//! Scoring a pipeline outcome against the ground truth: the first alert on the attack, the
//! attack's incident, and the false alarms; and the acceptance criteria.

use tocsin_incident::{Alert, AlertKind, Band, Incident};

use super::pipeline::Outcome;

/// The longest acceptable delay between the key's first misuse and the first alert.
pub const MAX_FIRST_ALERT_DELAY_MICROS: i64 = 5 * 60 * 1_000_000;
/// The band the attack's incident must reach.
pub const MIN_ATTACK_BAND: Band = Band::High;
/// The most false incidents per seed, on average.
pub const MAX_MEAN_FALSE_INCIDENTS: f64 = 1.0;

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
}

impl Score {
    /// Scores `outcome`, whose attack began at `first_use_micros`.
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
        Score {
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

/// The earliest attack alert at the opening level or above that `wanted` accepts (ties
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
            alert.rule.level >= outcome.opening_level
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
    /// Runs whose attack incident reached the band.
    pub severe: usize,
    /// False incidents over all runs.
    pub false_incidents: usize,
    /// The longest first-alert delay seen (microseconds), over runs that alerted.
    pub worst_delay_micros: Option<i64>,
}

impl Totals {
    /// Adds one run.
    pub fn add(&mut self, score: &Score, band: Option<Band>) {
        self.runs += 1;
        self.in_time += usize::from(score.alerted_in_time());
        self.severe += usize::from(band.is_some_and(|band| band >= MIN_ATTACK_BAND));
        self.false_incidents += score.false_incidents.len();
        if let Some(first) = &score.first_alert {
            self.worst_delay_micros = Some(
                self.worst_delay_micros
                    .map_or(first.delay_micros, |worst| worst.max(first.delay_micros)),
            );
        }
    }

    /// False incidents per run.
    pub fn mean_false_incidents(&self) -> f64 {
        if self.runs == 0 {
            return 0.0;
        }
        self.false_incidents as f64 / self.runs as f64
    }

    /// Whether every criterion holds.
    pub fn passed(&self) -> bool {
        self.runs > 0
            && self.in_time == self.runs
            && self.severe == self.runs
            && self.mean_false_incidents() <= MAX_MEAN_FALSE_INCIDENTS
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
        }
    }

    #[test]
    fn totals_pass_only_when_every_criterion_holds() {
        let mut totals = Totals::default();
        assert!(!totals.passed(), "no run proves nothing");
        totals.add(&score(Some(60_000_000), 2), Some(Band::Critical));
        totals.add(
            &score(Some(MAX_FIRST_ALERT_DELAY_MICROS), 0),
            Some(Band::High),
        );
        assert!(totals.passed());
        assert_eq!(
            totals.worst_delay_micros,
            Some(MAX_FIRST_ALERT_DELAY_MICROS)
        );
        totals.add(&score(Some(1), 2), Some(Band::High));
        assert!(!totals.passed(), "mean false incidents 4/3 is above one");
    }

    #[test]
    fn a_late_or_missing_alert_or_a_mild_incident_fails() {
        let mut late = Totals::default();
        late.add(
            &score(Some(MAX_FIRST_ALERT_DELAY_MICROS + 1), 0),
            Some(Band::High),
        );
        assert!(!late.passed());
        let mut silent = Totals::default();
        silent.add(&score(None, 0), Some(Band::High));
        assert!(!silent.passed());
        let mut mild = Totals::default();
        mild.add(&score(Some(0), 0), Some(Band::Medium));
        assert!(!mild.passed());
    }
}
