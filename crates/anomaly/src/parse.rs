//! YAML → [`Config`], with errors naming the file, the line and the key.
//!
//! Unknown keys are errors (a typo such as `windw_minutes` must not silently fall back to
//! a default), missing keys take their defaults, and values are range-checked.

use std::path::Path;

use ipnet::IpNet;

use crate::anomaly::Level;
use crate::config::{
    BurstConfig, Config, DetectorsConfig, FieldCondition, ImpossibleSequenceConfig, Learning,
    Limits, LogSourceSelector, NewNetworkConfig, NewPrincipalConfig, SourceConfig,
    UnusualTimeConfig,
};
use crate::error::ConfigError;
use crate::site::SiteNetworksConfig;
use tocsin_yaml::{self as yaml, Node};

/// The deepest nesting a configuration may have (see [`tocsin_yaml::load`]).
const MAX_DEPTH: usize = 32;

/// Parses a configuration document.
pub(crate) fn parse_config(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let documents = tocsin_yaml::load(text, MAX_DEPTH)
        .map_err(|err| ConfigError::new(path, err.line(), "", err.to_string()))?;
    let mut documents = documents.iter().filter(|d| !yaml::is_null(d));
    let Some(root) = documents.next() else {
        return Ok(Config::default());
    };
    if let Some(extra) = documents.next() {
        return Err(ConfigError::new(
            path,
            yaml::line(extra),
            "",
            "expected one YAML document, found several",
        ));
    }
    let reader = Reader { path };
    reader.config(root)
}

/// The entries of one mapping, with the keys it may have.
struct Section<'n, 'a> {
    entries: Vec<(String, &'n Node<'a>)>,
    context: String,
}

impl<'n, 'a> Section<'n, 'a> {
    fn get(&self, key: &str) -> Option<&'n Node<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .filter(|v| !yaml::is_null(v))
    }

    fn child(&self, key: &str) -> String {
        if self.context.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.context)
        }
    }
}

struct Reader<'p> {
    path: &'p Path,
}

