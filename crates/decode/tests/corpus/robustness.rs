//! Deterministic fuzzing: thousands of mutated and truncated copies of real inputs go through
//! each decoder, which must never panic (the EVTX decoder turns a parser panic into an error
//! saying so, which counts as a failure here too).
//!
//! The `fuzz/` folder has the same targets for cargo-fuzz; this runs on stable, in CI.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tocsin_decode::{from_bytes, DecodeOptions, Format};

use crate::files_with_extension;

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `input`: truncated, bytes flipped, a run overwritten, bytes inserted or
/// removed, or a piece duplicated.
fn mutate(input: &[u8], rng: &mut Rng, interesting: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = bytes.len();
        let at = rng.below(len);
        match rng.below(6) {
            0 => bytes.truncate(at),
            1 => bytes[at.min(len.saturating_sub(1))..]
                .iter_mut()
                .take(1)
                .for_each(|b| *b ^= 1 << rng.below(8)),
            2 => {
                let run = 1 + rng.below(64);
                for byte in bytes.iter_mut().skip(at).take(run) {
                    *byte = rng.next() as u8;
                }
            }
            3 => bytes.insert(at.min(len), interesting[rng.below(interesting.len())]),
            4 if len > 0 => {
                bytes.remove(at);
            }
            _ => {
                let end = (at + rng.below(256)).min(len);
                let piece = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, piece);
            }
        }
    }
    bytes
}

/// Decodes every mutation of every input, returning the ones that panicked.
fn run(
    inputs: &[Vec<u8>],
    rounds: usize,
    seed: u64,
    options: &DecodeOptions,
    interesting: &[u8],
) -> (usize, Vec<String>) {
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut events = 0;
    for round in 0..rounds {
        let input = &inputs[round % inputs.len()];
        let mutated = mutate(input, &mut rng, interesting);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut count = 0;
            let mut panicked = None;
            if let Ok(source) = from_bytes("fuzz", mutated.clone(), options) {
                for item in source {
                    match item {
                        Ok(_) => count += 1,
                        Err(error) if error.to_string().contains("panicked") => {
                            panicked = Some(error.to_string())
                        }
                        Err(_) => {}
                    }
                }
            }
            (count, panicked)
        }));
        match outcome {
            Ok((count, None)) => events += count,
            Ok((_, Some(message))) => failures.push(format!("round {round}: {message}")),
            Err(_) => failures.push(format!(
                "round {round}: panic (input {} bytes)",
                mutated.len()
            )),
        }
    }
    (events, failures)
}

#[test]
fn json_decoder_survives_mutated_inputs() {
    let mut inputs = vec![
        b"{\"a\": 1, \"b\": [true, null, 2.5], \"c\": {\"d\": \"e\\u00e9\"}}\n{\"@timestamp\": \"2024-01-01T00:00:00Z\"}\n".to_vec(),
        b"[\n  {\"process\": {\"command_line\": \"cmd /c whoami\"}},\n  {\"time\": 1700000000}\n]\n".to_vec(),
        b"{\n  \"x\": 1\n}\n{\n  \"y\": [1, {\"z\": []}]\n}\n".to_vec(),
    ];
    if let Some(root) = tocsin_testdata::shared_path("sigma/regression") {
        inputs.extend(
            files_with_extension(&root, "json")
                .iter()
                .take(8)
                .map(|p| std::fs::read(p).unwrap()),
        );
    }
    let options = DecodeOptions {
        format: Some(Format::Json),
        ..DecodeOptions::default()
    };
    let (events, failures) = run(
        &inputs,
        6000,
        0x5eed_1234_abcd_0001,
        &options,
        b"{}[],:\"\\ \n0-eE.tfn\xff\x00",
    );
    println!("{events} events decoded from 6000 mutated JSON inputs");
    assert!(failures.is_empty(), "{failures:#?}");
    // The mutations leave many inputs intact enough to decode.
    assert!(events > 1000, "{events}");
}

#[test]
fn evtx_decoder_survives_mutated_inputs() {
    let Some(root) = tocsin_testdata::shared_path("evtx") else {
        return;
    };
    // Small samples keep this quick in a debug build.
    let inputs: Vec<_> = files_with_extension(&root, "evtx")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| b.len() <= 4096 + 65536)
        .take(4)
        .collect();
    assert!(!inputs.is_empty());
    let options = DecodeOptions {
        evtx_threads: 1,
        format: Some(Format::Evtx),
        ..DecodeOptions::default()
    };
    let (events, failures) = run(
        &inputs,
        1500,
        0x5eed_1234_abcd_0002,
        &options,
        b"\x00\x01\x0c\x0e\x0f\x41\xff*",
    );
    println!("{events} events decoded from 1500 mutated EVTX inputs");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(events > 1000, "{events}");
}

