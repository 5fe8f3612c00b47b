//! Renders session activity in the vendor's two channels: outbound events as the
//! form-urlencoded POST bodies the appliance sends (one per line, as a recipient captures
//! them), and session reports as the reporting API's `SupportSession` XML.

use std::fmt::Write;

use chrono::DateTime;

use crate::records::{OutboundEvent, SessionReport};

/// The outbound events' schema version the demo writes.
const OUTBOUND_VERSION: &str = "3";

/// Every outbound event, one POST body per line, in time order.
pub(crate) fn render_outbound(appliance_id: &str, events: &[OutboundEvent]) -> String {
    let mut out = String::with_capacity(events.len() * 160);
    for event in events {
        let mut fields = event.fields.iter();
        let Some((_, name)) = fields.next() else {
            continue;
        };
        out.push_str("event=");
        url_encode_into(name, &mut out);
        let _ = write!(
            out,
            "&version={OUTBOUND_VERSION}&timestamp={}&appliance_id=",
            event.time
        );
        url_encode_into(appliance_id, &mut out);
        for (key, value) in fields {
            out.push('&');
            out.push_str(key);
            out.push('=');
            url_encode_into(value, &mut out);
        }
        out.push('\n');
    }
    out
}

/// `application/x-www-form-urlencoded`: letters, digits and `-._~` as they are, a space as
/// `+`, every other byte as `%XX`.
pub(crate) fn url_encode_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

/// The session reports as one `<session_list>` document, sessions by start time.
pub(crate) fn render_reports(reports: &[SessionReport]) -> String {
    let mut out = String::with_capacity(reports.len() * 1_500);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(
        "<session_list xmlns=\"http://www.beyondtrust.com/sra/namespaces/API/reporting\">\n",
    );
    for report in reports {
        render_report(report, &mut out);
    }
    out.push_str("</session_list>\n");
    out
}

fn render_report(report: &SessionReport, out: &mut String) {
    let rep = &report.rep;
    let transfers = report
        .events
        .iter()
        .filter(|e| e.event_type.starts_with("File "))
        .count();
    let _ = writeln!(out, "<session lsid=\"{}\">", report.lsid);
    let _ = writeln!(out, "  <session_type>support</session_type>");
    let _ = writeln!(
        out,
        "  <start_time timestamp=\"{}\">{}</start_time>",
        report.start,
        rfc3339(report.start)
    );
    let _ = writeln!(
        out,
        "  <end_time timestamp=\"{}\">{}</end_time>",
        report.end,
        rfc3339(report.end)
    );
    let _ = writeln!(
        out,
        "  <external_key>{}</external_key>",
        xml(&report.external_key)
    );
    let _ = writeln!(
        out,
        "  <file_transfer_count>{transfers}</file_transfer_count>"
    );
    let _ = writeln!(
        out,
        "  <primary_customer gsnumber=\"2\">{}</primary_customer>",
        xml(&report.hostname)
    );
    let _ = writeln!(
        out,
        "  <jump_group type=\"shared\" id=\"1\">{}</jump_group>",
        xml(&report.jump_group)
    );
    let _ = writeln!(
        out,
        "  <primary_rep gsnumber=\"1\" id=\"{}\">{}</primary_rep>",
        xml(&rep.id),
        xml(&rep.display_name)
    );
    let _ = writeln!(
        out,
        "  <customer_list><customer gsnumber=\"2\"><username>{}</username><private_ip>{}</private_ip><hostname>{}</hostname><os>Windows 11 Enterprise x64</os></customer></customer_list>",
        xml(&report.customer_user),
        report.private_ip,
        xml(&report.hostname)
    );
    let _ = writeln!(
        out,
        "  <rep_list><representative gsnumber=\"1\" id=\"{}\"><username>{}</username><display_name>{}</display_name><public_ip>{}</public_ip><session_owner>1</session_owner><seconds_involved>{}</seconds_involved></representative></rep_list>",
        xml(&rep.id),
        xml(&rep.username),
        xml(&rep.display_name),
        rep.public_ip,
        report.end - report.start
    );
    out.push_str("  <session_details>\n");
    for event in &report.events {
        let _ = write!(
            out,
            "    <event timestamp=\"{}\" event_type=\"{}\">",
            event.time,
            xml(event.event_type)
        );
        if event.by_rep {
            let _ = write!(
                out,
                "<performed_by type=\"representative\" gsnumber=\"1\">{}</performed_by>",
                xml(&rep.display_name)
            );
        } else {
            out.push_str("<performed_by type=\"system\" gsnumber=\"0\">System</performed_by>");
        }
        if let Some(file) = &event.filename {
            let _ = write!(out, "<filename>{}</filename>", xml(file));
        }
        if !event.data.is_empty() {
            out.push_str("<data>");
            for (name, value) in &event.data {
                let _ = write!(out, "<value name=\"{name}\" value=\"{}\" />", xml(value));
            }
            out.push_str("</data>");
        }
        out.push_str("</event>\n");
    }
    out.push_str("  </session_details>\n</session>\n");
}

/// Text escaped for XML content and attributes.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// `2024-12-03T15:26:05+00:00`.
fn rfc3339(time: i64) -> String {
    DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}
