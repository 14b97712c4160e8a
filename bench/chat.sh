#!/usr/bin/env bash
# ragway's added latency (p50, p99) and requests/s against an instant fake backend, without
# rag_params (pure proxy) and with rag_params over a knowledge base of 100k chunks, at
# concurrency 1, 8 and 32. Usage: bench/chat.sh [--chunks N] [--requests N] [--concurrency 1,8,32]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup ./data >/dev/null
cargo build --release --bin ragway
"${CARGO_TARGET_DIR:-target}/release/ragway" bench chat "$@"
