//! The built-in logsource mapping must place every SigmaHQ rule exactly where the mapping
//! SigmaHQ's own regression CI uses (`sigma/mappings/thor.yml`) places it.

use tocsin_engine::mapping::{LogsourceMapping, Resolution, BUILTIN_WINDOWS_MAPPING};
use tocsin_sigma::ast::Document;

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
    let builtin = LogsourceMapping::from_yaml(BUILTIN_WINDOWS_MAPPING, "windows.yml".as_ref())
        .expect("built-in parses");
    let loaded = tocsin_sigma::load_paths(&[rules]);
    let mut compared = 0;
    let mut mapped = 0;
    let mut differences = Vec::new();
    for doc in &loaded.documents {
        let Document::Rule(rule) = doc else { continue };
        let ours = normalised(builtin.resolve(&rule.logsource));
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
    println!("{compared} rules compared, {mapped} placed on Windows channels");
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
