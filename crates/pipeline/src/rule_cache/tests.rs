//! The compiled-rule cache: what it reads back is what a compilation gives, and every change
//! of the rules or of how they are compiled, and every damage to an entry, compiles again.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tocsin_engine::Scratch;
use tocsin_event::{Event, LogSource, Value};

use super::*;
use crate::rules::load_rules;
use crate::BUILTIN_RULES;

const RULE_A: &str = "title: Alpha\nid: 6a0a3b58-0000-4000-8000-00000000000a\nstatus: test\nlevel: high\n\
    logsource: {product: testing}\n\
    detection: {s: {Image|endswith: '\\alpha.exe', CommandLine|contains|all: [one, two]}, condition: s}\n";
const RULE_B: &str =
    "title: Beta\nid: 6a0a3b58-0000-4000-8000-00000000000b\nstatus: stable\nlevel: low\n\
    logsource: {product: testing}\n\
    detection: {k: [needle, 'hay*stack'], r: {User|re: '^adm.n$'}, condition: k or r}\n";
const CORRELATION: &str = "title: Many alphas\nid: 6a0a3b58-0000-4000-8000-0000000000cc\n\
    correlation: {type: event_count, rules: [6a0a3b58-0000-4000-8000-00000000000a], group-by: [User], timespan: 5m, condition: {gte: 3}}\n";
const BROKEN: &str = "title: Broken\nlogsource: {product: testing}\ndetection: {s: {a|nosuchmodifier: 1}, condition: s}\n";

/// A rule folder: two rules, a correlation and a broken rule.
fn rule_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.yml"), RULE_A).unwrap();
    fs::create_dir(dir.path().join("more")).unwrap();
    fs::write(dir.path().join("more").join("b.yml"), RULE_B).unwrap();
    fs::write(dir.path().join("more").join("c.yml"), CORRELATION).unwrap();
    fs::write(dir.path().join("broken.yaml"), BROKEN).unwrap();
    dir
}

/// A cache in a folder of its own that trusts stamps at once (the tests change files and
/// wait for nothing), unless `settle` says otherwise.
fn cache_in(dir: &Path, settle: Duration) -> RuleCache {
    RuleCache {
        dir: Some(dir.to_path_buf()),
        settle,
    }
}

fn load(paths: &[PathBuf], cache: &RuleCache) -> (RuleSet, CacheOutcome) {
    load_rules_cached(
        paths,
        &[],
        &CompileOptions::default(),
        &RuleSelection::default(),
        cache,
    )
    .unwrap()
}

fn event(fields: &[(&str, &str)]) -> Event {
    let mut event = Event {
        logsource: Some(Arc::new(LogSource {
            product: Some("testing".into()),
            ..LogSource::default()
        })),
        ..Event::default()
    };
    for (name, value) in fields {
        event.push(name, name, Value::from(*value));
    }
    event
}

/// What a rule set finds and says, in a comparable form.
fn summary(set: &RuleSet) -> String {
    let events = [
        event(&[
            ("Image", "C:\\x\\ALPHA.exe"),
            ("CommandLine", "two then one"),
        ]),
        event(&[("Image", "C:\\x\\alpha.exe"), ("CommandLine", "only one")]),
        event(&[("Message", "a HAYSTACK here")]),
        event(&[("User", "admin")]),
        event(&[("User", "administrator")]),
        event(&[("Other", "needles")]),
    ];
    let mut scratch = Scratch::default();
    let found: Vec<Vec<String>> = events
        .iter()
        .map(|event| {
            set.engine
                .evaluate(event, &mut scratch)
                .iter()
                .map(|&id| set.engine.rule(id).meta.title.clone())
                .collect()
        })
        .collect();
    let rules: Vec<String> = set
        .engine
        .rules()
        .map(|(_, info)| format!("{:?} {:?}", info.meta, info.logsource))
        .collect();
    format!(
        "found {found:?}\nrules {rules:?}\nreport {:?}\nload errors {:?}\nfiles {} deselected {}\ncorrelations {:?}\nduplicates {:?}\ninput only {:?}\nsimilar {:?}",
        set.report,
        set.load_errors,
        set.files,
        set.deselected,
        set.correlations,
        set.duplicate_ids,
        set.input_only,
        set.similar_signals
    )
}

