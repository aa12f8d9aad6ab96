#!/usr/bin/env bash
# HTTP benchmarks of `annal serve` on loopback (docs/benchmarks.md, "HTTP"): needs wrk
# (Debian: apt-get install wrk) and python3. Starts a server on a fresh store of
# `annal gen ${EVENTS:-2000000}` events, then measures, one after the other:
#   1. GET /v1/events first page of 100 with a filter (wrk, 32 connections)
#   2. append → SSE delivery latency (benches/http/sse_latency.py), on the idle server
#   3. POST /v1/events, NDJSON batches of 1000 events, durable (wrk, 16 connections); last,
#      because the millions of events it adds keep the sealer and indexer busy afterwards
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
# shellcheck source=benches/http/serve.sh
source benches/http/serve.sh
seconds="${SECONDS_PER_RUN:-10}"
echo "# annal HTTP benchmarks against $base ($(nproc) cores, server and load generator on the same machine)"

echo; echo "## GET /v1/events?action=login&status=failure&limit=100 (first page, newest first)"
wrk -t2 -c32 -d"${seconds}s" --latency "$base/v1/events?action=login&status=failure&limit=100" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors" || true
echo "### the same with limit=10"
wrk -t2 -c32 -d"${seconds}s" --latency "$base/v1/events?action=login&status=failure&limit=10" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors" || true

echo; echo "## Append → SSE delivery"
python3 benches/http/sse_latency.py "$base" "${SSE_EVENTS:-500}" 10

echo; echo "## POST /v1/events, NDJSON, 1000 events per request"
wrk -t2 -c16 -d"${seconds}s" --latency -s "$post_lua" "$base/v1/events" | tee "$work/post.txt" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors" || true
rps="$(grep Requests/sec "$work/post.txt" | awk '{print $2}')"
echo "events/s durable: $(python3 -c "print(round($rps * 1000))")"
