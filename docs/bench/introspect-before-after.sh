#!/usr/bin/env bash
# Introspection before and after a change, beside the bare net/http ceiling: two Weft
# binaries and the ceiling run at once on loopback, and each round loads them in turn
# (before, after, ceiling; after, before, ceiling on even rounds, so neither always goes
# first), ROUNDS rounds (default 3). Weft runs on the embedded default, or on PostgreSQL
# and Redis when WEFT_DATABASE_URL_BEFORE/AFTER, WEFT_REDIS_URL and
# WEFT_KEY_ENCRYPTION_KEY are exported (each binary gets its own schema and Redis prefix).
# Usage (from the repository root, binaries built as BENCHMARKS.md shows):
#   BEFORE=/tmp/bench/before/weft AFTER=/tmp/bench/after/weft CONC=32 DUR=10s \
#     bash docs/bench/introspect-before-after.sh
set -euo pipefail
ROOT=$(pwd)
DIR=${BENCH_DIR:-/tmp/bench}
L="$ROOT/../shared/bench/oauth-load.sh"
export WEFT_LOG_LEVEL=warn
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
start() { # name binary port database-url
  local name=$1 bin=$2 port=$3 db=${4:-}
  rm -rf "$DIR/data-$name"
  local env=(WEFT_DATA_DIR="$DIR/data-$name" WEFT_LISTEN=127.0.0.1:$port WEFT_ISSUER=http://127.0.0.1:$port
    WEFT_REDIS_PREFIX="weft-bench-$name:" WEFT_NODE_NAME="bench-$name")
  [ -n "$db" ] && env+=(WEFT_DATABASE_URL="$db")
  env "${env[@]}" "$bin" apply -f "$ROOT/examples/fabric.yaml" >/dev/null
  env "${env[@]}" "$bin" serve > "$DIR/weft-$name.log" 2>&1 & pids+=($!)
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && return; sleep 0.1; done
  echo "weft $name did not get ready" >&2; exit 1
}
start before "$BEFORE" 18181 "${WEFT_DATABASE_URL_BEFORE:-}"
start after "$AFTER" 18182 "${WEFT_DATABASE_URL_AFTER:-}"
"$DIR/ceiling" -addr 127.0.0.1:34450 > "$DIR/ceiling.log" 2>&1 & pids+=($!)
sleep 0.5
weft() { # label port
  LABEL=$1 TOKEN_ENDPOINT=http://127.0.0.1:$2/oauth2/token INTROSPECTION_ENDPOINT=http://127.0.0.1:$2/oauth2/introspect \
    CLIENT_ID=demo-m2m CLIENT_SECRET=demo-m2m-secret SCOPE=api.read INTROSPECT_CLIENT_ID=demo-gateway INTROSPECT_CLIENT_SECRET=demo-gateway-secret \
    CONCURRENCY="${CONC:-32}" DURATION=${DUR:-10s} $L introspect
}
for round in $(seq "${ROUNDS:-3}"); do
  uptime; head -1 /proc/pressure/cpu
  if [ $((round % 2)) = 1 ]; then weft before 18181; weft after 18182; else weft after 18182; weft before 18181; fi
  LABEL=ceiling TOKEN_ENDPOINT=http://127.0.0.1:34450/token INTROSPECTION_ENDPOINT=http://127.0.0.1:34450/introspect \
    CLIENT_ID=bench-client CLIENT_SECRET=bench-secret SCOPE="api:read api:write" \
    CONCURRENCY="${CONC:-32}" DURATION=${DUR:-10s} $L introspect
done
