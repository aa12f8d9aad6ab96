#!/usr/bin/env bash
# Console and metrics figures (docs/benchmarks.md, "Console and /metrics"): needs wrk, curl,
# python3, node and Debian's chromium (tests/console installs playwright-core).
# On a fresh store of ${EVENTS:-2000000} generated events served by a release build:
#   1. /metrics scrape latency on the idle server (200 scrapes);
#   2. POST /v1/events throughput (wrk, NDJSON batches of 1000, durable) without and with a
#      scraper asking for /metrics every ${SCRAPE_MS:-100} ms, alternated ${ROUNDS:-3} times,
#      so the cost of scraping is measured in the same run as a ratio;
#   3. the console's first paint and the time to a filtered table, cold and warm
#      (tests/console/measure.mjs in Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in wrk curl python3 node; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
cargo build --release --quiet --bin annal
annal=target/release/annal
work="$(mktemp -d)"
pid=""
scraper=""
trap '[ -n "$scraper" ] && kill $scraper 2>/dev/null; [ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$annal" serve --data "$work/data" --listen 127.0.0.1:0 --demo --demo-events "${EVENTS:-2000000}" >"$work/out" 2>"$work/err" &
pid=$!
until grep -q "on http://" "$work/out" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.5
done
base="$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)"
sync
sleep 5
echo "# console and /metrics against $base (${EVENTS:-2000000} events, $(nproc) cores, load generator on the same machine)"

echo; echo "## /metrics scrape latency, idle server"
for _ in $(seq 1 200); do curl -s -o /dev/null -w '%{time_total}\n' "$base/metrics"; done >"$work/scrape.txt"
python3 - "$work/scrape.txt" <<'PY'
import sys
t = sorted(float(l) * 1000 for l in open(sys.argv[1]))
print(f"scrapes: {len(t)}, p50 {t[len(t)//2]:.2f} ms, p99 {t[int(len(t)*0.99)-1]:.2f} ms")
PY
curl -s "$base/metrics" | wc -c | xargs -I{} echo "exposition: {} bytes"

echo; echo "## POST /v1/events throughput without and with a scraper every ${SCRAPE_MS:-100} ms"
"$annal" gen 1000 --seed 9 >"$work/batch.ndjson"
cat >"$work/post.lua" <<LUA
local f = io.open("$work/batch.ndjson", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-ndjson"
LUA
post() {
    wrk -t2 -c16 -d"${SECONDS_PER_RUN:-10}s" -s "$work/post.lua" "$base/v1/events" | awk '/Requests\/sec/ {print $2 * 1000}'
}
interval="$(python3 -c "print(${SCRAPE_MS:-100} / 1000)")"
for round in $(seq 1 "${ROUNDS:-3}"); do
    without="$(post)"
    ( while true; do curl -s -o /dev/null "$base/metrics"; sleep "$interval"; done ) &
    scraper=$!
    with="$(post)"
    kill "$scraper"; wait "$scraper" 2>/dev/null || true; scraper=""
    echo "round $round: without $without events/s, with $with events/s, ratio $(python3 -c "print(round($with / $without, 3))")"
done

echo; echo "## console: first paint and time to a filtered table"
(cd tests/console && npm ci --no-audit --no-fund --silent)
node tests/console/measure.mjs "$base" "" "?event_type=LoginFailed&status=failure" 5
