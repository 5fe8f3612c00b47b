//! The indexed evaluator must find exactly what the plain reference evaluator finds: every
//! SigmaHQ rule, every record of the EVTX corpus, the same (rule, file, record) set. So must
//! the same engine stored and read back (as the compiled-rule cache does).

use std::collections::BTreeSet;

use tocsin_decode::DecodeOptions;
use tocsin_engine::{EngineBuilder, Scratch};

#[test]
fn indexed_and_reference_evaluators_agree_on_the_whole_corpus() {
    let (Some(evtx), Some(rules)) = (
        tocsin_testdata::shared_path("evtx"),
        tocsin_testdata::shared_path("sigma/rules"),
    ) else {
        return;
    };
    let loaded = tocsin_sigma::load_paths(&[rules]);
    let (engine, _) = EngineBuilder::new().build(&loaded.documents);
    let stored = postcard::to_stdvec(&engine).expect("encodes");
    let read_back: tocsin_engine::Engine = postcard::from_bytes(&stored).expect("decodes");
    assert_eq!(read_back.len(), engine.len());
    assert_eq!(engine.validate(), Ok(()));
    assert_eq!(read_back.validate(), Ok(()));
    let options = DecodeOptions::default();
    let (files, errors) = tocsin_decode::discover(&[evtx], &options);
    assert!(errors.is_empty(), "{errors:?}");
    let mut scratch = Scratch::default();
    let mut indexed = BTreeSet::new();
    let mut reference = BTreeSet::new();
    let mut from_store = BTreeSet::new();
    let mut events = 0;
    for file in &files {
        for event in tocsin_decode::open(file, &options).expect("opens") {
            let event = event.expect("decodes");
            events += 1;
            let at = |rule| (rule, file.clone(), event.origin.record);
            indexed.extend(engine.evaluate(&event, &mut scratch).iter().map(|&r| at(r)));
            reference.extend(engine.evaluate_reference(&event).into_iter().map(at));
            from_store.extend(
                read_back
                    .evaluate(&event, &mut scratch)
                    .iter()
                    .map(|&r| at(r)),
            );
        }
    }
    println!("{events} events, {} detections", indexed.len());
    assert!(
        events > 20_000 && indexed.len() > 1_000,
        "{events} events, {} detections",
        indexed.len()
    );
    let missing: Vec<_> = reference.difference(&indexed).take(10).collect();
    let extra: Vec<_> = indexed.difference(&reference).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missed by the index: {missing:?}\nonly in the index: {extra:?}"
    );
    assert!(
        from_store == indexed,
        "the engine read back finds {} detections, the one compiled {}",
        from_store.len(),
        indexed.len()
    );
}
