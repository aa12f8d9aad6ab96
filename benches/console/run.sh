#!/usr/bin/env bash
# Console and metrics figures (docs/benchmarks.md, "Console and /metrics"): needs wrk, curl,
# python3, node and Debian's chromium (tests/console installs playwright-core).
# On a fresh store of ${EVENTS:-2000000} generated events served by a release build:
#   1. the console's first paint and the time to a filtered table, cold and warm
#      (tests/console/measure.mjs in Debian's chromium), on the fresh store;
#   2. /metrics scrape latency on the idle server (200 scrapes over one connection);
#   3. POST /v1/events throughput (wrk, NDJSON batches of 1000, durable) with no scraper, with
#      a scraper asking for /healthz every ${SCRAPE_MS:-100} ms (the control: the same
#      requests, no metrics work) and with one asking for /metrics as often, rotated
#      ${ROUNDS:-3} times, so the cost of scraping is measured in the same run as a ratio.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in wrk curl python3 node; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
# shellcheck source=benches/http/serve.sh
source benches/http/serve.sh
echo "# console and /metrics against $base (${EVENTS:-2000000} events, $(nproc) cores, load generator on the same machine)"

if [ "${SKIP_CONSOLE:-}" != 1 ]; then
    echo; echo "## console: first paint and time to a filtered table (fresh store)"
    (cd tests/console && npm ci --no-audit --no-fund --silent)
    node tests/console/measure.mjs "$base" "" "?event_type=LoginFailed&status=failure" 5
fi

# A scraper over one kept-alive connection, so its own cost is one request, not a process.
cat >"$work/scrape.py" <<'PY'
import http.client, sys, time
host, port = sys.argv[1].split(":")
path, interval, count = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
conn = http.client.HTTPConnection(host, int(port), timeout=30)
took = []
n = 0
while count == 0 or n < count:
    t = time.perf_counter()
    conn.request("GET", path)
    conn.getresponse().read()
    took.append((time.perf_counter() - t) * 1000)
    n += 1
    if interval:
        time.sleep(interval)
if count:
    took.sort()
    print(f"{path}: {len(took)} scrapes, p50 {took[len(took)//2]:.2f} ms, p99 {took[int(len(took)*0.99)-1]:.2f} ms")
PY
hostport="${base#http://}"
echo; echo "## /metrics scrape latency, idle server"
python3 "$work/scrape.py" "$hostport" /metrics 0 200
curl -s "$base/metrics" | wc -c | xargs -I{} echo "exposition: {} bytes"

echo; echo "## POST /v1/events throughput: no scraper, /healthz and /metrics every ${SCRAPE_MS:-100} ms"
post() {
    wrk -t2 -c16 -d"${SECONDS_PER_RUN:-10}s" -s "$post_lua" "$base/v1/events" | awk '/Requests\/sec/ {print $2 * 1000}'
}
interval="$(python3 -c "print(${SCRAPE_MS:-100} / 1000)")"
with_scraper() {
    python3 "$work/scrape.py" "$hostport" "$1" "$interval" 0 &
    extra_pid=$!
    post
    kill "$extra_pid"; wait "$extra_pid" 2>/dev/null || true; extra_pid=""
}
# The order rotates from round to round: the store grows by millions of events per run, so
# a fixed order would charge that growth to whichever kind runs last.
run_kind() {
    case "$1" in
        none) post ;;
        *) with_scraper "$1" ;;
    esac
}
kinds=(none /healthz /metrics)
for round in $(seq 1 "${ROUNDS:-3}"); do
    declare -A got=()
    for k in 0 1 2; do
        kind="${kinds[$(( (k + round - 1) % 3 ))]}"
        got[$kind]="$(run_kind "$kind")"
    done
    echo "round $round: events/s none ${got[none]}, /healthz ${got[/healthz]}, /metrics ${got[/metrics]}; /metrics vs /healthz $(python3 -c "print(round(${got[/metrics]} / ${got[/healthz]}, 3))")"
done
