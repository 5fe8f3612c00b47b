//! Tests of the appliance syslog decoder: segmented messages (in order, interleaved, missing,
//! duplicated, bounded), escapes, times and malformed lines.

use super::*;
use crate::clock::Clock;
use crate::text::testing::{decode_all, render};

const SAMPLE: &str = "Feb  5 12:54:46 example_host BG[98765]:1234:01:01:event=login;site=support.example.com;status=success;target=web/login;when=1738778086;who=John Smith(jsmith) using password;who_ip=192.168.1.1";

fn decode_with(max_pending: usize, text: &str) -> Vec<String> {
    decode_all(ApplianceDecoder::new(Clock::year(2025), max_pending), text)
        .iter()
        .map(render)
        .collect()
}

fn decode(text: &str) -> Vec<String> {
    decode_with(100, text)
}

/// A segment line of site `id` from `host` (pid 98765).
fn segment(host: &str, id: u32, number: u32, total: u32, body: &str) -> String {
    format!("Feb  5 12:54:46 {host} BG[98765]:{id}:{number:02}:{total:02}:{body}")
}

#[test]
fn sample_line() {
    assert_eq!(
        decode(SAMPLE),
        ["1: host=example_host,program=BG,pid=98765,site_id=1234,event=login,site=support.example.com,status=success,target=web/login,when=1738778086,who=John Smith(jsmith) using password,who_ip=192.168.1.1,who_name=John Smith,who_user=jsmith,auth_method=password"]
    );
    let items = decode_all(ApplianceDecoder::new(Clock::year(2025), 10), SAMPLE);
    let event = items[0].as_ref().unwrap();
    assert_eq!(event.timestamp_micros, Some(1_738_778_086_000_000));
    assert_eq!(
        event.logsource.as_deref(),
        Some(&LogSource::new("remote_support", "appliance"))
    );
}

#[test]
fn time_from_the_header_without_when() {
    let line = segment("h", 1, 1, 1, "event=logout;when=soon");
    let items = decode_all(ApplianceDecoder::new(Clock::year(2025), 10), &line);
    assert_eq!(
        items[0].as_ref().unwrap().timestamp_micros,
        Some(1_738_760_086_000_000)
    );
}

#[test]
fn escapes_in_keys_and_values() {
    let line = segment(
        "h",
        7,
        1,
        1,
        r"event=user_changed;note=a\=b\;c\\d\x;we\;ird\=key=v;;",
    );
    assert_eq!(
        decode(&line),
        [
            r"1: host=h,program=BG,pid=98765,site_id=7,event=user_changed,note=a=b;c\d\x,we;ird=key=v"
        ]
    );
}

#[test]
fn who_variants() {
    assert_eq!(
        split_who("John Smith(jsmith) using password"),
        (Some("John Smith"), Some("jsmith"), Some("password"))
    );
    assert_eq!(
        split_who("Ann (O) Lee (alee) using saml using sso"),
        (Some("Ann (O) Lee"), Some("alee"), Some("saml using sso"))
    );
    assert_eq!(split_who("jsmith"), (Some("jsmith"), Some("jsmith"), None));
    assert_eq!(split_who("unknown"), (Some("unknown"), None, None));
    assert_eq!(split_who("John Smith"), (Some("John Smith"), None, None));
    assert_eq!(
        split_who("svc using token"),
        (Some("svc"), Some("svc"), Some("token"))
    );
    assert_eq!(split_who("API (k-1)"), (Some("API"), Some("k-1"), None));
    assert_eq!(split_who(""), (None, None, None));
}

#[test]
fn segments_in_order_are_joined() {
    let text = [
        segment("h", 9, 1, 3, "event=support_session_start;sess"),
        segment("h", 9, 2, 3, "ion_id=abc;who=A B(ab) using pass"),
        segment("h", 9, 3, 3, "word;when=1738778086"),
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        ["1: host=h,program=BG,pid=98765,site_id=9,event=support_session_start,session_id=abc,who=A B(ab) using password,when=1738778086,who_name=A B,who_user=ab,auth_method=password"]
    );
}

