//! Tests of the CEF decoder: header and extension escapes, `rt` times, syslog headers before
//! CEF, malformed lines and product names.

use super::*;
use crate::clock::Clock;
use crate::text::testing::{decode_all, render};

const SAMPLE: &str = r"Sep 19 08:26:10 fw-01 CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 suser=j\=doe msg=Detected a threat.\nNo action needed. rt=1726734370000";

fn decode(text: &str) -> Vec<String> {
    decode_all(CefDecoder::new(Clock::year(2024)), text)
        .iter()
        .map(render)
        .collect()
}

fn first_event(text: &str) -> Event {
    let mut items = decode_all(CefDecoder::new(Clock::year(2024)), text);
    items.remove(0).unwrap()
}

#[test]
fn sample_line() {
    assert_eq!(
        decode(SAMPLE),
        ["1: host=fw-01,cef.version=0,cef.device_vendor=Security,cef.device_product=threatmanager,cef.device_version=1.0,cef.signature_id=100,cef.name=worm successfully stopped,cef.severity=10,src=10.0.0.1,dst=2.1.2.2,spt=1232,suser=j=doe,msg=Detected a threat.\nNo action needed.,rt=1726734370000"]
    );
    let event = first_event(SAMPLE);
    assert_eq!(event.timestamp_micros, Some(1_726_734_370_000_000));
    assert_eq!(
        event.logsource.as_deref(),
        Some(&LogSource::new("threatmanager", "cef"))
    );
}

#[test]
fn header_escapes_and_bare_cef() {
    assert_eq!(
        decode(r"CEF:1|Ven\|dor|Big \\ Product|2|sig|na=me|High|"),
        [
            r"1: cef.version=1,cef.device_vendor=Ven|dor,cef.device_product=Big \ Product,cef.device_version=2,cef.signature_id=sig,cef.name=na=me,cef.severity=High"
        ]
    );
    let event = first_event(r"CEF:1|V|Big \\ Product|2|sig|n|High|");
    assert_eq!(
        event.logsource.as_deref(),
        Some(&LogSource::new("big_product", "cef"))
    );
    assert_eq!(event.timestamp_micros, None);
}

#[test]
fn extension_values_with_spaces_equals_and_escapes() {
    let line = r"CEF:0|V|P|1|2|n|3|act=blocked a b  cs1Label=Rule Name cs1=a=b c\\d\|e\r msg= request=http://x/?a=1&b=2 empty= end=x";
    assert_eq!(
        decode(line)[0]
            .split_once(",cef.severity=3,")
            .map(|(_, extension)| extension.to_string()),
        Some(
            "act=blocked a b,cs1Label=Rule Name,cs1=a=b c\\d|e\r,msg=,request=http://x/?a=1&b=2,empty=,end=x"
                .to_string()
        )
    );
}

#[test]
fn rt_formats_and_fallback_to_the_header() {
    let with_rt = |rt: &str| {
        first_event(&format!("Sep 19 08:26:10 h CEF:0|V|P|1|2|n|3|rt={rt}")).timestamp_micros
    };
    let expected = Some(1_726_734_370_000_000);
    assert_eq!(with_rt("1726734370000"), expected);
    assert_eq!(with_rt("Sep 19 2024 08:26:10"), expected);
    assert_eq!(with_rt("Sep 19 2024 08:26:10.000 UTC"), expected);
    assert_eq!(with_rt("Sep 19 2024 10:26:10 +0200"), expected);
    assert_eq!(with_rt("Sep 19 08:26:10"), expected);
    assert_eq!(with_rt("2024-09-19T08:26:10Z"), expected);
    // Not a time: the syslog header's (the same instant here, with the decoder's year).
    assert_eq!(
        first_event("Sep 19 08:26:11 h CEF:0|V|P|1|2|n|3|rt=soon").timestamp_micros,
        Some(1_726_734_371_000_000)
    );
}

#[test]
fn rfc5424_header_before_cef() {
    let event = first_event("<134>1 2024-09-19T08:26:10Z fw-02 CEF:0|V|P|1|2|n|3|src=1");
    assert_eq!(event.text("host").as_deref(), Some("fw-02"));
    assert_eq!(event.timestamp_micros, Some(1_726_734_370_000_000));
    let event = first_event("<134>1 2024-09-19T08:26:10Z fw-02 app - - - CEF:0|V|P|1|2|n|3|");
    assert_eq!(event.text("host").as_deref(), Some("fw-02"));
}

#[test]
fn malformed_lines_are_reported_and_skipped() {
    let text = "\
CEF:0|V|P|1|2|n|3
CEF:0|V|P|1|2|n|3|novalue
CEF:0|V|P|1|2|n|3|bad key=1
no cef here
Sep 99 08:26:10 h CEF:0|V|P|1|2|n|3|
CEF:0|V|P|1|2|n|3|ok=1
";
    assert_eq!(
        decode(text),
        [
            "error: test.log: line 1: cef: the header has 6 of 7 `|`-separated fields, cef.severity missing",
            "error: test.log: line 2: cef: extension `novalue` has no `key=`",
            "error: test.log: line 3: cef: invalid extension key `bad key`",
            "error: test.log: line 4: cef: no `CEF:<version>|` in the line",
            "error: test.log: line 5: cef: before `CEF:`: invalid time `Sep 99 08:26:10`",
            "6: cef.version=0,cef.device_vendor=V,cef.device_product=P,cef.device_version=1,cef.signature_id=2,cef.name=n,cef.severity=3,ok=1",
        ]
    );
}

#[test]
fn finding_cef() {
    assert_eq!(find_cef("CEF:0|a"), Some(0));
    assert_eq!(find_cef("host CEF:0.1|a"), Some(5));
    assert_eq!(find_cef("xCEF:0|a CEF:1|b"), Some(9));
    assert_eq!(find_cef("CEF:x|a"), None);
    assert_eq!(find_cef("CEF:0"), None);
}

#[test]
fn product_names() {
    assert_eq!(product_name("Threat Manager"), "threat_manager");
    assert_eq!(product_name(" A--B "), "a_b");
    assert_eq!(product_name("!!"), "cef");
}
