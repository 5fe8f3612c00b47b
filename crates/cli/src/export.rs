//! `tocsin incidents export ID --format stix`: an incident as a STIX 2.1 bundle for
//! partners (`tocsin-stix`), with the text of the Sigma rules that fired, TLP 2.0 markings,
//! redaction and attribution.
//!
//! Exit codes: 0 written; 2 usage or input errors (missing store, unknown incident, no
//! producer, bad redaction rule).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tocsin_incident::{Incident, IncidentFilter, IncidentStore};
use tocsin_sigma::ast::{Document, Metadata};
use tocsin_stix::{Attribution, AttributionKind, ExportOptions, Redaction};

use crate::args::{ExportArgs, ExportOptionArgs};
use crate::incidents::{find, open_read_only, write_stdout};
use crate::output_file::{self, Protected};
use crate::ruleset::BUILTIN_RULES;

/// Runs `incidents export`.
pub fn run(args: &ExportArgs) -> Result<i32> {
    let path = &args.store.store;
    let protected = Protected {
        inputs: &[],
        store: Some(path),
    };
    if let (Some(output), false) = (&args.output, args.all) {
        output_file::check(output, &protected)?;
    }
    match (&args.id, &args.output) {
        (Some(id), output) => {
            let text = incident_bundle(path, id, &args.options)?;
            match output {
                Some(file) => output_file::write_whole(file, text.as_bytes())
                    .with_context(|| format!("cannot write the bundle to {}", file.display()))?,
                None => write_stdout(&text)?,
            }
        }
        (None, Some(dir)) => {
            let options = options_of(&args.options)?;
            let store = open_read_only(path)?;
            export_all(&store, dir, &options, &protected)?;
        }
        (None, None) => bail!("give an incident id, or --all with -o FOLDER"),
    }
    Ok(0)
}

/// The bundle of incident `id` of the store at `path` as pretty JSON, exactly as
/// `incidents export ID --format stix` writes it (`share push --incident` sends this).
pub fn incident_bundle(path: &Path, id: &str, args: &ExportOptionArgs) -> Result<String> {
    let options = options_of(args)?;
    let store = open_read_only(path)?;
    let incident = find(&store, path, id)?;
    bundle_text(&store, &incident, &options)
}

/// Writes one bundle per live incident of `store` into `dir`.
fn export_all(
    store: &impl IncidentStore,
    dir: &Path,
    options: &ExportOptions,
    protected: &Protected<'_>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let incidents = store
        .list_incidents(&IncidentFilter::default())
        .context("cannot list the incidents")?;
    for incident in &incidents {
        let file = dir.join(format!("{}.json", incident.id));
        output_file::check(&file, protected)?;
        let text = bundle_text(store, incident, options)?;
        output_file::write_whole(&file, text.as_bytes())
            .with_context(|| format!("cannot write the bundle to {}", file.display()))?;
    }
    eprintln!("{} bundles written to {}", incidents.len(), dir.display());
    Ok(())
}

/// The bundle of `incident` as pretty JSON.
fn bundle_text(
    store: &impl IncidentStore,
    incident: &Incident,
    options: &ExportOptions,
) -> Result<String> {
    let alerts = store
        .alerts_of(&incident.id)
        .with_context(|| format!("cannot read the detections of {}", incident.id))?;
    let audit = store
        .audit_of(&incident.id)
        .with_context(|| format!("cannot read the audit trail of {}", incident.id))?;
    let bundle = tocsin_stix::export(incident, &alerts, &audit, options)
        .with_context(|| format!("cannot export {}", incident.id))?;
    let mut text = serde_json::to_string_pretty(&bundle).context("cannot write JSON")?;
    text.push('\n');
    Ok(text)
}

/// The export options the flags ask for.
fn options_of(args: &ExportOptionArgs) -> Result<ExportOptions> {
    let Some(producer) = args.producer.as_deref().filter(|p| !p.trim().is_empty()) else {
        bail!("name the producing organisation with --producer NAME (or TOCSIN_ORGANISATION)");
    };
    let mut options = ExportOptions::new(producer);
    options.victim = args.victim.clone().filter(|v| !v.trim().is_empty());
    options.tlp = args.tlp;
    options.indicator_tlp = args.indicator_tlp;
    options.redaction = redaction_of(&args.redact)?;
    options.attribution = args.attribute.as_ref().map(|name| Attribution {
        name: name.clone(),
        kind: if args.threat_actor {
            AttributionKind::ThreatActor
        } else {
            AttributionKind::IntrusionSet
        },
        confidence: args.confidence,
    });
    options.revoked_at_micros = args.revoke.then(crate::incidents::now_micros);
    options.sigma_rules = rule_texts(&args.rules)?;
    Ok(options)
}

