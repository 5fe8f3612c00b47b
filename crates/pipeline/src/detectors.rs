//! [`Detectors`]: everything that judges events (Sigma rules, partners' STIX indicators,
//! correlations, behavioural detectors), and the two steps every driver takes: a scan in any order, then a replay in
//! time order.
//!
//! # Why two steps
//!
//! A rule judges one event alone, so the scan may run on many threads over many files in
//! any order. Correlations and behavioural baselines judge events against earlier ones, so
//! they need time order across every input, which is known only once everything has been
//! read. The scan therefore hands them what they need (a clone of each match a correlation
//! references, a clone of each event a behavioural source watches, never a clone otherwise)
//! to hold in a [`ReplayBuffer`], and [`Detectors::replay`] feeds it to them sorted by
//! time. The buffer holds a bounded amount in memory and spills sorted runs to temporary
//! files beyond it, so that a hunt's memory does not grow with its input. A batch hunt
//! replays after its last file; a live service replays each window of events it has
//! settled.

use std::io;
use std::ops::ControlFlow;
use std::sync::Arc;

use tocsin_anomaly::Anomaly;
use tocsin_correlate::CorrelateError;
use tocsin_engine::{Engine, RuleId, Scratch};
use tocsin_event::{Event, RuleRef};
use tocsin_intel::IndicatorSet;
use tocsin_sigma::ast::CorrelationRule;

use crate::behaviour::Behaviour;
use crate::correlation::{Correlations, KeptMatch, Replay};
use crate::finding::{Finding, RuleRefs};
use crate::intel::indicator_rule;
use crate::rules::RuleSet;
use crate::spill::TimeSorted;

/// Where a scan's findings go. Push-style: the sink need not buffer, and stops the scan of
/// the current event by returning `Break` (a closed pipe, a cancelled run).
pub trait FindingSink {
    /// A finding of the scan: a rule match that is shown on its own.
    fn finding(&mut self, finding: &Finding<'_>) -> ControlFlow<()>;

    /// A match a correlation references, to be kept until [`Detectors::replay`].
    fn keep(&mut self, kept: KeptMatch) -> ControlFlow<()>;

    /// An event a behavioural source watches, to be kept (cloned) until
    /// [`Detectors::replay`].
    fn watch(&mut self, event: &Event) -> ControlFlow<()>;
}

/// The compiled rules, the correlations over them and the behavioural detectors.
pub struct Detectors {
    engine: Arc<Engine>,
    /// Each rule's reference, by rule id.
    rules: RuleRefs,
    correlations: Correlations,
    behaviour: Option<Behaviour>,
    /// Partners' STIX indicators, judged after the rules.
    indicators: Option<Arc<IndicatorSet>>,
    /// Each compiled indicator's reference, by its index in the set.
    indicator_rules: Vec<RuleRef>,
}

/// How much memory a [`ReplayBuffer`] holds by default before it spills to disk: 256 MiB,
/// enough that hunts of ordinary size never touch the disk.
pub const DEFAULT_REPLAY_MEMORY: usize = 256 << 20;

/// What a scan hands over for the replay: the matches correlations reference and the
/// events behavioural detectors watch, held in time order within a memory budget (see the
/// module documentation).
pub struct ReplayBuffer {
    kept: TimeSorted<KeptMatch>,
    watched: TimeSorted<Event>,
}

impl Default for ReplayBuffer {
    fn default() -> Self {
        ReplayBuffer::new(DEFAULT_REPLAY_MEMORY)
    }
}

impl ReplayBuffer {
    /// An empty buffer holding about `budget` bytes in memory (half for kept matches,
    /// half for watched events) before it writes sorted runs to temporary files.
    pub fn new(budget: usize) -> Self {
        ReplayBuffer {
            kept: TimeSorted::new(budget / 2),
            watched: TimeSorted::new(budget / 2),
        }
    }

    /// A buffer for a run of `detectors`: all of `budget` for the kept matches when no
    /// behavioural detector watches events, else half each.
    pub fn for_detectors(budget: usize, detectors: &Detectors) -> Self {
        match detectors.behaviour.is_some() {
            true => ReplayBuffer::new(budget),
            false => ReplayBuffer {
                kept: TimeSorted::new(budget),
                watched: TimeSorted::new(1),
            },
        }
    }

