#!/usr/bin/env bash
# The scale-out topology of docker-compose.yml as processes on loopback: 2 `ragway serve`
# replicas (HTTP only) and 2 `ragway worker` processes, configured as compose configures
# them, on a fresh database of a RUNNING PostgreSQL and a RUNNING Qdrant server. It builds
# and downloads nothing. `ragway bench topology` drives each step over HTTP; this script only
# starts, kills and restarts the processes between the steps:
#   upload the corpus through both replicas at once (the last --overlap documents through
#   both, simultaneously) -> ingest rate with 1 worker -> start worker 2 -> rate with 2
#   workers -> kill -9 worker 1 mid-ingest -> restart it -> settle -> check (no document
#   lost or duplicated, Qdrant points = chunk_count sums) -> search p50/p99 through replica 2
#   -> re-index through replica 1 while searching through replica 2 -> check -> report.
#
# Usage: bench/topology.sh --postgres URL --qdrant URL --ragway BIN --corpus DIR
#          [--models DIR] [--limit N] [--overlap N] [--window N] [--port-base P] [--json] [--keep]
#   --postgres   a PostgreSQL server URL whose user may CREATE DATABASE (a fresh database is
#                made there, and dropped at the end unless --keep)
#   --qdrant     the Qdrant server's gRPC URL, e.g. http://127.0.0.1:6334
#   --ragway     a built ragway binary (release, for figures)
#   --corpus     a BEIR-layout folder (corpus.jsonl, queries.jsonl), e.g. SciFact
#   --models     a data dir prepared by scripts/setup (models/, runtime/); default ./data
#   --window     documents per throughput measurement (default 500)
set -euo pipefail

postgres="" qdrant="" ragway="" corpus="" models="./data" limit="" overlap=100 window=500
port_base=18080 json="" keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) postgres="$2"; shift 2 ;;
    --qdrant) qdrant="$2"; shift 2 ;;
    --ragway) ragway="$2"; shift 2 ;;
    --corpus) corpus="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    --overlap) overlap="$2"; shift 2 ;;
    --window) window="$2"; shift 2 ;;
    --port-base) port_base="$2"; shift 2 ;;
    --json) json="--json"; shift ;;
    --keep) keep=1; shift ;;
    *) echo "unknown argument: $1 (see the usage at the top of $0)" >&2; exit 2 ;;
  esac
done
for v in postgres qdrant ragway corpus; do
  [ -n "${!v}" ] || { echo "--$v is required (see the usage at the top of $0)" >&2; exit 2; }
done
ragway="$(cd "$(dirname "$ragway")" && pwd)/$(basename "$ragway")"
models="$(cd "$models" && pwd)"
[ -x "$ragway" ] || { echo "$ragway is not an executable" >&2; exit 2; }
[ -f "$models/models/all-minilm-l6-v2/model.onnx" ] || { echo "$models has no model: run scripts/setup $models" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/ragway-topology.XXXXXX")"
db="ragway_topology_$$"
database="${postgres%/*}/$db"
admin_token="topology-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
declare -A pids=()

cleanup() {
  for name in "${!pids[@]}"; do kill "${pids[$name]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "$keep" ]; then
    psql "$postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
  else
    echo "kept: database $database, logs and state in $work" >&2
  fi
}
trap cleanup EXIT
psql "$postgres" -qc "CREATE DATABASE $db" >/dev/null

# What docker-compose.yml gives every ragway service (x-ragway-env), with the model files
# the image keeps in its data dir taken from --models instead. Each process has a data dir
# of its own, as each container does.
common_env=(
  "RAGWAY__DATABASE__URL=$database"
  "RAGWAY__VECTOR_STORE__URL=$qdrant"
  "RAGWAY__AUTH__ADMIN_TOKEN=$admin_token"
  "RAGWAY__AUTH__DEV_BOOTSTRAP=false"
  "RAGWAY__LOG__FORMAT=json"
  "RAGWAY__EMBEDDING__MODEL_DIR=$models/models/all-minilm-l6-v2"
  "RAGWAY__EMBEDDING__ONNXRUNTIME_PATH=$models/runtime/libonnxruntime.so"
)

start_serve() { # name port
  mkdir -p "$work/$1"
  env -u RAGWAY_CONFIG -u OPENAI_BASE_URL "${common_env[@]}" "RAGWAY__DATA_DIR=$work/$1" \
    RAGWAY__SERVER__BIND="127.0.0.1:$2" RAGWAY__INGEST__WORKERS=0 RAGWAY__JOBS__WORKERS=0 \
    "$ragway" serve >"$work/$1.log" 2>&1 &
  pids[$1]=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return 0
    kill -0 "${pids[$1]}" 2>/dev/null || { echo "$1 exited; see $work/$1.log" >&2; tail -5 "$work/$1.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "$1 did not become ready; see $work/$1.log" >&2; exit 1
}

start_worker() { # name
  mkdir -p "$work/$1"
  env -u RAGWAY_CONFIG -u OPENAI_BASE_URL "${common_env[@]}" "RAGWAY__DATA_DIR=$work/$1" \
    "$ragway" worker --concurrency 2 --jobs 1 >>"$work/$1.log" 2>&1 &
  pids[$1]=$!
}

drive() { "$ragway" bench topology --state "$work/state.json" "$@"; }

a="http://127.0.0.1:$port_base" b="http://127.0.0.1:$((port_base + 1))"
start_serve serve1 "$port_base"
start_serve serve2 "$((port_base + 1))"
start_worker worker1
drive setup --replica "$a" --replica "$b" --admin-token "$admin_token" \
  --database "$database" --qdrant "$qdrant"
drive upload "$corpus" ${limit:+--limit "$limit"} --overlap "$overlap"
drive measure --label "1 worker" --docs "$window" --warmup 20
start_worker worker2
drive measure --label "2 workers" --docs "$window" --warmup 20
drive event --name "kill -9 worker1"
kill -9 "${pids[worker1]}"
unset 'pids[worker1]'
# Worker 2 alone, while worker 1's claimed documents wait out their lease (60 s).
drive measure --label "1 worker, after kill -9" --docs 100
start_worker worker1
drive event --name "worker1 restarted"
drive settle
drive check --label "after ingest"
drive search --via 1 --queries "$corpus/queries.jsonl" --n 300
drive reindex --via 0 --search-via 1 --queries "$corpus/queries.jsonl" --max-tokens 200
drive check --label "after re-index"
drive report $json
