#!/usr/bin/env bash
# Ingest throughput: the whole pipeline (parse, chunk, embed, BM25, store, queue) against the
# bare embedder on the same chunks, on the SciFact corpus (or any BEIR folder given).
# Usage: bench/ingest.sh [BEIR_DIR] [--limit N] [--threads T]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-../shared/data/scifact-train}"
shift || true
scripts/setup ./data >/dev/null
cargo build --release --bin ragway
"${CARGO_TARGET_DIR:-target}/release/ragway" bench ingest "$dir" "$@"
