#!/usr/bin/env bash
# A million-chunk knowledge base on the embedded default: load and optimise times, RSS after
# each, size on disk; then, in a new process that opens the data as a restarted server would,
# hybrid search p50/p99 at concurrency 1 and 32 and that process's RSS.
# --layout disk (the default: vectors, indexes and payload on disk, an int8 copy of the
# vectors in RAM), disk-vectors (only vectors and payload on disk) or ram (the defaults).
# Needs ~6-7 GB of disk (in the system temp dir, removed at the end) and ~20 min on 2 cores
# per million chunks.
# Usage: bench/scale.sh [--chunks 1000000] [--queries 2000] [--concurrency 1,32] [--layout disk] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup ./data >/dev/null
cargo build --release --bin ragway
"${CARGO_TARGET_DIR:-target}/release/ragway" bench scale "$@"