impl Reader<'_> {
    fn error(&self, node: &Node<'_>, context: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.path, yaml::line(node), context, message)
    }

    fn wrong_type(&self, node: &Node<'_>, context: &str, expected: &str) -> ConfigError {
        self.error(
            node,
            context,
            format!("expected {expected}, found {}", yaml::kind_name(node)),
        )
    }

    /// Reads a mapping whose keys must all be in `allowed`.
    fn section<'n, 'a>(
        &self,
        node: &'n Node<'a>,
        context: &str,
        allowed: &[&str],
    ) -> Result<Section<'n, 'a>, ConfigError> {
        let entries =
            yaml::mapping(node).ok_or_else(|| self.wrong_type(node, context, "a mapping"))?;
        let mut section = Section {
            entries: Vec::with_capacity(entries.len()),
            context: context.to_owned(),
        };
        for (key, value) in entries {
            let name = yaml::scalar_text(key)
                .ok_or_else(|| self.wrong_type(key, context, "a text key"))?;
            if !allowed.contains(&name.as_str()) {
                return Err(self.error(
                    key,
                    context,
                    format!(
                        "unknown key '{name}' (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
            if section.entries.iter().any(|(k, _)| *k == name) {
                return Err(self.error(key, context, format!("duplicate key '{name}'")));
            }
            section.entries.push((name, value));
        }
        Ok(section)
    }

    fn text(&self, section: &Section<'_, '_>, key: &str) -> Result<Option<String>, ConfigError> {
        let Some(node) = section.get(key) else {
            return Ok(None);
        };
        let text = yaml::scalar_text(node)
            .ok_or_else(|| self.wrong_type(node, &section.child(key), "a string"))?;
        if text.trim().is_empty() {
            return Err(self.error(node, &section.child(key), "must not be empty"));
        }
        Ok(Some(text))
    }

    fn required_text(
        &self,
        section: &Section<'_, '_>,
        key: &str,
        at: &Node<'_>,
    ) -> Result<String, ConfigError> {
        self.text(section, key)?.ok_or_else(|| {
            self.error(
                at,
                &section.context,
                format!("missing required key '{key}'"),
            )
        })
    }

    fn list(
        &self,
        section: &Section<'_, '_>,
        key: &str,
    ) -> Result<Vec<(String, usize)>, ConfigError> {
        let Some(node) = section.get(key) else {
            return Ok(Vec::new());
        };
        let context = section.child(key);
        let items =
            yaml::sequence(node).ok_or_else(|| self.wrong_type(node, &context, "a list"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                yaml::scalar_text(item)
                    .map(|text| (text, yaml::line(item)))
                    .ok_or_else(|| self.wrong_type(item, &format!("{context}[{i}]"), "a string"))
            })
            .collect()
    }

    fn bool(
        &self,
        section: &Section<'_, '_>,
        key: &str,
        default: bool,
    ) -> Result<bool, ConfigError> {
        match section.get(key) {
            None => Ok(default),
            Some(node) => yaml::as_bool(node)
                .ok_or_else(|| self.wrong_type(node, &section.child(key), "true or false")),
        }
    }

    /// An integer within `min..=max`.
    fn integer(
        &self,
        section: &Section<'_, '_>,
        key: &str,
        default: u64,
        (min, max): (u64, u64),
    ) -> Result<u64, ConfigError> {
        let Some(node) = section.get(key) else {
            return Ok(default);
        };
        let context = section.child(key);
        let value = yaml::as_u64(node)
            .ok_or_else(|| self.wrong_type(node, &context, "a non-negative integer"))?;
        if !(min..=max).contains(&value) {
            return Err(self.error(node, &context, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    /// A finite number within `min..=max`.
    fn number(
        &self,
        section: &Section<'_, '_>,
        key: &str,
        default: f64,
        (min, max): (f64, f64),
    ) -> Result<f64, ConfigError> {
        let Some(node) = section.get(key) else {
            return Ok(default);
        };
        let context = section.child(key);
        let value =
            yaml::as_f64(node).ok_or_else(|| self.wrong_type(node, &context, "a number"))?;
        if !value.is_finite() || value < min || value > max {
            return Err(self.error(node, &context, format!("{value} is outside {min}..={max}")));
        }
        Ok(value)
    }

    fn config(&self, root: &Node<'_>) -> Result<Config, ConfigError> {
        let top = self.section(
            root,
            "",
            &[
                "learning",
                "sources",
                "detectors",
                "limits",
                "site_networks",
            ],
        )?;
        let learning = match top.get("learning") {
            Some(node) => self.learning(node)?,
            None => Learning::default(),
        };
        let sources = match top.get("sources") {
            Some(node) => self.sources(node)?,
            None => Vec::new(),
        };
        let detectors = match top.get("detectors") {
            Some(node) => self.detectors(node)?,
            None => DetectorsConfig::default(),
        };
        let limits = match top.get("limits") {
            Some(node) => self.limits(node)?,
            None => Limits::default(),
        };
        let site_networks = match top.get("site_networks") {
            Some(node) => self.site_networks(node)?,
            None => SiteNetworksConfig::default(),
        };
        Ok(Config {
            learning,
            sources,
            detectors,
            limits,
            site_networks,
        })
    }

    fn learning(&self, node: &Node<'_>) -> Result<Learning, ConfigError> {
        let s = self.section(node, "learning", &["days", "min_events"])?;
        let default = Learning::default();
        Ok(Learning {
            days: self.integer(&s, "days", default.days.into(), (0, 3650))? as u32,
            min_events: self.integer(&s, "min_events", default.min_events, (0, u64::MAX))?,
        })
    }

    fn site_networks(&self, node: &Node<'_>) -> Result<SiteNetworksConfig, ConfigError> {
        let s = self.section(
            node,
            "site_networks",
            &["enabled", "min_days", "min_principals", "max_networks"],
        )?;
        let default = SiteNetworksConfig::default();
        Ok(SiteNetworksConfig {
            enabled: self.bool(&s, "enabled", default.enabled)?,
            min_days: self.integer(&s, "min_days", default.min_days.into(), (1, 366))? as u32,
            min_principals: self.integer(
                &s,
                "min_principals",
                default.min_principals.into(),
                (1, 1000),
            )? as u32,
            max_networks: self.integer(
                &s,
                "max_networks",
                default.max_networks as u64,
                (1, 1_000_000),
            )? as usize,
        })
    }

    fn limits(&self, node: &Node<'_>) -> Result<Limits, ConfigError> {
        let s = self.section(node, "limits", &["max_principals", "max_networks"])?;
        let default = Limits::default();
        Ok(Limits {
            max_principals: self.integer(
                &s,
                "max_principals",
                default.max_principals as u64,
                (1, 10_000_000),
            )? as usize,
            max_networks: self.integer(
                &s,
                "max_networks",
                default.max_networks as u64,
                (1, 10_000),
            )? as usize,
        })
    }

    fn sources(&self, node: &Node<'_>) -> Result<Vec<SourceConfig>, ConfigError> {
        let items =
            yaml::sequence(node).ok_or_else(|| self.wrong_type(node, "sources", "a list"))?;
        let mut sources: Vec<SourceConfig> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let source = self.source(item, &format!("sources[{i}]"))?;
            if sources.iter().any(|s| s.name == source.name) {
                return Err(self.error(
                    item,
                    &format!("sources[{i}]"),
                    format!("duplicate source name '{}'", source.name),
                ));
            }
            sources.push(source);
        }
        Ok(sources)
    }

    fn source(&self, node: &Node<'_>, context: &str) -> Result<SourceConfig, ConfigError> {
        let s = self.section(
            node,
            context,
            &[
                "name",
                "logsource",
                "principal",
                "principal_kind",
                "identity",
                "address",
                "action",
                "target",
                "sensitive_actions",
                "tags",
                "new_principal_level",
                "only_if",
                "unless",
                "failed_if",
            ],
        )?;
        let name = self.required_text(&s, "name", node)?;
        let logsource = match s.get("logsource") {
            Some(node) => self.logsource(node, &s.child("logsource"))?,
            None => return Err(self.error(node, context, "missing required key 'logsource'")),
        };
        let principal = self.required_text(&s, "principal", node)?;
        let principal_kind = self
            .text(&s, "principal_kind")?
            .unwrap_or_else(|| name.clone());
        Ok(SourceConfig {
            name,
            logsource,
            principal,
            principal_kind,
            identity: self.text(&s, "identity")?,
            address: self.text(&s, "address")?,
            action: self.text(&s, "action")?,
            target: self.text(&s, "target")?,
            sensitive_actions: self
                .list(&s, "sensitive_actions")?
                .into_iter()
                .map(|(t, _)| t)
                .collect(),
            tags: self.list(&s, "tags")?.into_iter().map(|(t, _)| t).collect(),
            new_principal_level: match s.get("new_principal_level") {
                Some(node) => self.level(node, &s.child("new_principal_level"))?,
                None => Level::Medium,
            },
            only_if: self.conditions(&s, "only_if")?,
            unless: self.conditions(&s, "unless")?,
            failed_if: self.conditions(&s, "failed_if")?,
        })
    }

    fn level(&self, node: &Node<'_>, context: &str) -> Result<Level, ConfigError> {
        match yaml::scalar_text(node).as_deref() {
            Some("low") => Ok(Level::Low),
            Some("medium") => Ok(Level::Medium),
            Some("high") => Ok(Level::High),
            _ => Err(self.error(node, context, "expected one of: low, medium, high")),
        }
    }

    /// `{field: [values], other: value}`: a mapping of fields to a value or a list.
    fn conditions(
        &self,
        section: &Section<'_, '_>,
        key: &str,
    ) -> Result<Vec<FieldCondition>, ConfigError> {
        let Some(node) = section.get(key) else {
            return Ok(Vec::new());
        };
        let context = section.child(key);
        let entries =
            yaml::mapping(node).ok_or_else(|| self.wrong_type(node, &context, "a mapping"))?;
        let mut conditions = Vec::with_capacity(entries.len());
        for (field, values) in entries {
            let field = yaml::scalar_text(field)
                .ok_or_else(|| self.wrong_type(field, &context, "a field name"))?;
            let context = format!("{context}.{field}");
            let values = match yaml::sequence(values) {
                Some(items) => items
                    .iter()
                    .map(|item| {
                        yaml::scalar_text(item)
                            .ok_or_else(|| self.wrong_type(item, &context, "a string"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                None => vec![yaml::scalar_text(values).ok_or_else(|| {
                    self.wrong_type(values, &context, "a string or a list of strings")
                })?],
            };
            conditions.push(FieldCondition { field, values });
        }
        Ok(conditions)
    }

    fn logsource(&self, node: &Node<'_>, context: &str) -> Result<LogSourceSelector, ConfigError> {
        let s = self.section(node, context, &["product", "service", "category"])?;
        let selector = LogSourceSelector {
            product: self.text(&s, "product")?,
            service: self.text(&s, "service")?,
            category: self.text(&s, "category")?,
        };
        if selector == LogSourceSelector::default() {
            return Err(self.error(
                node,
                context,
                "name at least one of product, service, category",
            ));
        }
        Ok(selector)
    }

    fn detectors(&self, node: &Node<'_>) -> Result<DetectorsConfig, ConfigError> {
        let s = self.section(
            node,
            "detectors",
            &[
                "new_network",
                "unusual_time",
                "burst",
                "impossible_sequence",
                "new_principal",
            ],
        )?;
        let mut detectors = DetectorsConfig::default();
        if let Some(node) = s.get("new_network") {
            detectors.new_network = self.new_network(node)?;
        }
        if let Some(node) = s.get("unusual_time") {
            detectors.unusual_time = self.unusual_time(node)?;
        }
        if let Some(node) = s.get("burst") {
            detectors.burst = self.burst(node)?;
        }
        if let Some(node) = s.get("impossible_sequence") {
            detectors.impossible_sequence = self.impossible_sequence(node)?;
        }
        if let Some(node) = s.get("new_principal") {
            let s = self.section(node, "detectors.new_principal", &["enabled"])?;
            detectors.new_principal = NewPrincipalConfig {
                enabled: self.bool(&s, "enabled", true)?,
            };
        }
        Ok(detectors)
    }

    fn new_network(&self, node: &Node<'_>) -> Result<NewNetworkConfig, ConfigError> {
        let s = self.section(
            node,
            "detectors.new_network",
            &["enabled", "ipv4_prefix", "ipv6_prefix", "allow"],
        )?;
        let default = NewNetworkConfig::default();
        let mut allow = Vec::new();
        for (i, (text, line)) in self.list(&s, "allow")?.into_iter().enumerate() {
            let net = parse_network(&text).ok_or_else(|| {
                ConfigError::new(
                    self.path,
                    line,
                    &format!("detectors.new_network.allow[{i}]"),
                    format!("'{text}' is not an IP network (such as 10.0.0.0/8 or fd00::/8)"),
                )
            })?;
            allow.push(net);
        }
        Ok(NewNetworkConfig {
            enabled: self.bool(&s, "enabled", default.enabled)?,
            ipv4_prefix: self.integer(&s, "ipv4_prefix", default.ipv4_prefix.into(), (1, 32))?
                as u8,
            ipv6_prefix: self.integer(&s, "ipv6_prefix", default.ipv6_prefix.into(), (1, 128))?
                as u8,
            allow,
        })
    }

    fn unusual_time(&self, node: &Node<'_>) -> Result<UnusualTimeConfig, ConfigError> {
        let s = self.section(
            node,
            "detectors.unusual_time",
            &[
                "enabled",
                "min_history_events",
                "rare_hour_share",
                "hour_margin",
                "rare_day_share",
                "min_history_days",
            ],
        )?;
        let default = UnusualTimeConfig::default();
        Ok(UnusualTimeConfig {
            enabled: self.bool(&s, "enabled", default.enabled)?,
            min_history_events: self.integer(
                &s,
                "min_history_events",
                default.min_history_events,
                (1, u64::MAX),
            )?,
            rare_hour_share: self.number(
                &s,
                "rare_hour_share",
                default.rare_hour_share,
                (0.0, 1.0),
            )?,
            min_history_days: self.integer(
                &s,
                "min_history_days",
                default.min_history_days.into(),
                (0, 3650),
            )? as u32,
            hour_margin: self.integer(&s, "hour_margin", default.hour_margin.into(), (0, 11))?
                as u8,
            rare_day_share: self.number(
                &s,
                "rare_day_share",
                default.rare_day_share,
                (0.0, 1.0),
            )?,
        })
    }

    fn burst(&self, node: &Node<'_>) -> Result<BurstConfig, ConfigError> {
        let s = self.section(
            node,
            "detectors.burst",
            &["enabled", "window_minutes", "factor", "min_count"],
        )?;
        let default = BurstConfig::default();
        Ok(BurstConfig {
            enabled: self.bool(&s, "enabled", default.enabled)?,
            window_minutes: self.integer(
                &s,
                "window_minutes",
                default.window_minutes.into(),
                (1, 24 * 60),
            )? as u32,
            factor: self.number(&s, "factor", default.factor, (1.0, 1000.0))?,
            min_count: self.integer(&s, "min_count", default.min_count, (1, 100_000))?,
        })
    }

    fn impossible_sequence(
        &self,
        node: &Node<'_>,
    ) -> Result<ImpossibleSequenceConfig, ConfigError> {
        let s = self.section(
            node,
            "detectors.impossible_sequence",
            &[
                "enabled",
                "within_minutes",
                "distinct_prefix",
                "distinct_prefix_v6",
            ],
        )?;
        let default = ImpossibleSequenceConfig::default();
        Ok(ImpossibleSequenceConfig {
            enabled: self.bool(&s, "enabled", default.enabled)?,
            within_minutes: self.integer(
                &s,
                "within_minutes",
                default.within_minutes.into(),
                (1, 24 * 60),
            )? as u32,
            distinct_prefix: self.integer(
                &s,
                "distinct_prefix",
                default.distinct_prefix.into(),
                (1, 32),
            )? as u8,
            distinct_prefix_v6: self.integer(
                &s,
                "distinct_prefix_v6",
                default.distinct_prefix_v6.into(),
                (1, 128),
            )? as u8,
        })
    }
}

/// Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (a one-address network).
fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}