    /// Holds a match a correlation references.
    ///
    /// # Errors
    ///
    /// A run cannot be written to the temporary folder (a full disk).
    pub fn keep(&mut self, kept: KeptMatch) -> io::Result<()> {
        self.kept.push(kept)
    }

    /// Holds an event a behavioural detector watches.
    ///
    /// # Errors
    ///
    /// A run cannot be written to the temporary folder (a full disk).
    pub fn watch(&mut self, event: Event) -> io::Result<()> {
        self.watched.push(event)
    }

    /// How many runs were written to disk so far.
    pub fn spilled_runs(&self) -> usize {
        self.kept.runs() + self.watched.runs()
    }
}

/// What the replay found, to be turned into findings with [`Late::findings`].
pub struct Late {
    /// The correlation hits and the matches they index.
    pub correlations: Replay,
    /// The behavioural anomalies, each with its event, in time order.
    pub anomalies: Vec<(Anomaly, Event)>,
    /// How many events the behavioural detectors watched.
    pub watched: usize,
}

impl Detectors {
    /// The detectors over a compiled engine (shared, so that runs over several inputs need
    /// not compile twice); invalid correlation rules are returned as errors and left out.
    /// `behaviour` is `None` when the run does not watch behaviour.
    pub fn new(
        engine: impl Into<Arc<Engine>>,
        correlations: Vec<CorrelationRule>,
        behaviour: Option<Behaviour>,
    ) -> (Self, Vec<CorrelateError>) {
        let engine = engine.into();
        let (correlations, errors) = Correlations::build(correlations, &engine);
        let rules = RuleRefs::new(Arc::clone(&engine));
        let detectors = Detectors {
            engine,
            rules,
            correlations,
            behaviour,
            indicators: None,
            indicator_rules: Vec::new(),
        };
        (detectors, errors)
    }

    /// The detectors over a loaded rule set: its engine and correlations (taken from the
    /// set), with the rules it loaded only as correlation inputs kept out of sight.
    pub fn from_rule_set(
        set: &mut RuleSet,
        behaviour: Option<Behaviour>,
    ) -> (Self, Vec<CorrelateError>) {
        let engine = std::mem::take(&mut set.engine);
        let correlations = std::mem::take(&mut set.correlations);
        let (mut detectors, errors) = Detectors::new(engine, correlations, behaviour);
        detectors.correlations.hide(&set.input_only);
        (detectors, errors)
    }

    /// The detectors with partners' STIX indicators besides: [`Detectors::scan`] judges
    /// each event against them after the rules, and hands each indicator it matches to the
    /// sink as a [`Finding::Rule`] whose rule is the indicator ([`indicator_rule`]) and
    /// whose shown field is the one that matched. (The set's Sigma indicators are rules:
    /// compile them with [`load_rules_with`](crate::load_rules_with).)
    pub fn with_indicators(mut self, indicators: Arc<IndicatorSet>) -> Self {
        self.indicator_rules = indicators.indicators().iter().map(indicator_rule).collect();
        self.indicators = Some(indicators);
        self
    }

    /// The STIX indicators judged, if any.
    pub fn indicators(&self) -> Option<&IndicatorSet> {
        self.indicators.as_deref()
    }

    /// The compiled rules.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How many correlation rules are evaluated.
    pub fn correlation_count(&self) -> usize {
        self.correlations.valid()
    }

    /// The behavioural detectors, when the run watches behaviour.
    pub fn behaviour(&self) -> Option<&Behaviour> {
        self.behaviour.as_ref()
    }

    /// The behavioural detectors, to resume or save their baseline.
    pub fn behaviour_mut(&mut self) -> Option<&mut Behaviour> {
        self.behaviour.as_mut()
    }

    /// Judges one event: each rule match shown on its own goes to `sink` as a finding, each
    /// match a correlation references and the event itself, when a behavioural source
    /// watches it, are handed over for the replay. `Break` when the sink stopped.
    pub fn scan(
        &self,
        event: &Event,
        scratch: &mut Scratch,
        sink: &mut impl FindingSink,
    ) -> ControlFlow<()> {
        for &rule in self.engine.evaluate(event, scratch) {
            self.on_match(rule, event, sink)?;
        }
        self.on_indicators(event, sink)?;
        if self.behaviour.as_ref().is_some_and(|b| b.watches(event)) {
            sink.watch(event)?;
        }
        ControlFlow::Continue(())
    }

