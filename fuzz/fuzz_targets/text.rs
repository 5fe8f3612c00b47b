//! Arbitrary bytes through the text decoders (appliance syslog with segments, RFC 3164 and
//! RFC 5424 syslog, CEF, the API audit log, and sniffing): no panic, and every error names
//! a line of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin_decode::{from_bytes, DecodeOptions, Format};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format (or sniffing); the rest is the input.
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let format = Format::ALL
        .into_iter()
        .filter(|f| *f != Format::Evtx)
        .nth(usize::from(selector % 6));
    let options = DecodeOptions {
        format,
        syslog_year: Some(2024),
        appliance_max_pending: 4,
        ..DecodeOptions::default()
    };
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    if let Ok(source) = from_bytes("fuzz", input.to_vec(), &options) {
        for item in source {
            match item {
                // JSON numbers records by object, several may share a line.
                Ok(event) => assert!(event.origin.record >= 1),
                Err(error) => {
                    let line = error.line().expect("text errors name a line");
                    assert!((1..=lines).contains(&line), "{error}");
                }
            }
        }
    }
});
