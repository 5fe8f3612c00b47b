//! Arbitrary text as the two YAML files a hunt's engine reads besides rules: a logsource
//! mapping (`--mapping`) and a placeholder file (`--placeholders`). What parses places and
//! compiles a rule that uses both. Nothing may panic or overflow the stack, however the YAML
//! nests (`- - - …` a hundred thousand levels deep must be refused, not walked).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin_engine::{parse_placeholders, EngineBuilder, LogsourceMapping};
use tocsin_sigma::ast::LogSource;

/// A rule placed by the mapping (category and service) that expands a placeholder.
const RULE: &str = "title: Fuzz\nlogsource: {category: process_creation, product: windows, service: security}\ndetection:\n  sel: {Image|expand: '%Admins%'}\n  condition: sel\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = "fuzz.yml".as_ref();
    let mut builder = EngineBuilder::new();
    if let Ok(mapping) = LogsourceMapping::from_yaml(text, path) {
        for (category, service) in [(Some("process_creation"), None), (None, Some("security"))] {
            let _ = mapping.resolve(&LogSource {
                category: category.map(str::to_owned),
                product: Some("windows".to_owned()),
                service: service.map(str::to_owned),
                ..LogSource::default()
            });
        }
        builder = builder.mapping(mapping);
    }
    if let Ok(placeholders) = parse_placeholders(text, path) {
        builder = builder.placeholders(placeholders);
    }
    let documents: Vec<_> = tocsin_sigma::parse_documents(RULE, "rule.yml".as_ref())
        .into_iter()
        .flatten()
        .collect();
    let _ = builder.build(&documents);
});
