//! Partners' STIX indicators ([`tocsin_intel::IndicatorSet`]) as detectors: the rule
//! reference an indicator's detections carry, and its Sigma indicators as rule texts for
//! [`load_rules_with`](crate::load_rules_with).
//!
//! # Level from confidence
//!
//! STIX `confidence` (0–100) becomes the level of the indicator's detections: 85 and
//! above `high`, 50 and above `medium`, below 50 `low`; an indicator that states none is
//! `medium` (a partner shared it as worth acting on, without saying how sure it is).

use std::path::PathBuf;

use tocsin_event::{Level, RuleRef};
use tocsin_intel::{Indicator, IndicatorSet};

/// The level of an indicator's detections (see the module documentation).
pub fn indicator_level(confidence: Option<u8>) -> Level {
    match confidence {
        None => Level::Medium,
        Some(c) if c >= 85 => Level::High,
        Some(c) if c >= 50 => Level::Medium,
        Some(_) => Level::Low,
    }
}

/// The rule reference of an indicator's detections: its STIX id, the title `STIX
/// indicator: <name> (confidence N)`, its producer as author, the level of its
/// confidence, and as tags its `mitre-attack` kill-chain phases (`attack.<phase>`) and
/// ATT&CK technique ids (`attack.t1078`).
pub fn indicator_rule(indicator: &Indicator) -> RuleRef {
    let confidence = match indicator.confidence {
        Some(c) => format!("confidence {c}"),
        None => "no confidence stated".to_owned(),
    };
    let phases = indicator
        .attack_phases
        .iter()
        .map(|phase| format!("attack.{}", phase.to_ascii_lowercase().replace(' ', "-")));
    let techniques = indicator
        .attack_ids
        .iter()
        .map(|id| format!("attack.{}", id.to_ascii_lowercase()));
    RuleRef {
        id: indicator.id.clone(),
        title: format!("STIX indicator: {} ({confidence})", indicator.name),
        level: indicator_level(indicator.confidence),
        tags: phases.chain(techniques).collect(),
        author: indicator.producer.clone(),
    }
}

/// A rule document that comes from no rule file: a Sigma indicator's pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleText {
    /// The YAML text.
    pub text: String,
    /// What names it in errors: `<file>#<indicator id>`.
    pub origin: PathBuf,
    /// The author given to its rules when they name none (the indicator's producer).
    pub author: Option<String>,
}

/// The Sigma indicators of `set` as rule texts.
pub fn sigma_rule_texts(set: &IndicatorSet) -> Vec<RuleText> {
    set.sigma()
        .iter()
        .map(|sigma| {
            let indicator = &sigma.indicator;
            let mut origin = indicator.source.clone().into_os_string();
            origin.push(format!("#{}", indicator.id));
            RuleText {
                text: indicator.pattern.clone(),
                origin: origin.into(),
                author: indicator.producer.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_maps_to_level() {
        assert_eq!(indicator_level(None), Level::Medium);
        assert_eq!(indicator_level(Some(100)), Level::High);
        assert_eq!(indicator_level(Some(85)), Level::High);
        assert_eq!(indicator_level(Some(84)), Level::Medium);
        assert_eq!(indicator_level(Some(50)), Level::Medium);
        assert_eq!(indicator_level(Some(49)), Level::Low);
        assert_eq!(indicator_level(Some(0)), Level::Low);
    }

    #[test]
    fn the_rule_names_indicator_producer_and_confidence() {
        let indicator = Indicator {
            id: "indicator--1".into(),
            name: "C2".into(),
            producer: Some("Partner".into()),
            confidence: Some(60),
            pattern: String::new(),
            attack_phases: vec!["command-and-control".into()],
            attack_ids: vec!["T1071.001".into()],
            source: PathBuf::from("x.json"),
            valid_until_micros: None,
        };
        let rule = indicator_rule(&indicator);
        assert_eq!(rule.id, "indicator--1");
        assert_eq!(rule.title, "STIX indicator: C2 (confidence 60)");
        assert_eq!(rule.author.as_deref(), Some("Partner"));
        assert_eq!(rule.level, Level::Medium);
        assert_eq!(
            rule.tags,
            ["attack.command-and-control", "attack.t1071.001"]
        );
    }

    /// A bundle with an address indicator and a Sigma one, as a partner shares them.
    fn set() -> IndicatorSet {
        let rule = "title: Partner rule\nid: 0d6b1b53-0000-4000-8000-000000000001\nlevel: high\nlogsource: {product: test}\ndetection: {s: {Image: evil.exe}, condition: s}\n";
        let bundle = serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "identity", "id": "identity--p", "name": "Partner"},
            {"type": "indicator", "id": "indicator--ip", "name": "C2", "confidence": 95,
             "created_by_ref": "identity--p", "modified": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.7']", "pattern_type": "stix"},
            {"type": "indicator", "id": "indicator--sigma", "created_by_ref": "identity--p",
             "modified": "2026-01-01T00:00:00Z", "pattern": rule, "pattern_type": "sigma"},
        ]});
        let mut builder = tocsin_intel::IndicatorSetBuilder::default();
        builder.add_text(&bundle.to_string(), std::path::Path::new("p.json"));
        builder.build(0)
    }

    #[test]
    fn a_scan_hands_indicator_hits_to_the_sink_after_the_rules() {
        use tocsin_event::{Event, Value};
        let set = std::sync::Arc::new(set());
        let texts = sigma_rule_texts(&set);
        assert_eq!(texts[0].origin, PathBuf::from("p.json#indicator--sigma"));
        let mut rules = crate::load_rules_with(
            &[],
            &texts,
            &crate::CompileOptions::default(),
            &crate::RuleSelection::default(),
        )
        .unwrap();
        assert_eq!(rules.engine.len(), 1, "{:?}", rules.load_errors);
        let (detectors, _) = crate::Detectors::from_rule_set(&mut rules, None);
        let detectors = detectors.with_indicators(set);

        let mut event = Event::default();
        event.push("dst", "", Value::from("192.0.2.7:443"));
        let mut sink = crate::AlertCollector::default();
        let _ = detectors.scan(&event, &mut tocsin_engine::Scratch::default(), &mut sink);
        let [alert] = sink.alerts.as_slice() else {
            panic!("one alert")
        };
        assert_eq!(alert.rule.id, "indicator--ip");
        assert_eq!(alert.rule.title, "STIX indicator: C2 (confidence 95)");
        assert_eq!(alert.rule.author.as_deref(), Some("Partner"));
        assert_eq!(alert.rule.level, Level::High);
        let fields = ["dst".to_owned()];
        let record = crate::Finding::Rule {
            rule: &alert.rule,
            fields: &fields,
            event: &event,
        }
        .record();
        assert_eq!(record.details.len(), 1);
    }

    #[test]
    fn sigma_indicators_are_attributed_to_their_producer() {
        let texts = sigma_rule_texts(&set());
        let rules = crate::load_rules_with(
            &[],
            &texts,
            &crate::CompileOptions::default(),
            &crate::RuleSelection::default(),
        )
        .unwrap();
        let (_, info) = rules.engine.rules().next().unwrap();
        assert_eq!(info.meta.author.as_deref(), Some("Partner"));
    }
}
