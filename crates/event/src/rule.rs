//! [`RuleRef`]: the one description of "who fired" that every kind of finding carries (a
//! Sigma rule, a correlation rule, a behavioural detector), as outputs print it and incidents
//! store it.

use serde::{Deserialize, Serialize};

use crate::Level;

/// The rule (or detector) side of a detection: who fired and how it describes itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleRef {
    /// A stable id: the Sigma rule's `id`, else its `name`, else its title; for a behavioural
    /// detector `anomaly.<kind>`. Detection keys derive from it, so it must not change
    /// between runs.
    pub id: String,
    /// The rule's title.
    pub title: String,
    /// The rule's level ([`Level::Informational`] when it states none).
    pub level: Level,
    /// The rule's tags, as written (`attack.execution`, `attack.t1059.001`, `cve.2021-44228`).
    pub tags: Vec<String>,
    /// The rule's author, shown in outputs and reports (Sigma's DRL licence asks for
    /// attribution).
    pub author: Option<String>,
}
