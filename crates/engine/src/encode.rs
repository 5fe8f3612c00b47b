//! Transformation modifiers: the ones that turn one rule value into other values before
//! matching (`windash`, `utf16*`/`wide`, `base64`, `base64offset`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::text::Part;

/// The characters `windash` treats as interchangeable (spec: `-`, `/`, en dash, em dash,
/// horizontal bar).
pub(crate) const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Above this many variants `windash` would blow up; such a value is rejected at load.
pub(crate) const MAX_WINDASH_VARIANTS: usize = 4096;

/// Every variant of `parts` with each dash-like character replaced by each of [`DASHES`].
/// Returns `None` if there would be more than [`MAX_WINDASH_VARIANTS`].
pub(crate) fn windash(parts: &[Part]) -> Option<Vec<Vec<Part>>> {
    let mut variants: Vec<Vec<Part>> = vec![Vec::new()];
    for part in parts {
        let Part::Lit(text) = part else {
            variants.iter_mut().for_each(|v| v.push(part.clone()));
            continue;
        };
        for piece in split_keep_dashes(text) {
            if piece.chars().count() == 1 && DASHES.contains(&piece.chars().next()?) {
                if variants.len() * DASHES.len() > MAX_WINDASH_VARIANTS {
                    return None;
                }
                variants = variants
                    .into_iter()
                    .flat_map(|v| {
                        DASHES.iter().map(move |dash| {
                            let mut v = v.clone();
                            v.push(Part::Lit(dash.to_string()));
                            v
                        })
                    })
                    .collect();
            } else {
                variants
                    .iter_mut()
                    .for_each(|v| v.push(Part::Lit(piece.to_string())));
            }
        }
    }
    Some(variants)
}

/// Splits text into runs without dashes and single dash characters.
fn split_keep_dashes(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if DASHES.contains(&c) {
            if start < i {
                pieces.push(&text[start..i]);
            }
            pieces.push(&text[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The UTF-16 encodings of `utf16le` / `wide`, `utf16be` and `utf16` (with a byte order mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Utf16 {
    /// Little endian, no byte order mark.
    Le,
    /// Big endian, no byte order mark.
    Be,
    /// Little endian after the `FF FE` byte order mark.
    WithBom,
}

/// Encodes text as UTF-16 bytes.
pub(crate) fn utf16(text: &[u8], kind: Utf16) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if kind == Utf16::WithBom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in text.encode_utf16() {
        match kind {
            Utf16::Be => out.extend_from_slice(&unit.to_be_bytes()),
            Utf16::Le | Utf16::WithBom => out.extend_from_slice(&unit.to_le_bytes()),
        }
    }
    out
}

/// Plain base64 of the bytes.
pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The three shifted base64 forms of `bytes`, each trimmed to the characters that do not
/// depend on what surrounds the value in a longer encoded string.
pub(crate) fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    (0..3)
        .map(|shift| {
            let mut shifted = vec![b' '; shift];
            shifted.extend_from_slice(bytes);
            let encoded = STANDARD.encode(&shifted);
            // Leading characters that encode (part of) the filler bytes vary with them.
            let start = [0, 2, 3][shift];
            // Trailing characters that encode a partial group vary with what follows.
            let cut_end = [0, 3, 2][(bytes.len() + shift) % 3];
            let end = encoded.len().saturating_sub(cut_end);
            encoded.get(start..end.max(start)).unwrap_or("").to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Part {
        Part::Lit(s.to_string())
    }

    fn flat(v: &[Part]) -> String {
        v.iter()
            .map(|p| match p {
                Part::Lit(s) => s.clone(),
                Part::Star => "*".into(),
                Part::One => "?".into(),
            })
            .collect()
    }

    #[test]
    fn windash_makes_every_permutation() {
        let variants = windash(&[lit("-a /b")]).expect("small");
        assert_eq!(variants.len(), 25);
        let texts: Vec<String> = variants.iter().map(|v| flat(v)).collect();
        assert!(texts.contains(&"-a /b".to_string()));
        assert!(texts.contains(&"/a -b".to_string()));
        assert!(texts.contains(&"\u{2014}a \u{2015}b".to_string()));
    }

    #[test]
    fn windash_keeps_wildcards_and_text_without_dashes() {
        let variants = windash(&[Part::Star, lit("abc"), Part::Star]).expect("small");
        assert_eq!(variants.len(), 1);
        assert_eq!(flat(&variants[0]), "*abc*");
    }

    #[test]
    fn windash_refuses_explosions() {
        assert!(windash(&[lit(&"-".repeat(10))]).is_none());
    }

    #[test]
    fn utf16_encodings_follow_the_spec_examples() {
        assert_eq!(utf16(b"cmd", Utf16::Le), [0x63, 0, 0x6d, 0, 0x64, 0]);
        assert_eq!(utf16(b"cmd", Utf16::Be), [0, 0x63, 0, 0x6d, 0, 0x64]);
        assert_eq!(
            utf16(b"cmd", Utf16::WithBom),
            [0xFF, 0xFE, 0x63, 0, 0x6d, 0, 0x64, 0]
        );
    }

    #[test]
    fn base64_offsets_are_found_in_any_embedding() {
        let needle = b"http://evil";
        let forms = base64_offsets(needle);
        for prefix in ["", "a", "ab", "abc", "abcd"] {
            for suffix in ["", "x", "xy"] {
                let whole = format!("{prefix}http://evil{suffix}");
                let encoded = base64(whole.as_bytes());
                assert!(
                    forms.iter().any(|f| encoded.contains(f.as_str())),
                    "{whole} -> {encoded} not found by {forms:?}"
                );
            }
        }
    }

    #[test]
    fn base64_offsets_of_a_known_value() {
        // The three forms commonly published for "/bin/bash".
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }
}