/// A sample of each text format, with escapes, segments (interleaved) and a bad line.
const TEXT_SAMPLES: [(Format, &str); 6] = [
    (
        Format::Appliance,
        "Feb  5 12:54:46 example_host BG[98765]:1234:01:01:event=login;site=support.example.com;status=success;target=web/login;when=1738778086;who=John Smith(jsmith) using password;who_ip=192.168.1.1\n\
         Feb  5 12:54:47 example_host BG[98765]:1235:01:02:event=session_command_shell;comm\n\
         Feb  5 12:54:47 example_host BG[98765]:1236:01:01:event=logout;note=a\\=b\\;c\\\\\n\
         Feb  5 12:54:47 example_host BG[98765]:1235:02:02:and=whoami /all;when=1738778087\n",
    ),
    (
        Format::Syslog,
        "<38>Feb  5 12:54:46 web-01 sshd[4123]: Failed password for root from 203.0.113.9\n\
         <165>1 2024-12-02T03:14:07.003Z web-01 sudo 812 ID47 [ex@32473 iut=\"3\" src=\"a\\\"b\\]\"][m x=\"\"] \u{feff}jdoe : COMMAND=/bin/sh\n\
         Dec  2 03:14:07 host kernel: eth0 up\n",
    ),
    (
        Format::Cef,
        "Sep 19 08:26:10 fw-01 CEF:0|Security|threat\\|manager|1.0|100|worm stopped|10|src=10.0.0.1 dst=2.1.2.2 suser=j\\=doe msg=a b\\nc rt=1726734370000\n\
         CEF:1|V|P|1|2|n|High|cs1Label=Rule cs1=x=y rt=Sep 19 2024 08:26:10 UTC\n\
         <134>1 2024-09-19T08:26:10Z fw-02 CEF:0|V|P|1|2|n|3|\n",
    ),
    (
        Format::ApiAudit,
        "{\"time\":\"2024-12-02T03:14:07Z\",\"site\":\"support.example.com\",\"api_key_id\":\"k-7f3a29\",\"action\":\"user.password_reset\",\"result\":\"success\"}\n\
         {\"time\":\"2024-12-02T03:14:08Z\",\"api_key_id\":\"k-7f3a29\",\"action\":\"auth.token\"}\n",
    ),
    (
        Format::Outbound,
        "event=support_conference_begin&version=3&timestamp=1733239565&lsid=e9e99aeb9ad54fb381634498502c5a1b\n\
         event=support_conference_member_added&version=3&timestamp=1733239566&lsid=e9e99aeb9ad54fb381634498502c5a1b&type=representative&username=ann%20lee\n",
    ),
    (
        Format::SessionReport,
        "<?xml version=\"1.0\"?>\n<session_list xmlns=\"x\"><session lsid=\"e9e9\"><session_type>support</session_type>\n\
         <rep_list><representative gsnumber=\"21\" id=\"1\"><username>admin</username></representative></rep_list>\n\
         <session_details><event timestamp=\"1733239600\" event_type=\"Command Shell Session Started\">\n\
         <performed_by type=\"representative\" gsnumber=\"21\">A &amp; B</performed_by><data><value name=\"instance\" value=\"1\"/></data></event>\n\
         <event timestamp=\"1733239700\" event_type=\"File Download\"><filename><![CDATA[C:\\x.txt]]></filename></event></session_details></session></session_list>\n",
    ),
];

/// Decodes `input` as `format` (or sniffed, when `None`), returning the events decoded, or
/// a description of what went wrong: a panic, or an error without a line number (or with
/// one past the end of the input).
fn decode_text(input: &[u8], format: Option<Format>) -> Result<usize, String> {
    let options = DecodeOptions {
        format,
        syslog_year: Some(2025),
        appliance_max_pending: 2,
        ..DecodeOptions::default()
    };
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut events = 0;
        let Ok(source) = from_bytes("fuzz", input.to_vec(), &options) else {
            return Ok(0);
        };
        for item in source {
            match item {
                Ok(_) => events += 1,
                Err(error) => match error.line() {
                    Some(line) if (1..=lines).contains(&line) => {}
                    _ => return Err(format!("error without a valid line: {error}")),
                },
            }
        }
        Ok(events)
    }));
    outcome.unwrap_or_else(|_| Err(format!("panic on {:?}", String::from_utf8_lossy(input))))
}

#[test]
fn text_decoders_survive_mutated_inputs() {
    let mut rng = Rng(0x5eed_1234_abcd_0003);
    let mut failures = Vec::new();
    let mut events = 0;
    for round in 0..8000 {
        let (format, sample) = TEXT_SAMPLES[round % TEXT_SAMPLES.len()];
        let mutated = mutate(
            sample.as_bytes(),
            &mut rng,
            b"|=;:\\[]\"<> \n0CEFBG\xff\xc3",
        );
        // Forced, and sniffed.
        let format = (round % 3 != 0).then_some(format);
        match decode_text(&mutated, format) {
            Ok(count) => events += count,
            Err(message) => failures.push(format!("round {round}: {message}")),
        }
    }
    println!("{events} events decoded from 8000 mutated text inputs");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(events > 4000, "{events}");
}

#[test]
fn every_truncation_of_every_sample_line_is_an_event_or_a_located_error() {
    for (format, sample) in TEXT_SAMPLES {
        for line in sample.lines() {
            let mut cuts: Vec<usize> = (0..=line.len())
                .filter(|&i| line.is_char_boundary(i))
                .collect();
            cuts.dedup();
            for cut in cuts {
                let piece = &line[..cut];
                if let Err(message) = decode_text(piece.as_bytes(), Some(format)) {
                    panic!("{format} cut at {cut}: {message}");
                }
            }
        }
    }
}