    /// One match (only matches reach here, never every event).
    fn on_match(
        &self,
        rule: RuleId,
        event: &Event,
        sink: &mut impl FindingSink,
    ) -> ControlFlow<()> {
        if self.correlations.keeps(rule) {
            sink.keep(KeptMatch {
                rule,
                event: self.correlations.slim(event),
            })?;
        }
        if !self.correlations.shows(rule) {
            return ControlFlow::Continue(());
        }
        let Some(reference) = self.rules.get(rule) else {
            return ControlFlow::Continue(());
        };
        sink.finding(&Finding::Rule {
            rule: reference,
            fields: &self.engine.rule(rule).meta.fields,
            event,
        })
    }

    /// Judges the event against the STIX indicators (no work without them; a hash lookup
    /// per token of the event with them).
    fn on_indicators(&self, event: &Event, sink: &mut impl FindingSink) -> ControlFlow<()> {
        let Some(indicators) = &self.indicators else {
            return ControlFlow::Continue(());
        };
        for hit in indicators.matches(event) {
            let Some(rule) = self.indicator_rules.get(hit.indicator) else {
                continue;
            };
            let fields = [hit.field.to_owned()];
            sink.finding(&Finding::Rule {
                rule,
                fields: &fields,
                event,
            })?;
        }
        ControlFlow::Continue(())
    }

    /// Feeds the kept matches to the correlations and the watched events to the
    /// behavioural detectors, each in time order (see the module documentation).
    ///
    /// # Errors
    ///
    /// The buffer spilled to disk and cannot be read back.
    pub fn replay(&mut self, mut buffer: ReplayBuffer) -> io::Result<Late> {
        let correlations = self.correlations.replay(&mut buffer.kept)?;
        let anomalies = match self.behaviour.as_mut() {
            Some(behaviour) => behaviour.run(&mut buffer.watched)?,
            None => Vec::new(),
        };
        Ok(Late {
            correlations,
            anomalies,
            watched: buffer.watched.len(),
        })
    }
}

impl Detectors {
    /// Like [`Detectors::replay`], for one step of a live stream: correlation windows stay
    /// open across steps and those that ended before `horizon` (the event time everything
    /// has been replayed up to) close; a hit names the matches of earlier steps its window
    /// held (see [`Correlations::replay_live`]).
    ///
    /// # Errors
    ///
    /// The buffer spilled to disk and cannot be read back.
    pub fn replay_live(
        &mut self,
        mut buffer: ReplayBuffer,
        horizon: Option<i64>,
    ) -> io::Result<Late> {
        let correlations = self.correlations.replay_live(&mut buffer.kept, horizon)?;
        let anomalies = match self.behaviour.as_mut() {
            Some(behaviour) => behaviour.run(&mut buffer.watched)?,
            None => Vec::new(),
        };
        Ok(Late {
            correlations,
            anomalies,
            watched: buffer.watched.len(),
        })
    }

    /// The open correlation windows of a live stream, to save (see
    /// [`Correlations::live_state`]).
    ///
    /// # Errors
    ///
    /// A match holds a string over 4 GiB.
    pub fn correlation_state(&self) -> io::Result<Vec<u8>> {
        self.correlations.live_state()
    }

    /// Reopens the correlation windows a [`Detectors::correlation_state`] saved (of these
    /// rules or others: matches of rules these detectors lack are left out). Returns how
    /// many matches the windows hold.
    ///
    /// # Errors
    ///
    /// The state is damaged or of another version.
    pub fn resume_correlations(&mut self, state: &[u8]) -> io::Result<usize> {
        self.correlations.resume_live(state)
    }

    /// How many matches the open correlation windows of a live stream hold.
    pub fn correlation_window_matches(&self) -> usize {
        self.correlations.live_matches()
    }
}

impl Late {
    /// The replay's findings: correlation hits, then anomalies.
    pub fn findings<'a>(&'a self, detectors: &'a Detectors) -> impl Iterator<Item = Finding<'a>> {
        let hits = self
            .correlations
            .hits(&detectors.correlations, &detectors.rules)
            .map(Finding::Correlation);
        let anomalies = self
            .anomalies
            .iter()
            .map(|(anomaly, event)| Finding::Anomaly { anomaly, event });
        hits.chain(anomalies)
    }
}
