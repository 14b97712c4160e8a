#!/usr/bin/env bash
# A million-chunk knowledge base on the embedded default: load and optimise times, RSS after
# each and during searches, size on disk, hybrid search p50/p99 at concurrency 1 and 32.
# Dense vectors on disk (memory-mapped) unless --in-ram. Needs ~6.2 GB of disk (in the system
# temp dir, removed at the end) and ~20 min on 2 cores per million chunks.
# Usage: bench/scale.sh [--chunks 1000000] [--queries 2000] [--concurrency 1,32] [--in-ram] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup ./data >/dev/null
cargo build --release --bin ragway
"${CARGO_TARGET_DIR:-target}/release/ragway" bench scale "$@"