/// `--redact` rules as a [`Redaction`].
fn redaction_of(rules: &[String]) -> Result<Redaction> {
    Redaction::parse(rules).map_err(|message| anyhow::anyhow!("--{message}"))
}

/// The YAML text of every rule in `paths` (`builtin` for the built-in ones), by rule id: a
/// document's own text when its file holds several.
fn rule_texts(paths: &[PathBuf]) -> Result<BTreeMap<String, String>> {
    let mut texts = BTreeMap::new();
    for path in paths {
        if path.as_os_str() == BUILTIN_RULES {
            for rule in tocsin_rules::builtin() {
                for document in rule.parse().into_iter().flatten() {
                    add_document(&mut texts, &document, rule.text);
                }
            }
            continue;
        }
        let loaded = tocsin_sigma::load_paths(std::slice::from_ref(path));
        if loaded.files == 0 {
            bail!("no rules at {}", path.display());
        }
        let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
        for document in &loaded.documents {
            let file = &metadata(document).location.path;
            if !files.contains_key(file) {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                files.insert(file.clone(), text);
            }
            if let Some(text) = files.get(file) {
                add_document(&mut texts, document, text);
            }
        }
    }
    Ok(texts)
}

/// Records the text of `document` (found in `file_text`) under its id.
fn add_document(texts: &mut BTreeMap<String, String>, document: &Document, file_text: &str) {
    let meta = metadata(document);
    let Some(id) = meta.id.clone().or_else(|| meta.name.clone()) else {
        return;
    };
    texts.insert(id, document_text(file_text, meta.location.line));
}

/// The metadata of any document.
fn metadata(document: &Document) -> &Metadata {
    match document {
        Document::Rule(rule) => &rule.meta,
        Document::Filter(filter) => &filter.meta,
        Document::Correlation(correlation) => &correlation.meta,
    }
}

/// The YAML document of a multi-document file that starts at or before 1-based `line`: the
/// text between the `---` separators around it.
fn document_text(file_text: &str, line: usize) -> String {
    let lines: Vec<&str> = file_text.lines().collect();
    let is_separator = |l: &&str| l.trim_end() == "---";
    let at = line.saturating_sub(1).min(lines.len());
    let start = lines[..at]
        .iter()
        .rposition(is_separator)
        .map_or(0, |i| i + 1);
    let end = lines[at..]
        .iter()
        .position(is_separator)
        .map_or(lines.len(), |i| at + i);
    let mut text = lines[start..end].join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_stix::Redact;

    #[test]
    fn redaction_rules_parse_and_refuse_nonsense() {
        let internal = redaction_of(&["internal".into()]).unwrap();
        assert_eq!(internal, Redaction::internal());
        let some = redaction_of(&["hosts=drop".into(), "users=replace".into()]).unwrap();
        assert_eq!(
            (some.hosts, some.users, some.internal_addresses),
            (Redact::Drop, Redact::Replace, Redact::Keep)
        );
        for bad in ["hosts", "hosts=hide", "printers=drop"] {
            assert!(redaction_of(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_document_of_a_multi_document_file_is_cut_out() {
        let text = "title: a\nid: 1\n---\ntitle: b\nid: 2\n---\ntitle: c\n";
        assert_eq!(document_text(text, 4), "title: b\nid: 2\n");
        assert_eq!(document_text(text, 1), "title: a\nid: 1\n");
        assert_eq!(document_text(text, 7), "title: c\n");
    }

    #[test]
    fn builtin_rules_give_their_texts() {
        let texts = rule_texts(&[PathBuf::from(BUILTIN_RULES)]).unwrap();
        assert!(texts.len() >= 10);
        assert!(texts
            .values()
            .all(|text| text.contains("detection:") || text.contains("correlation:")));
    }
}
