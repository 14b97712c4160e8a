#!/usr/bin/env bash
# Load and soak: a real `ragway serve` (release build, loopback, a throw-away data dir) under
# 200 concurrent streaming chats with rag_params and 16 uploaders that wait for their
# documents, with a re-index in the middle, against an instant fake backend the bench serves.
# Bounded in time (--warmup + --duration seconds) and requests (--max-requests). Prints answers
# by status, p50/p99 per route and the server's RSS before, after warm-up and at the end.
# Usage: bench/load.sh [--duration 600] [--warmup 60] [--chats 200] [--uploaders 16]
#                      [--database-url postgres://…/an_empty_database] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup ./data >/dev/null
cargo build --release --bin ragway
"${CARGO_TARGET_DIR:-target}/release/ragway" bench load "$@"
