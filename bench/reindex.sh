#!/usr/bin/env bash
# Re-index while searching: a knowledge base built from the SciFact corpus (or any BEIR folder
# given) is re-indexed to other chunk sizes while a loop searches it; prints the job's rate and
# search latency before and during, with the number of empty or failed searches.
# Usage: bench/reindex.sh [BEIR_DIR] [--limit N] [--max-tokens T] [--threads T]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-../shared/data/scifact-train}"
shift || true
scripts/setup ./data >/dev/null
cargo build --release --bin ragway
"${CARGO_TARGET_DIR:-target}/release/ragway" bench reindex "$dir" "$@"
