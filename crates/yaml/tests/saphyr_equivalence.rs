//! `tocsin_yaml::load` reads every text as `saphyr`'s own loader does: the same documents,
//! values, mapping order and lines, and an error where it has one. Run over the YAML files
//! of the shared corpora (the SigmaHQ rules, the specification's examples) and texts written
//! to reach the loader's corners (anchors, aliases, tags, empty documents, equal keys).

#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, YamlData as SaphyrData};
use tocsin_yaml::{Node, Scalar, YamlData};

/// Deep enough for every text here; the depth guard has its own tests.
const DEPTH: usize = 64;

fn scalar(value: &Scalar<'_>) -> String {
    match value {
        Scalar::Null => "null".into(),
        Scalar::Boolean(b) => format!("bool {b}"),
        Scalar::Integer(i) => format!("int {i}"),
        Scalar::FloatingPoint(f) => format!("float {f}"),
        Scalar::String(s) => format!("str {s:?}"),
    }
}

/// One line per node: its line, then what it is, indented by depth.
fn ours(node: &Node<'_>, depth: usize, out: &mut String) {
    let pad = " ".repeat(depth * 2);
    match &node.data {
        YamlData::Value(value) => out.push_str(&format!("{pad}{} {}\n", node.line, scalar(value))),
        YamlData::Sequence(items) => {
            out.push_str(&format!("{pad}{} seq\n", node.line));
            items.iter().for_each(|item| ours(item, depth + 1, out));
        }
        YamlData::Mapping(entries) => {
            out.push_str(&format!("{pad}{} map\n", node.line));
            for (key, value) in entries {
                ours(key, depth + 1, out);
                ours(value, depth + 2, out);
            }
        }
        YamlData::BadValue => out.push_str(&format!("{pad}{} bad\n", node.line)),
    }
}

/// [`ours`] for `saphyr`'s tree, a tagged node read as the node inside at the tag's line.
fn theirs(node: &MarkedYaml<'_>, line: Option<usize>, depth: usize, out: &mut String) {
    let pad = " ".repeat(depth * 2);
    let line = line.unwrap_or(node.span.start.line());
    match &node.data {
        SaphyrData::Value(value) => out.push_str(&format!("{pad}{line} {}\n", scalar(value))),
        SaphyrData::Sequence(items) => {
            out.push_str(&format!("{pad}{line} seq\n"));
            items
                .iter()
                .for_each(|item| theirs(item, None, depth + 1, out));
        }
        SaphyrData::Mapping(entries) => {
            out.push_str(&format!("{pad}{line} map\n"));
            for (key, value) in entries {
                theirs(key, None, depth + 1, out);
                theirs(value, None, depth + 2, out);
            }
        }
        SaphyrData::Tagged(_, inner) => theirs(inner, Some(line), depth, out),
        _ => out.push_str(&format!("{pad}{line} bad\n")),
    }
}

/// What each loader makes of `text`: its documents rendered, or that it refused it.
fn both(text: &str) -> (Result<String, usize>, Result<String, usize>) {
    let mine = tocsin_yaml::load(text, DEPTH).map(|docs| {
        let mut out = String::new();
        docs.iter().for_each(|doc| ours(doc, 0, &mut out));
        out
    });
    let saphyr =
        MarkedYaml::load_from_str(text.strip_prefix('\u{feff}').unwrap_or(text)).map(|docs| {
            let mut out = String::new();
            docs.iter().for_each(|doc| theirs(doc, None, 0, &mut out));
            out
        });
    (
        mine.map_err(|error| error.line()),
        saphyr.map_err(|error| error.marker().line()),
    )
}

fn assert_same(text: &str, name: &str) {
    let (mine, saphyr) = both(text);
    assert_eq!(mine, saphyr, "{name} is read differently:\n{text}");
}

#[test]
fn written_corners_read_alike() {
    let texts = [
        "a: 1\nb: [1, 2.5, true, null, ~, '3', \"x\"]\nc: {d: e}\n",
        "a: &x [1, {b: 2}]\nc: *x\nd: &y 5\ne: *y\n",
        "a: !custom 12\nb: !!str 12\nc: !!int x\nd: !seq [1]\ne: !!float 1\n",
        "---\n---\na: 1\n...\n---\n- x\n",
        "",
        "# only a comment\n",
        "a: 1\nb: 2\na: 3\n",
        "? [1, 2]\n: seq key\n? {a: b}\n: map key\n",
        "1: int\n\"1\": text\n",
        "a:\n  - b: |\n      literal\n      text\n    c: >\n      folded\n      text\n",
        "date: 2024-01-02\nhex: 0x17\noct: 0o17\nneg: -5\ninf: .inf\n",
        "a: [1, 2\n",
        "\u{feff}a: 1\n",
        "- - - x\n  - y\n- z\n",
        "a: !custom\nb: !custom ''\nc: !custom ~\nd: !!null\ne: !!str\n",
    ];
    for (i, text) in texts.iter().enumerate() {
        assert_same(text, &format!("text {i}"));
    }
}

fn yaml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("readable corpus folder");
    for entry in entries {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            found.push(path);
        }
    }
}

#[test]
fn the_shared_corpora_read_alike() {
    let Some(sigma) = tocsin_testdata::shared_path("sigma") else {
        return;
    };
    let mut files = Vec::new();
    yaml_files(&sigma, &mut files);
    assert!(files.len() > 3_000, "{} YAML files", files.len());
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        assert_same(&text, &file.display().to_string());
    }
}
