#!/usr/bin/env bash
# The longer Schemathesis run: scripts/schemathesis with more examples per operation (default
# 100; CI runs 10), every check and phase, against the debug binary; prints the operations,
# the test cases and the failures, and keeps the JSON report in target/schemathesis-long.json.
# Usage: bench/schemathesis.sh [--examples N]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=100
if [[ "${1:-}" == "--examples" ]]; then examples="$2"; fi
data="${RAGWAY_TEST_DATA_DIR:-./data}"
scripts/setup "$data" >/dev/null
scripts/schemathesis setup >/dev/null
cargo build --bin ragway
target="${CARGO_TARGET_DIR:-target}"
report="$(cd "$target" && pwd)/schemathesis-long.json"
started=$(date +%s)
status=0
scripts/schemathesis run --examples "$examples" --data "$data" -- --report json --report-json-path "$report" || status=$?
python3 - "$report" "$examples" "$(( $(date +%s) - started ))" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
summary = report.get("summary", report)
print(json.dumps(summary, indent=1)[:4000])
print(f"examples per operation: {sys.argv[2]}, wall time: {sys.argv[3]} s")
PY
exit $status