#[test]
fn the_vendors_documented_header_forms() {
    // Issue 15: the documented example has no pid and a space after a `;`; current
    // appliances write `BG[pid]:` with a space; the RFC 5424 output names BG as its app.
    let text = [
        "Oct 12 14:58:35 example_host BG: 1234:01:01:site=support.example.com;who=John Smith(jsmith);who_ip=192.168.1.1; event=login;target=web/login;status=success",
        "Dec 10 07:04:11 tenant BG[12482]: 1427:01:01:site=t.example.com;when=1733812459;who=API User (09415e9d78c1);who_ip=192.0.2.4;event=login;target=web/api;status=success",
        r#"<133>1 2025-09-10T12:08:07+08:00 rs-01 BG 16703 - [meta sequenceId="46"] 1427:01:01:event=logout;site=t.example.com;target=rep_client;when=1757477287;who=unknown;who_ip=192.0.2.5"#,
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        [
            "1: host=example_host,program=BG,site_id=1234,site=support.example.com,who=John Smith(jsmith),who_ip=192.168.1.1,event=login,target=web/login,status=success,who_name=John Smith,who_user=jsmith",
            "2: host=tenant,program=BG,pid=12482,site_id=1427,site=t.example.com,when=1733812459,who=API User (09415e9d78c1),who_ip=192.0.2.4,event=login,target=web/api,status=success,who_name=API User,who_user=09415e9d78c1",
            "3: host=rs-01,program=BG,pid=16703,site_id=1427,sd.meta.sequenceId=46,event=logout,site=t.example.com,target=rep_client,when=1757477287,who=unknown,who_ip=192.0.2.5,who_name=unknown",
        ]
    );
    let items = decode_all(ApplianceDecoder::new(Clock::year(2025), 10), &text);
    let times: Vec<_> = items
        .iter()
        .map(|item| item.as_ref().map(|e| e.timestamp_micros).ok().flatten())
        .collect();
    // The header's time for want of `when=`; else `when=`, not the header's local time.
    assert_eq!(
        times,
        [
            Some(1_760_281_115_000_000),
            Some(1_733_812_459_000_000),
            Some(1_757_477_287_000_000)
        ]
    );
}

#[test]
fn segments_cut_inside_a_key_are_joined_by_site_and_order() {
    // The vendor's own two-segment example, cut inside `old_permissions:support`.
    let text = [
        "Oct 12 14:53:24 example_host BG: 1234:01:02:site=support.example.com;event=user_changed;old_username=jsmith;old_permissions:suppor",
        "Oct 12 14:53:24 example_host BG: 1234:02:02:t=1;old_permissions:support:canned_messages=1;new_display_name=John D. Smith",
        "Oct 12 14:53:25 example_host BG: 1234:01:01:event=logout;who=jsmith",
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        [
            "1: host=example_host,program=BG,site_id=1234,site=support.example.com,event=user_changed,old_username=jsmith,old_permissions:support=1,old_permissions:support:canned_messages=1,new_display_name=John D. Smith",
            "3: host=example_host,program=BG,site_id=1234,event=logout,who=jsmith,who_name=jsmith,who_user=jsmith",
        ]
    );
}

#[test]
fn segments_of_other_processes_and_sites_interleave() {
    let text = [
        segment("h", 1, 1, 2, "a=1;"),
        segment("h", 2, 1, 2, "c=3;"),
        segment("other", 1, 1, 2, "x=1;"),
        SAMPLE.to_string(),
        segment("h", 1, 2, 2, "b=2"),
        segment("other", 1, 2, 2, "y=2"),
        segment("h", 2, 2, 2, "d=4"),
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        [
            // Events come out as their messages complete, numbered by their first line.
            "4: host=example_host,program=BG,pid=98765,site_id=1234,event=login,site=support.example.com,status=success,target=web/login,when=1738778086,who=John Smith(jsmith) using password,who_ip=192.168.1.1,who_name=John Smith,who_user=jsmith,auth_method=password",
            "1: host=h,program=BG,pid=98765,site_id=1,a=1,b=2",
            "3: host=other,program=BG,pid=98765,site_id=1,x=1,y=2",
            "2: host=h,program=BG,pid=98765,site_id=2,c=3,d=4",
        ]
    );
}

