#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target of fuzz/ for SECONDS each (default 60) and prints, per target,
# the execs, exec/s, crashes and corpus size; with --json, one JSON object per line (the last
# one the totals). Exits non-zero when any target crashed (the input is in
# fuzz/artifacts/<target>/). Needs `cargo +nightly` and cargo-fuzz (scripts/fuzz-ci checks).
# Usage: bench/fuzz.sh [SECONDS_PER_TARGET] [--json] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=60
json=0
only=()
for arg in "$@"; do
  case "$arg" in
    --json) json=1 ;;
    ''|*[!0-9]*) only+=("$arg") ;;
    *) secs="$arg" ;;
  esac
done

cargo +nightly fuzz build >&2
if [ ${#only[@]} -gt 0 ]; then targets=("${only[@]}"); else mapfile -t targets < <(cargo +nightly fuzz list); fi

total_execs=0 total_crashes=0
for t in "${targets[@]}"; do
  # New inputs go to work/ (not committed); the committed seeds in corpus/ are only read.
  mkdir -p "work/$t" "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  log=$(mktemp)
  # -timeout: one input taking 10 s is a finding too; -rss_limit_mb: so is one using 2 GiB.
  set +e
  cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  after=$(find "artifacts/$t" -type f | wc -l)
  crashes=$(( after - before ))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(find "work/$t" "corpus/$t" -type f | wc -l)
  bytes=$(cat "work/$t"/* "corpus/$t"/* 2>/dev/null | wc -c)
  execs=${execs:-0} rate=${rate:-0}
  total_execs=$(( total_execs + execs ))
  total_crashes=$(( total_crashes + crashes ))
  if [ "$json" -eq 1 ]; then
    printf '{"target":"%s","seconds":%s,"execs":%s,"exec_per_sec":%s,"crashes":%s,"corpus_files":%s,"corpus_bytes":%s}\n' \
      "$t" "$secs" "$execs" "$rate" "$crashes" "$files" "$bytes"
  else
    printf '%-18s %10s execs %8s exec/s %3s crashes  corpus %5s files %9s bytes\n' \
      "$t" "$execs" "$rate" "$crashes" "$files" "$bytes"
  fi
  if [ "$crashes" -gt 0 ]; then
    echo "fuzz: $t crashed (exit $rc); input in fuzz/artifacts/$t/; log tail:" >&2
    grep -E "ERROR|panicked|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
  fi
  rm -f "$log"
done
if [ "$json" -eq 1 ]; then
  printf '{"target":"total","seconds":%s,"execs":%s,"crashes":%s}\n' "$secs" "$total_execs" "$total_crashes"
else
  printf '%-18s %10s execs %22s crashes\n' total "$total_execs" "$total_crashes"
fi
[ "$total_crashes" -eq 0 ]
