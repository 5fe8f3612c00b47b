#!/usr/bin/env python3
"""Differential check of tocsin's Sigma engine against pySigma, the reference implementation.

What it does, in order:

1. Converts every Windows rule (`logsource.product: windows`) of the SigmaHQ rule set to
   SQLite queries with pySigma's SQLite backend and the Sysmon and Windows log-source
   pipelines, as Zircolite's Sysmon rule sets are built. Rules pySigma cannot load or
   convert are counted and listed (tocsin runs them). Conversions are cached per rule text
   and pySigma version with `--cache DIR`.
2. Loads the corpus's events, as `tocsin events` renders them (the events `tocsin hunt`
   sees, with source file and record number), into an in-memory SQLite table `logs` with
   one `TEXT COLLATE NOCASE` column per field name, as Zircolite does, and a `REGEXP`
   function (Python's `re.search`, as Zircolite registers it).
3. Runs the queries, and runs `tocsin hunt --format jsonl` with the same rules over the
   same corpus.
4. Compares the sets of (rule id, file, record). Each difference is grouped by rule and
   side (`tocsin-only`: tocsin detects, pySigma does not; `pysigma-only`: the reverse) and
   looked up in `known-differences.yaml`, which gives the class of every known difference
   and the number of records it covers. Exit 1 if a difference is not listed, is listed
   with another number of records, or if a listed difference no longer occurs (remove it:
   the file must describe today's engine). Exit 2 on setup errors.

Usage: diff.py --tocsin target/release/tocsin [--shared DIR] [--cache DIR] [--report FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
KNOWN = HERE / "known-differences.yaml"
SIDES = ("tocsin-only", "pysigma-only")


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- conversion


def pysigma_versions() -> str:
    from importlib.metadata import version

    names = [
        "pysigma",
        "pysigma-backend-sqlite",
        "pysigma-pipeline-sysmon",
        "pysigma-pipeline-windows",
    ]
    return ",".join(f"{n}=={version(n)}" for n in names)


def make_backend():
    from sigma.backends.sqlite import sqliteBackend
    from sigma.pipelines.sysmon import sysmon_pipeline
    from sigma.pipelines.windows import windows_logsource_pipeline

    pipeline = sysmon_pipeline() + windows_logsource_pipeline()
    return sqliteBackend(processing_pipeline=pipeline)


def convert_file(path: Path, backend) -> list[dict]:
    """Every rule document of one file: id, title, product, and queries or the error."""
    from sigma.collection import SigmaCollection
    from sigma.rule import SigmaRule

    text = path.read_text(encoding="utf-8")
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True)
    except Exception as e:  # noqa: BLE001 - any failure is "pySigma cannot load it"
        return [{"id": None, "title": None, "product": None, "error": f"load: {e}"}]
    out = []
    for rule in collection.rules:
        if not isinstance(rule, SigmaRule):
            continue  # correlation and filter rules: SigmaHQ ships none
        entry = {
            "id": str(rule.id) if rule.id else None,
            "title": rule.title,
            "product": rule.logsource.product,
            "service": rule.logsource.service,
            "category": rule.logsource.category,
        }
        if rule.errors:
            entry["error"] = "load: " + "; ".join(str(e) for e in rule.errors)
        elif rule.logsource.product != "windows":
            entry["error"] = None  # not converted: not a Windows rule
        else:
            try:
                entry["queries"] = [str(q) for q in backend.convert_rule(rule)]
                entry["error"] = None
            except Exception as e:  # noqa: BLE001
                entry["error"] = f"convert: {type(e).__name__}: {e}"
        out.append(entry)
    return out


def convert_all(rules_dir: Path, cache_dir: Path | None) -> list[dict]:
    versions = pysigma_versions()
    cache = {}
    cache_file = None
    if cache_dir:
        cache_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(versions.encode()).hexdigest()[:16]
        cache_file = cache_dir / f"conversions-{digest}.json"
        if cache_file.exists():
            cache = json.loads(cache_file.read_text())
    backend = None
    rules = []
    fresh = {}
    for path in sorted(rules_dir.rglob("*.yml")):
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        entries = cache.get(key)
        if entries is None:
            backend = backend or make_backend()
            entries = convert_file(path, backend)
        fresh[key] = entries
        for entry in entries:
            rules.append({**entry, "path": str(path.relative_to(rules_dir))})
    if cache_file and fresh != cache:
        cache_file.write_text(json.dumps(fresh))
    return rules


# --------------------------------------------------------------------------- events


def sql_value(value):
    """A JSON value as Zircolite stores it: text, numbers as they are, booleans as words."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def load_events(tocsin: str, evtx: Path) -> tuple[sqlite3.Connection, int, int]:
    """The events as a `logs` table; returns it, the event count and the multi-valued count."""
    proc = subprocess.run(
        [tocsin, "events", str(evtx)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"tocsin events failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rows = []
    columns: dict[str, str] = {}  # lower-case name -> name as first seen
    multi = 0
    for line in proc.stdout.splitlines():
        event = json.loads(line)
        row = {}
        for name, value in event["fields"].items():
            lower = name.lower()
            if lower in row:
                continue  # two names that differ only by case: SQLite's columns do not
            if isinstance(value, list):
                # A field with several values (EVTX `Data` lists, a `Channel` in both System
                # and UserData): tocsin matches any of them, a column holds one value.
                # Repeats of one value are that value; distinct values are joined by
                # newlines (no escaping, so `contains` still finds each of them).
                distinct = list(dict.fromkeys("" if v is None else str(v) for v in value))
                if len(distinct) == 1:
                    value = value[0]
                else:
                    multi += 1
                    value = "\n".join(distinct)
            columns.setdefault(lower, name)
            row[lower] = sql_value(value)
        row["tocsin_source"] = event["source"]
        row["tocsin_record"] = event["record_id"]
        rows.append(row)
    db = sqlite3.connect(":memory:")
    quoted = {lower: '"' + name.replace('"', '""') + '"' for lower, name in columns.items()}
    quoted["tocsin_source"] = "tocsin_source"
    quoted["tocsin_record"] = "tocsin_record"
    db.execute(
        "CREATE TABLE logs ("
        + ", ".join(f"{q} TEXT COLLATE NOCASE" for q in quoted.values())
        + ")"
    )
    order = list(quoted)
    insert = f"INSERT INTO logs ({', '.join(quoted[c] for c in order)}) VALUES ({', '.join('?' * len(order))})"
    db.executemany(insert, ([row.get(c) for c in order] for row in rows))
    for column in ("channel", "eventid"):
        if column in quoted:
            db.execute(f"CREATE INDEX logs_{column} ON logs ({quoted[column]})")
    compiled = {}

    def regexp(pattern, value):
        if value is None or pattern is None:
            return False
        regex = compiled.get(pattern)
        if regex is None:
            regex = compiled[pattern] = re.compile(pattern)
        return regex.search(str(value)) is not None

    db.create_function("regexp", 2, regexp, deterministic=True)
    return db, len(rows), multi


def run_query(db: sqlite3.Connection, query: str) -> set[tuple[str, int]]:
    sql = f"SELECT tocsin_source, tocsin_record FROM ({query})"
    for _ in range(100):
        try:
            return {(s, int(r)) for s, r in db.execute(sql)}
        except sqlite3.OperationalError as e:
            missing = re.match(r"no such column: (.+)$", str(e))
            if not missing:
                raise
            # A field no event carries: as in Zircolite, an absent column reads as NULL.
            name = missing.group(1).strip('`"')
            db.execute(f'ALTER TABLE logs ADD COLUMN "{name}" TEXT COLLATE NOCASE')
    raise RuntimeError(f"too many missing columns: {query[:200]}")


# --------------------------------------------------------------------------- tocsin


def start_hunt(tocsin: str, evtx: Path, rules: Path):
    """Starts `tocsin hunt` in the background (it runs while pySigma's side is prepared)."""
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [tocsin, "hunt", str(evtx), "--rules", str(rules), "--format", "jsonl", "--quiet"],
        stdout=out,
        stderr=err,
        text=True,
    )
    return proc, out, err


def finish_hunt(hunt) -> set[tuple[str, str, int]]:
    proc, out, err = hunt
    if proc.wait() != 0:
        err.seek(0)
        raise SystemExit(f"tocsin hunt failed ({proc.returncode}): {err.read()[-2000:]}")
    out.seek(0)
    found = set()
    for line in out:
        d = json.loads(line)
        found.add((d["rule_id"], d["source"], int(d["record_id"])))
    return found


# --------------------------------------------------------------------------- comparison


def load_known(path: Path) -> tuple[dict, dict]:
    data = yaml.safe_load(path.read_text()) or {}
    classes = data.get("classes") or {}
    known = {}
    for item in data.get("differences") or []:
        key = (item["rule"], item["side"])
        if item["class"] not in classes:
            raise SystemExit(f"{path}: {key}: unknown class {item['class']!r}")
        if key in known:
            raise SystemExit(f"{path}: {key} listed twice")
        known[key] = item
    return classes, known


def short(source: str, shared: Path) -> str:
    try:
        return str(Path(source).resolve().relative_to(shared.resolve()))
    except ValueError:
        return source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tocsin", required=True, help="the tocsin binary")
    parser.add_argument(
        "--shared",
        default=os.environ.get("TOCSIN_SHARED") or str(HERE.parents[1] / ".." / "shared"),
        help="the shared corpora (default: $TOCSIN_SHARED, or ../shared)",
    )
    parser.add_argument("--known", default=str(KNOWN), help="the known differences (YAML)")
    parser.add_argument("--cache", help="folder for cached pySigma conversions")
    parser.add_argument("--report", help="write every difference, with records, as JSON")
    parser.add_argument(
        "--suggest", help="write the differences in the known-differences format (to review)"
    )
    args = parser.parse_args()
    shared = Path(args.shared)
    rules_dir, evtx = shared / "sigma" / "rules", shared / "evtx"
    for needed in (rules_dir, evtx):
        if not needed.is_dir():
            log(f"error: {needed} not found")
            return 2
    started = time.monotonic()
    hunt = start_hunt(args.tocsin, evtx, rules_dir)

    rules = convert_all(rules_dir, Path(args.cache) if args.cache else None)
    converted_at = time.monotonic()
    windows = [r for r in rules if r.get("product") == "windows" or r["id"] is None]
    failed = [r for r in windows if r.get("error")]
    converted = [r for r in windows if "queries" in r]
    log(
        f"pySigma ({pysigma_versions()}): {len(rules)} rules, {len(windows)} Windows; "
        f"{len(converted)} converted, {len(failed)} not convertible "
        f"({converted_at - started:.1f} s)"
    )

    db, events, multi = load_events(args.tocsin, evtx)
    loaded_at = time.monotonic()
    log(f"events: {events} loaded ({multi} multi-valued fields) ({loaded_at - converted_at:.1f} s)")

    pysigma: set[tuple[str, str, int]] = set()
    query_errors = []
    for rule in converted:
        for query in rule["queries"]:
            try:
                for source, record in run_query(db, query):
                    pysigma.add((rule["id"], source, record))
            except sqlite3.Error as e:
                query_errors.append((rule, str(e)))
    queried_at = time.monotonic()
    log(f"pySigma queries: {len(pysigma)} detections ({queried_at - loaded_at:.1f} s)")

    tocsin = finish_hunt(hunt)
    log(f"tocsin hunt: {len(tocsin)} detections (waited {time.monotonic() - queried_at:.1f} s)")

    if tocsin and pysigma and not tocsin & pysigma:
        # Not a matcher difference: the two sides name their records differently.
        hunt_sources = sorted({s for _, s, _ in tocsin})[:3]
        event_sources = sorted({s for _, s, _ in pysigma})[:3]
        raise SystemExit(
            "tocsin hunt and tocsin events name sources differently, nothing can be compared: "
            f"hunt {hunt_sources}, events {event_sources}"
        )

    by_id = {r["id"]: r for r in rules if r["id"]}
    not_run = {r["id"] for r in failed if r["id"]} | {e[0]["id"] for e in query_errors}
    diffs: dict[tuple[str, str], list] = defaultdict(list)
    for rule_id, source, record in tocsin - pysigma:
        if rule_id in not_run:
            continue  # pySigma has no answer for this rule
        diffs[(rule_id, "tocsin-only")].append((short(source, shared), record))
    for rule_id, source, record in pysigma - tocsin:
        diffs[(rule_id, "pysigma-only")].append((short(source, shared), record))

    classes, known = load_known(Path(args.known))
    unlisted, wrong_count, by_class = [], [], defaultdict(lambda: [0, 0])
    for key, records in sorted(diffs.items()):
        item = known.get(key)
        if item is None:
            unlisted.append(key)
            continue
        if item.get("records") != len(records):
            wrong_count.append((key, item.get("records"), len(records)))
        by_class[item["class"]][0] += 1
        by_class[item["class"]][1] += len(records)
    stale = sorted(set(known) - set(diffs))

    print("== pySigma differential check")
    print(f"rules: {len(rules)} documents, {len(windows)} Windows")
    print(f"  converted by pySigma: {len(converted)}; not convertible: {len(failed)}")
    for r in failed:
        print(f"    {r['path']} ({r['id']}): {r['error'][:160]}")
    if query_errors:
        print(f"  queries SQLite refused: {len(query_errors)}")
        for r, e in query_errors:
            print(f"    {r['path']} ({r['id']}): {e[:160]}")
    unconverted_hits = sum(1 for d in tocsin if d[0] in not_run)
    print(f"  tocsin detections of rules pySigma did not run (not compared): {unconverted_hits}")
    print(f"events: {events}")
    print(f"detections: tocsin {len(tocsin)}, pySigma {len(pysigma)}, both {len(tocsin & pysigma)}")
    print(f"differences: {len(diffs)} (rule, side) groups, {sum(map(len, diffs.values()))} records")
    for name in classes:
        groups, count = by_class.get(name, (0, 0))
        print(f"  {name}: {groups} groups, {count} records")
    for key in unlisted:
        records = sorted(diffs[key])
        rule = by_id.get(key[0], {})
        print(
            f"UNLISTED {key[1]} {key[0]} {rule.get('path')} ({len(records)} records), "
            f"e.g. {records[0][0]} record {records[0][1]}"
        )
    for key, listed, actual in wrong_count:
        print(f"CHANGED {key[1]} {key[0]}: listed with {listed} records, now {actual}")
    for key in stale:
        print(f"STALE {key[1]} {key[0]}: listed, but no longer differs (remove it)")
    print(f"time: {time.monotonic() - started:.1f} s")

    if args.report:
        report = [
            {
                "rule": k[0],
                "side": k[1],
                "path": by_id.get(k[0], {}).get("path"),
                "title": by_id.get(k[0], {}).get("title"),
                "records": sorted(v),
            }
            for k, v in sorted(diffs.items())
        ]
        Path(args.report).write_text(json.dumps(report, indent=1))
    if args.suggest:
        suggestion = []
        for key, records in sorted(diffs.items()):
            rule = by_id.get(key[0], {})
            item = dict(known.get(key) or {"class": "unclassified", "reason": ""})
            item.update(rule=key[0], side=key[1], records=len(records))
            item.setdefault("title", rule.get("title"))
            item["example"] = f"{sorted(records)[0][0]} record {sorted(records)[0][1]}"
            item["logsource"] = {
                k: rule.get(k) for k in ("product", "service", "category") if rule.get(k)
            }
            suggestion.append(item)
        Path(args.suggest).write_text(
            yaml.safe_dump({"differences": suggestion}, sort_keys=False, width=100)
        )
    failures = len(unlisted) + len(wrong_count) + len(stale)
    if failures:
        print(f"FAILED: {failures} differences not as listed in {args.known}")
        return 1
    print("ok: every difference is listed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
