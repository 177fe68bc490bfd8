#!/usr/bin/env bash
# Interleaved load: Weft and the bare net/http ceiling, 3 rounds. Weft runs on the
# embedded default, or on PostgreSQL and Redis when WEFT_DATABASE_URL, WEFT_REDIS_URL and
# WEFT_KEY_ENCRYPTION_KEY are exported (see BENCHMARKS.md).
# Usage (from the repository root, binaries built as BENCHMARKS.md shows):
#   CONC="1 32" DUR=10s bash docs/bench/oauth-load-interleaved.sh
set -euo pipefail
ROOT=$(pwd)
cd /tmp/bench
rm -rf data; export WEFT_DATA_DIR=/tmp/bench/data WEFT_LISTEN=127.0.0.1:18181 WEFT_ISSUER=http://127.0.0.1:18181 WEFT_LOG_LEVEL=warn
./weft apply -f "$ROOT/examples/fabric.yaml" >/dev/null
./weft serve > weft.log 2>&1 & WP=$!
./ceiling -addr 127.0.0.1:34450 > ceiling.log 2>&1 & CP=$!
trap 'kill $WP $CP 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18181/readyz && break; sleep 0.1; done
L="$ROOT/../shared/bench/oauth-load.sh"
for round in 1 2 3; do
  uptime; head -1 /proc/pressure/cpu
  LABEL=weft TOKEN_ENDPOINT=http://127.0.0.1:18181/oauth2/token INTROSPECTION_ENDPOINT=http://127.0.0.1:18181/oauth2/introspect \
    CLIENT_ID=demo-m2m CLIENT_SECRET=demo-m2m-secret SCOPE=api.read INTROSPECT_CLIENT_ID=demo-gateway INTROSPECT_CLIENT_SECRET=demo-gateway-secret \
    CONCURRENCY="${CONC:-32}" DURATION=${DUR:-10s} $L cc introspect
  LABEL=ceiling TOKEN_ENDPOINT=http://127.0.0.1:34450/token INTROSPECTION_ENDPOINT=http://127.0.0.1:34450/introspect \
    CLIENT_ID=bench-client CLIENT_SECRET=bench-secret SCOPE="api:read api:write" \
    CONCURRENCY="${CONC:-32}" DURATION=${DUR:-10s} $L cc introspect
done
