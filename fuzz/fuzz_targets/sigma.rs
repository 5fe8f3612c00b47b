//! Arbitrary text as a Sigma rule file: parsed, compiled, and the compiled rules evaluated on
//! an event made of the same text. Nothing may panic, whatever the YAML, the wildcards or
//! the regular expressions say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin_engine::{EngineBuilder, Scratch};
use tocsin_event::{Event, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let documents: Vec<_> = tocsin_sigma::parse_documents(text, "fuzz.yml".as_ref())
        .into_iter()
        .flatten()
        .collect();
    let (engine, _) = EngineBuilder::new().build(&documents);
    let mut event = Event::default();
    event.push("CommandLine", "", Value::from(text));
    event.push("Image", "", Value::from(text));
    let mut scratch = Scratch::default();
    let indexed = engine.evaluate(&event, &mut scratch).to_vec();
    assert_eq!(indexed, engine.evaluate_reference(&event), "the evaluators disagree");
});
