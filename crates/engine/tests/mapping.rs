//! The built-in logsource mapping against its two references: the Sigma specification's
//! taxonomy appendix (`sigma/spec/sigma-appendix-taxonomy.md`), which it must follow, and
//! the mapping SigmaHQ's own regression CI uses (`sigma/mappings/thor.yml`), which it must
//! match everywhere but the departures listed in [`THOR_DEPARTURES`].

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns).
#![allow(clippy::expect_used)]

use tocsin_engine::mapping::{LogsourceMapping, Resolution, BUILTIN_WINDOWS_MAPPING};
use tocsin_sigma::ast::{Document, LogSource};

/// Where the built-in mapping places a logsource differently from `thor.yml`, each because
/// the specification's taxonomy says so: services and a category `thor.yml` does not know,
/// and the registry categories it narrows by `EventType` where the taxonomy (and pySigma's
/// pipelines) place them on Sysmon event 12 whole.
const THOR_DEPARTURES: &[(Option<&str>, Option<&str>)] = &[
    (Some("registry_add"), None),
    (Some("registry_delete"), None),
    (Some("clipboard_capture"), None),
    (None, Some("dns-server")),
    (None, Some("dns-server-analytic")),
    (None, Some("dns-server-audit")),
    (None, Some("driver-framework")),
];

/// A Windows logsource of `category` and `service`.
fn windows(category: Option<&str>, service: Option<&str>) -> LogSource {
    LogSource {
        product: Some("windows".into()),
        category: category.map(str::to_string),
        service: service.map(str::to_string),
        ..LogSource::default()
    }
}

/// Whether `logsource` is one of the [`THOR_DEPARTURES`].
fn departs_from_thor(logsource: &LogSource) -> bool {
    let lower = |v: &Option<String>| v.as_deref().map(str::to_ascii_lowercase);
    logsource.product.as_deref() == Some("windows")
        && THOR_DEPARTURES.iter().any(|(category, service)| {
            lower(&logsource.category).as_deref() == *category
                && lower(&logsource.service).as_deref() == *service
        })
}

/// A resolution in a form that ignores the order of channels, conditions and branches.
fn normalised(resolution: Resolution) -> String {
    match resolution {
        Resolution::Mapped(branches) => {
            let mut out: Vec<String> = branches
                .into_iter()
                .map(|mut b| {
                    b.channels.sort();
                    b.conditions.sort();
                    format!("{:?}", b)
                })
                .collect();
            out.sort();
            out.join(" | ")
        }
        other => format!("{other:?}"),
    }
}

fn builtin() -> LogsourceMapping {
    LogsourceMapping::from_yaml(BUILTIN_WINDOWS_MAPPING, "windows.yml".as_ref())
        .expect("built-in parses")
}

/// One Windows row of the taxonomy appendix: a logsource and the channels and event IDs
/// it names (rows naming an ETW provider instead of a channel have no channels).
#[derive(Debug)]
struct SpecRow {
    category: Option<String>,
    service: Option<String>,
    channels: Vec<String>,
    event_ids: Vec<i64>,
}

/// The Windows rows of the appendix's tables: `| windows | product: windows<br>service: x
/// | Channel: A |`, where a list is written `Channel:<br> - A<br> - B`.
fn spec_rows(text: &str) -> Vec<SpecRow> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, "windows", logsource, description, ..] = cells.as_slice() else {
            continue;
        };
        let mut row = SpecRow {
            category: None,
            service: None,
            channels: Vec::new(),
            event_ids: Vec::new(),
        };
        for part in logsource.split("<br>") {
            if let Some(v) = part.trim().strip_prefix("category:") {
                row.category = Some(v.trim().to_string());
            } else if let Some(v) = part.trim().strip_prefix("service:") {
                row.service = Some(v.trim().to_string());
            }
        }
        let mut list = "";
        for part in description.split("<br>").map(str::trim) {
            let value = match part.split_once(':') {
                Some((key, rest)) if !part.starts_with("- ") => {
                    list = key.trim();
                    rest.trim()
                }
                _ => part.trim_start_matches("- ").trim(),
            };
            if value.is_empty() {
                continue;
            }
            match list {
                "Channel" => rows_channel(&mut row, value),
                "EventID" | "EventIDs" => row
                    .event_ids
                    .push(value.parse().expect("event IDs are numbers")),
                _ => {}
            }
        }
        rows.push(row);
    }
    rows
}

/// Adds a channel as the appendix writes it (once with sigmac's `WinEventLog:` prefix).
fn rows_channel(row: &mut SpecRow, value: &str) {
    let channel = value.strip_prefix("WinEventLog:").unwrap_or(value);
    row.channels.push(channel.to_string());
}

fn spec_taxonomy() -> Option<Vec<SpecRow>> {
    let path = tocsin_testdata::shared_path("sigma/spec/sigma-appendix-taxonomy.md")?;
    let text = std::fs::read_to_string(path).expect("readable");
    Some(spec_rows(&text))
}

