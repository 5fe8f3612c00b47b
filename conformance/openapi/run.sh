#!/usr/bin/env bash
# Runs schemathesis (requirements.txt beside this file) against a running `tocsin serve`:
#
#   TOCSIN_SCHEMATHESIS_TOKEN=TOKEN run.sh PYTHON http://ADDR
#
# PYTHON is the venv's python, ADDR where the service listens, TOKEN an admin token (the
# document itself needs one). It reads the document the service serves at
# /api/v1/openapi.json and runs every check schemathesis has (`--checks all`): no 5xx; each
# status code, content type, documented header and body as the document says; schema-valid
# requests accepted and schema-invalid ones refused; no route that ignores its token; 405
# with Allow for the methods a route does not have. All phases (examples, coverage,
# fuzzing, stateful sequences over the document's links). A bounded number of examples per
# operation and a fixed seed keep a run short and repeatable; TOCSIN_SCHEMATHESIS_EXAMPLES
# and TOCSIN_SCHEMATHESIS_SEED change them. Exits with schemathesis' status (0: no failure).
set -euo pipefail

if [ $# -ne 2 ] || [ -z "${TOCSIN_SCHEMATHESIS_TOKEN:-}" ]; then
    echo "usage: TOCSIN_SCHEMATHESIS_TOKEN=TOKEN $0 PYTHON http://ADDR" >&2
    exit 2
fi
python=$1
base=${2%/}

# Nothing is written where it runs: no example database, no report.
here=$(cd "$(dirname "$0")" && pwd)
exec "$python" -m schemathesis.cli --config-file "$here/schemathesis.toml" \
    run "$base/api/v1/openapi.json" \
    --header "Authorization: Bearer $TOCSIN_SCHEMATHESIS_TOKEN" \
    --max-examples "${TOCSIN_SCHEMATHESIS_EXAMPLES:-100}" \
    --seed "${TOCSIN_SCHEMATHESIS_SEED:-17}" \
    --generation-database none \
    --workers 1 \
    --request-timeout 30 \
    --no-color