#[test]
fn a_lost_first_segment_never_pieces_two_messages_together() {
    // Review of issue 15's decoder: accepting segments in any order pinned one message's
    // failed login on the next message's user.
    let text = [
        segment("h", 7, 2, 2, "who=Mallory(m)"),
        segment("h", 7, 1, 2, "event=login;status=failure;"),
        segment("h", 7, 2, 2, "who=Alice(a)"),
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        [
            "error: test.log: line 1: appliance: segment 2 of 2 from h[98765] site 7 without the segments before it (lost); line skipped",
            "2: host=h,program=BG,pid=98765,site_id=7,event=login,status=failure,who=Alice(a),who_name=Alice,who_user=a",
        ]
    );
}

#[test]
fn missing_segment_is_reported_by_its_first_line() {
    let text = [
        segment("h", 5, 1, 3, "a=1;"),
        segment("h", 6, 1, 1, "event=logout"),
        segment("h", 5, 3, 3, "c=3"),
        segment("h", 8, 1, 4, "a=1;"),
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        [
            "2: host=h,program=BG,pid=98765,site_id=6,event=logout",
            "error: test.log: line 1: appliance: incomplete message from h[98765] site 5: 1 of 3 segments arrived, missing 2 to 3; line 3 does not continue it",
            "error: test.log: line 3: appliance: segment 3 of 3 from h[98765] site 5 without the segments before it (lost); line skipped",
            "error: test.log: line 4: appliance: incomplete message from h[98765] site 8: 1 of 4 segments arrived, missing 2 to 4; the input ended first",
        ]
    );
}

#[test]
fn a_segment_out_of_turn_ends_the_waiting_message() {
    // The site ID is not a message id: a segment out of turn means the waiting message
    // lost its other segments.
    let text = [
        segment("h", 5, 1, 2, "a=1;"),
        segment("h", 5, 1, 2, "a=9;"),
        segment("h", 5, 3, 2, "z=1"),
        segment("h", 5, 2, 3, "z=1"),
        segment("h", 5, 0, 2, "z=1"),
        segment("h", 5, 1, 2, "a=2;"),
        segment("h", 5, 2, 2, "b=2"),
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        [
            "error: test.log: line 1: appliance: incomplete message from h[98765] site 5: 1 of 2 segments arrived, missing 2; line 2 does not continue it",
            "error: test.log: line 3: appliance: segment 3 of 2 is out of range (1 to the total, at most 9999)",
            "error: test.log: line 2: appliance: incomplete message from h[98765] site 5: 1 of 2 segments arrived, missing 2; line 4 does not continue it",
            "error: test.log: line 4: appliance: segment 2 of 3 from h[98765] site 5 without the segments before it (lost); line skipped",
            "error: test.log: line 5: appliance: segment 0 of 2 is out of range (1 to the total, at most 9999)",
            "6: host=h,program=BG,pid=98765,site_id=5,a=2,b=2",
        ]
    );
}

#[test]
fn pending_messages_are_bounded_and_the_oldest_evicted() {
    let text = [
        segment("h", 1, 1, 2, "a=1;"),
        segment("h", 2, 1, 2, "b=1;"),
        segment("h", 3, 1, 2, "c=1;"),
        segment("h", 2, 2, 2, "b=2"),
        segment("h", 1, 2, 2, "a=2"),
    ]
    .join("\n");
    assert_eq!(
        decode_with(2, &text),
        [
            "error: test.log: line 1: appliance: incomplete message from h[98765] site 1: 1 of 2 segments arrived, missing 2; dropped: more than 2 segmented messages waiting for segments",
            "2: host=h,program=BG,pid=98765,site_id=2,b=1,b=2",
            // Site 1's message was dropped: its second segment has nothing to continue.
            "error: test.log: line 5: appliance: segment 2 of 2 from h[98765] site 1 without the segments before it (lost); line skipped",
            "error: test.log: line 3: appliance: incomplete message from h[98765] site 3: 1 of 2 segments arrived, missing 2; the input ended first",
        ]
    );
}

