#!/usr/bin/env python3
"""Checks STIX 2.1 bundles exported by tocsin with the OASIS tools.

For each bundle given: the OASIS stix2-validator (every MUST, and every SHOULD as a
warning), a strict parse with the OASIS stix2 library (no custom content), and the
deterministic identifiers of the cyber-observables recomputed by stix2 from their
properties. Prints one summary line per bundle; exits 1 if any bundle has an error or a
warning, or if an identifier differs.
"""

import argparse
import json
import sys

import stix2
from stix2validator import ValidationOptions, validate_string

# Observable types whose identifiers the specification derives from their properties.
DETERMINISTIC = {
    "ipv4-addr": stix2.IPv4Address,
    "ipv6-addr": stix2.IPv6Address,
    "domain-name": stix2.DomainName,
    "url": stix2.URL,
    "user-account": stix2.UserAccount,
    "file": stix2.File,
}


def messages(results):
    """The validator's errors and warnings, as text."""
    errors, warnings = [], []
    for result in results.object_results if hasattr(results, "object_results") else [results]:
        errors.extend(f"{result.object_id}: {e}" for e in result.errors)
        warnings.extend(f"{result.object_id}: {w}" for w in result.warnings)
    return errors, warnings


def identifier_problems(bundle):
    """Observables whose id is not the one stix2 derives from their properties."""
    problems = []
    for obj in bundle["objects"]:
        kind = DETERMINISTIC.get(obj["type"])
        if kind is None:
            continue
        properties = {k: v for k, v in obj.items() if k not in ("id", "type")}
        expected = kind(**properties).id
        if expected != obj["id"]:
            problems.append(f"{obj['type']} {obj['id']}: stix2 derives {expected}")
    return problems


def check(path):
    """Summary line and whether the bundle passed."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    bundle = json.loads(text)
    results = validate_string(text, ValidationOptions(version="2.1"))
    errors, warnings = messages(results)
    parsed = stix2.parse(text, allow_custom=False)
    problems = identifier_problems(bundle)
    kinds = {}
    for obj in bundle["objects"]:
        kinds[obj["type"]] = kinds.get(obj["type"], 0) + 1
    ok = results.is_valid and not errors and not warnings and not problems
    summary = (
        f"{path}: {'valid' if results.is_valid else 'INVALID'}, {len(errors)} errors, "
        f"{len(warnings)} warnings, {len(parsed.objects)} objects parsed by stix2, "
        f"{len(problems)} observable ids differing; "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    )
    for line in errors + warnings + problems:
        summary += f"\n  {line}"
    return summary, ok


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bundles", nargs="+")
    args = parser.parse_args()
    failed = 0
    for path in args.bundles:
        summary, ok = check(path)
        print(summary)
        failed += not ok
    print(f"{len(args.bundles) - failed} of {len(args.bundles)} bundles passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