#[test]
fn the_appendix_reader_reads_lists_and_single_values() {
    let rows = spec_rows(
        "| windows | product: windows<br>category: wmi_event | EventIDs: <br> - 19<br> - 20<br>Channel: Sysmon |\n\
         | windows | product: windows<br>service: ps | Channel:<br> - A<br> - WinEventLog:B |\n\
         | Zeek | product: zeek<br>service: dns | |",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].category.as_deref(), Some("wmi_event"));
    assert_eq!(
        (rows[0].event_ids.as_slice(), rows[0].channels.as_slice()),
        (&[19, 20][..], &["Sysmon".to_string()][..])
    );
    assert_eq!(rows[1].service.as_deref(), Some("ps"));
    assert_eq!(rows[1].channels, ["A", "B"]);
}

#[test]
fn builtin_mapping_places_every_windows_service_of_the_spec_taxonomy() {
    let Some(rows) = spec_taxonomy() else { return };
    let mapping = builtin();
    let services: Vec<&SpecRow> = rows.iter().filter(|r| r.service.is_some()).collect();
    assert!(services.len() > 40, "{} services read", services.len());
    let mut wrong = Vec::new();
    for row in services {
        let resolution = mapping.resolve(&windows(None, row.service.as_deref()));
        let placed = match &resolution {
            Resolution::Mapped(branches) => row
                .channels
                .iter()
                .all(|c| branches.iter().any(|b| b.channels.contains(c))),
            _ => false,
        };
        if !placed {
            wrong.push(format!(
                "{:?}: spec {:?}, ours {resolution:?}",
                row.service, row.channels
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn builtin_mapping_places_every_windows_category_of_the_spec_taxonomy_as_written() {
    let Some(rows) = spec_taxonomy() else { return };
    let mapping = builtin();
    // Rows naming an ETW provider rather than a channel cannot be placed in event logs.
    let categories: Vec<&SpecRow> = rows
        .iter()
        .filter(|r| r.category.is_some() && !r.channels.is_empty())
        .collect();
    assert!(
        categories.len() > 30,
        "{} categories read",
        categories.len()
    );
    let mut wrong = Vec::new();
    for row in categories {
        let resolution = mapping.resolve(&windows(row.category.as_deref(), None));
        let branches = match &resolution {
            Resolution::Mapped(branches) => branches.as_slice(),
            _ => &[],
        };
        // Every channel and event ID the spec names is placed by a branch that asks for
        // nothing more than the event ID.
        let placed = row.channels.iter().all(|channel| {
            row.event_ids.iter().all(|id| {
                branches.iter().any(|b| {
                    b.channels.contains(channel)
                        && b.event_ids().contains(id)
                        && b.conditions.iter().all(|(field, _)| field == "EventID")
                })
            })
        });
        if !placed {
            wrong.push(format!(
                "{:?}: spec {:?} {:?}, ours {resolution:?}",
                row.category, row.channels, row.event_ids
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_departure_from_thor_is_real() {
    let Some(thor) = tocsin_testdata::shared_path("sigma/mappings/thor.yml") else {
        return;
    };
    let text = std::fs::read_to_string(&thor).expect("readable");
    let reference = LogsourceMapping::from_yaml(&text, &thor).expect("thor.yml parses");
    let ours = builtin();
    for (category, service) in THOR_DEPARTURES {
        let logsource = windows(*category, *service);
        assert_ne!(
            normalised(ours.resolve(&logsource)),
            normalised(reference.resolve(&logsource)),
            "{logsource:?} is listed as a departure but thor.yml places it the same"
        );
    }
}

#[test]
fn builtin_mapping_places_every_rule_like_sigmahq_ci() {
    let (Some(thor), Some(rules)) = (
        tocsin_testdata::shared_path("sigma/mappings/thor.yml"),
        tocsin_testdata::shared_path("sigma/rules"),
    ) else {
        return;
    };
    let text = std::fs::read_to_string(&thor).expect("readable");
    let reference =
        LogsourceMapping::from_yaml(&text, &thor).expect("thor.yml parses as a sigmac mapping");
    let builtin = builtin();
    let loaded = tocsin_sigma::load_paths(&[rules]);
    let mut compared = 0;
    let mut mapped = 0;
    let mut departed = 0;
    let mut differences = Vec::new();
    for doc in &loaded.documents {
        let Document::Rule(rule) = doc else { continue };
        let ours = normalised(builtin.resolve(&rule.logsource));
        if departs_from_thor(&rule.logsource) {
            departed += 1;
            continue;
        }
        let theirs = normalised(reference.resolve(&rule.logsource));
        compared += 1;
        mapped += usize::from(ours.starts_with("Branch"));
        if ours != theirs {
            differences.push(format!(
                "{}: ours {ours}\n  theirs {theirs}",
                rule.meta.title
            ));
        }
    }
    println!("{compared} rules compared, {mapped} placed on Windows channels, {departed} placed by the spec where thor.yml differs");
    assert!(
        compared > 3000 && mapped > 2000,
        "{compared} rules, {mapped} mapped"
    );
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences[..differences.len().min(10)].join("\n")
    );
}