#[test]
fn malformed_lines_are_reported_and_skipped() {
    let text = [
        "Feb  5 12:54:46 h BG: no segment header".to_string(),
        "Feb  5 12:54:46 h BG[x]:1:01:01:a=1".to_string(),
        "Feb  5 12:54:46 h BG[1]:1:01:a=1".to_string(),
        "Feb  5 12:54:46 h BG[1]:1:01:01".to_string(),
        "Feb  5 12:54:46 h BG[1]:99999999999999999999:01:01:a=1".to_string(),
        segment("h", 1, 1, 1, "event=login;broken;x=1"),
        segment("h", 1, 1, 1, "=v"),
        "garbage".to_string(),
        SAMPLE.to_string(),
    ]
    .join("\n");
    let decoded = decode(&text);
    assert_eq!(
        decoded[..8],
        [
            "error: test.log: line 1: appliance: expected the site id as digits, found `no segment header`",
            "error: test.log: line 2: appliance: expected a numeric pid in `BG[pid]`",
            "error: test.log: line 3: appliance: expected the segment total as digits, found `a=1`",
            "error: test.log: line 4: appliance: expected `:` before the message body",
            "error: test.log: line 5: appliance: site id `99999999999999999999` is too large",
            "error: test.log: line 6: appliance: field `broken` has no `=`",
            "error: test.log: line 7: appliance: field `=v` has an empty name",
            "error: test.log: line 8: appliance: expected a time `MMM dd HH:MM:SS`, found `garbage`",
        ]
    );
    assert!(
        decoded[8].starts_with("9: host=example_host"),
        "{}",
        decoded[8]
    );
    assert_eq!(decoded.len(), 9);
}

#[test]
fn a_bad_body_of_a_segmented_message_names_its_first_line() {
    let text = [
        segment("h", 4, 1, 2, "ok=1;bro"),
        segment("h", 4, 2, 2, "ken"),
    ]
    .join("\n");
    assert_eq!(
        decode(&text),
        ["error: test.log: line 1: appliance: field `broken` has no `=`"]
    );
}

#[test]
fn a_lines_segment_is_read_from_each_header_form() {
    let first = "Nov 15 11:29:41 rs-appliance-01 BG[26992]: 4135:01:02:event=user_added;a=b";
    assert_eq!(segment_of(first), Some((1, 2)));
    let whole = "Nov 15 11:29:41 rs-appliance-01 BG: 4135:01:01:event=login;a=b";
    assert_eq!(segment_of(whole), Some((1, 1)));
    let rfc5424 = "<110>1 2024-12-02T10:00:00Z appliance BG 4242 - - 4135:2:3:x=y";
    assert_eq!(segment_of(rfc5424), Some((2, 3)));
    assert_eq!(segment_of("Nov 15 11:29:41 host sshd[1]: hello"), None);
    assert_eq!(segment_of(""), None);
}

#[test]
fn only_a_message_the_input_ended_in_is_unfinished() {
    let text = [
        segment("h", 5, 1, 2, "a=1;"),
        segment("h", 6, 1, 1, "event=logout"),
        segment("h", 5, 1, 2, "event=login;"),
        segment("h", 5, 2, 2, "when=1738778086"),
        segment("h", 7, 1, 2, "a=1;"),
    ]
    .join("\n");
    let unfinished: Vec<(Option<u64>, Option<u64>)> =
        decode_all(ApplianceDecoder::new(Clock::year(2025), 10), &text)
            .iter()
            .filter_map(|item| item.as_ref().err())
            .map(|error| (error.line(), error.unfinished_line()))
            .collect();
    // Site 5's first message is cut by a line that does not continue it; site 7's by the
    // end of the input.
    assert_eq!(unfinished, [(Some(1), None), (Some(5), Some(5))]);
}