#[test]
fn a_rule_set_read_back_is_the_one_compiled() {
    let rules = rule_folder();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_in(cache_dir.path(), Duration::ZERO);
    let paths = [rules.path().to_path_buf(), PathBuf::from(BUILTIN_RULES)];
    let fresh = load_rules(
        &paths,
        &CompileOptions::default(),
        &RuleSelection::default(),
    )
    .unwrap();
    let (first, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    let (second, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Hit);
    let expected = summary(&fresh);
    assert!(expected.contains("\"Alpha\"") && expected.contains("nosuchmodifier"));
    assert!(!fresh.correlations.is_empty() && fresh.engine.len() > 10);
    assert_eq!(summary(&first), expected);
    assert_eq!(summary(&second), expected);
}

#[test]
fn every_change_to_the_rules_compiles_again() {
    let rules = rule_folder();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_in(cache_dir.path(), Duration::ZERO);
    let paths = [rules.path().to_path_buf()];
    let titles = |set: &RuleSet| -> Vec<String> {
        set.engine
            .rules()
            .map(|(_, info)| info.meta.title.clone())
            .collect()
    };
    assert_eq!(
        load(&paths, &cache).1,
        CacheOutcome::Compiled { stored: true }
    );

    // One byte changed, size and modification time kept: the change time tells.
    let a = rules.path().join("a.yml");
    let modified = fs::metadata(&a).unwrap().modified().unwrap();
    fs::write(&a, RULE_A.replace("Alpha", "Alphb")).unwrap();
    fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let (set, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    assert!(
        titles(&set).contains(&"Alphb".to_owned()),
        "{:?}",
        titles(&set)
    );
    assert_eq!(load(&paths, &cache).1, CacheOutcome::Hit);

    // A file added to a subfolder, then removed.
    let added = rules.path().join("more").join("d.yml");
    fs::write(
        &added,
        RULE_B.replace("Beta", "Delta").replace("0b\n", "0d\n"),
    )
    .unwrap();
    let (set, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    assert!(titles(&set).contains(&"Delta".to_owned()));
    fs::remove_file(&added).unwrap();
    let (set, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    assert!(!titles(&set).contains(&"Delta".to_owned()));

    // A new folder with a rule in it.
    fs::create_dir(rules.path().join("new")).unwrap();
    fs::write(
        rules.path().join("new").join("e.yml"),
        RULE_B.replace("Beta", "Epsilon").replace("0b\n", "0e\n"),
    )
    .unwrap();
    let (set, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    assert!(titles(&set).contains(&"Epsilon".to_owned()));

    // Touched only: read again, found unchanged, not compiled.
    let b = rules.path().join("more").join("b.yml");
    fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    assert_eq!(load(&paths, &cache).1, CacheOutcome::Verified);
    assert_eq!(load(&paths, &cache).1, CacheOutcome::Hit);
}

#[test]
fn how_the_rules_are_compiled_is_part_of_the_key() {
    let rules = rule_folder();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_in(cache_dir.path(), Duration::ZERO);
    let paths = [rules.path().to_path_buf()];
    let high = RuleSelection {
        min_level: Some(tocsin_event::Level::High),
        ..RuleSelection::default()
    };
    let with = |select: &RuleSelection, compile: &CompileOptions| {
        load_rules_cached(&paths, &[], compile, select, &cache).unwrap()
    };
    let plain = CompileOptions::default();
    assert_eq!(
        load(&paths, &cache).1,
        CacheOutcome::Compiled { stored: true }
    );
    let (set, outcome) = with(&high, &plain);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    assert_eq!(
        set.deselected, 2,
        "Beta (low) and the correlation (no level)"
    );
    assert_eq!(with(&high, &plain).1, CacheOutcome::Hit);
    assert_eq!(load(&paths, &cache).1, CacheOutcome::Hit);

    // A placeholder file: its content, not its name, is part of the key.
    let placeholders = rules.path().join("placeholders.txt");
    fs::write(&placeholders, "admins: [root]\n").unwrap();
    let compile = CompileOptions {
        placeholders: Some(placeholders.clone()),
        ..CompileOptions::default()
    };
    assert_eq!(
        with(&plain_selection(), &compile).1,
        CacheOutcome::Compiled { stored: true }
    );
    assert_eq!(with(&plain_selection(), &compile).1, CacheOutcome::Hit);
    fs::write(&placeholders, "admins: [root, toor]\n").unwrap();
    assert_eq!(
        with(&plain_selection(), &compile).1,
        CacheOutcome::Compiled { stored: true }
    );

    // Paths spelt differently are other entries; so are rules that come from no file.
    let spelt = [rules.path().join("more").join("..")];
    let (_, outcome) = load(&spelt, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    let text = crate::intel::RuleText {
        text: RULE_B.replace("Beta", "Zeta"),
        origin: PathBuf::from("partner.json#indicator"),
        author: None,
    };
    let (_, outcome) = load_rules_cached(
        &paths,
        std::slice::from_ref(&text),
        &plain,
        &plain_selection(),
        &cache,
    )
    .unwrap();
    assert_eq!(outcome, CacheOutcome::Bypassed);
}

fn plain_selection() -> RuleSelection {
    RuleSelection::default()
}

#[test]
fn stamps_of_fresh_changes_are_not_trusted() {
    let rules = rule_folder();
    let cache_dir = tempfile::tempdir().unwrap();
    // The default: the files were written just now, so every load reads them again.
    let cache = cache_in(cache_dir.path(), SETTLE);
    let paths = [rules.path().to_path_buf()];
    assert_eq!(
        load(&paths, &cache).1,
        CacheOutcome::Compiled { stored: true }
    );
    assert_eq!(load(&paths, &cache).1, CacheOutcome::Verified);
    // Changed within the same instant, size kept: still seen.
    let a = rules.path().join("a.yml");
    fs::write(&a, RULE_A.replace("Alpha", "Alphz")).unwrap();
    let (set, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: true });
    assert!(set
        .engine
        .rules()
        .any(|(_, info)| info.meta.title == "Alphz"));
}

#[test]
fn a_damaged_entry_is_compiled_again_never_trusted() {
    let rules = rule_folder();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_in(cache_dir.path(), Duration::ZERO);
    let paths = [rules.path().to_path_buf()];
    let (fresh, _) = load(&paths, &cache);
    let expected = summary(&fresh);
    let entry = only_entry(cache_dir.path());
    let good = fs::read(&entry).unwrap();
    let mut damages: Vec<Vec<u8>> = vec![Vec::new(), b"TOCSINRC".to_vec(), b"garbage".to_vec()];
    // Cut at many lengths, and bytes flipped at many places (a xorshift walk).
    damages.extend((0..good.len()).step_by(97).map(|len| good[..len].to_vec()));
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bytes = good.clone();
        let at = (state as usize) % bytes.len();
        bytes[at] ^= 1 << (state >> 60 & 7);
        damages.push(bytes);
    }
    let mut appended = good.clone();
    appended.push(0);
    damages.push(appended);
    for damaged in damages {
        fs::write(&entry, &damaged).unwrap();
        let (set, outcome) = load(&paths, &cache);
        assert_eq!(
            outcome,
            CacheOutcome::Compiled { stored: true },
            "{} bytes",
            damaged.len()
        );
        assert_eq!(summary(&set), expected);
    }
    // Another set's entry under this one's name.
    let other = rule_folder();
    load(&[other.path().to_path_buf()], &cache);
    let other_entry = entries(cache_dir.path())
        .into_iter()
        .find(|p| *p != entry)
        .unwrap();
    fs::copy(&other_entry, &entry).unwrap();
    assert_eq!(
        load(&paths, &cache).1,
        CacheOutcome::Compiled { stored: true }
    );
    assert_eq!(load(&paths, &cache).1, CacheOutcome::Hit);
}

/// The entries (`.bin` files) of the cache in `cache_dir`.
fn entries(cache_dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(cache_dir.join("rules"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect()
}

fn only_entry(cache_dir: &Path) -> PathBuf {
    let entries = entries(cache_dir);
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[test]
fn a_cache_that_cannot_be_written_only_costs_speed() {
    let rules = rule_folder();
    let cache_dir = tempfile::tempdir().unwrap();
    // A file where the cache's folder should be.
    let blocked = cache_dir.path().join("blocked");
    fs::write(&blocked, "not a folder").unwrap();
    let cache = cache_in(&blocked, Duration::ZERO);
    let paths = [rules.path().to_path_buf()];
    let (set, outcome) = load(&paths, &cache);
    assert_eq!(outcome, CacheOutcome::Compiled { stored: false });
    assert!(set.engine.len() >= 2);
    assert_eq!(load(&paths, &RuleCache::off()).1, CacheOutcome::Bypassed);
}

#[test]
fn loads_at_the_same_time_all_get_the_rules() {
    let rules = rule_folder();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_in(cache_dir.path(), Duration::ZERO);
    let paths = [rules.path().to_path_buf()];
    let expected =
        summary(&load_rules(&paths, &CompileOptions::default(), &plain_selection()).unwrap());
    std::thread::scope(|scope| {
        let loads: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| summary(&load(&paths, &cache).0)))
            .collect();
        for load in loads {
            assert_eq!(load.join().unwrap(), expected);
        }
    });
    only_entry(cache_dir.path());
    assert_eq!(load(&paths, &cache).1, CacheOutcome::Hit);
}

#[test]
fn the_cache_keeps_the_latest_entries() {
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = cache_in(cache_dir.path(), Duration::ZERO);
    let folders: Vec<tempfile::TempDir> = (0..KEEP_ENTRIES + 3).map(|_| rule_folder()).collect();
    for folder in &folders {
        load(&[folder.path().to_path_buf()], &cache);
    }
    assert_eq!(entries(cache_dir.path()).len(), KEEP_ENTRIES);
    assert!(cache_dir.path().join("rules").join("CACHEDIR.TAG").exists());
    assert!(!cache_dir.path().join("CACHEDIR.TAG").exists());
    let last = folders.last().unwrap().path().to_path_buf();
    assert_eq!(load(&[last], &cache).1, CacheOutcome::Hit);
}

#[test]
fn the_cache_folder_follows_the_environment() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    };
    let dir = |pairs| RuleCache::from_env(env(pairs)).dir().map(Path::to_path_buf);
    let all: &[(&str, &str)] = &[
        ("TOCSIN_CACHE_DIR", "/t"),
        ("XDG_CACHE_HOME", "/x"),
        ("HOME", "/h"),
        ("LOCALAPPDATA", "/l"),
    ];
    assert_eq!(dir(all), Some(PathBuf::from("/t")));
    assert_eq!(dir(&all[1..]), Some(PathBuf::from("/x/tocsin")));
    assert_eq!(
        dir(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/h")]),
        Some(PathBuf::from("/h/.cache/tocsin"))
    );
    assert_eq!(
        dir(&[("TOCSIN_CACHE_DIR", ""), ("LOCALAPPDATA", "/l")]),
        Some(PathBuf::from("/l/tocsin/cache"))
    );
    assert_eq!(dir(&[]), None);
    assert_eq!(dir(&[("TOCSIN_NO_RULE_CACHE", "1"), ("HOME", "/h")]), None);
}
