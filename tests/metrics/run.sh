#!/usr/bin/env bash
# /metrics against real Prometheus tools: `promtool check metrics` lints the exposition of a
# live `annal serve`, then a real Prometheus server scrapes it for a few seconds (the main
# address with a reader's key, and the separate `[metrics] listen` address without one) and
# its query API must return annal's series with the values annal reports.
# Needs Debian's `prometheus` package (promtool and prometheus); .ci/run installs it.
# Usage: tests/metrics/run.sh [path/to/annal]   (default: target/debug/annal, built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
annal="${1:-target/debug/annal}"
[ -x "$annal" ] || cargo build --quiet --bin annal
for tool in promtool prometheus curl python3; do
    command -v "$tool" >/dev/null || { echo "tests/metrics needs $tool (Debian: apt-get install prometheus curl python3)" >&2; exit 1; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
READER_KEY="metrics-reader-key"
PRODUCER_KEY="metrics-producer-key"
metrics_port="$(free_port)"
prom_port="$(free_port)"
cat >"$work/annal.toml" <<TOML
[[api_keys]]
name = "scraper"
role = "reader"
sha256 = "$(hash "$READER_KEY")"

[[api_keys]]
name = "producer"
role = "producer"
sha256 = "$(hash "$PRODUCER_KEY")"

[metrics]
access = "reader"
listen = "127.0.0.1:$metrics_port"
TOML
"$annal" --log-format json serve --config "$work/annal.toml" --data "$work/data" --listen 127.0.0.1:0 \
    --demo --demo-events 2000 >"$work/out" 2>"$work/err" &
pids+=($!)
for _ in $(seq 1 300); do
    grep -q "on http://" "$work/out" 2>/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.2
done
base="$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)"
[ -n "$base" ] || { echo "annal serve did not start" >&2; cat "$work/err" >&2; exit 1; }
echo "metrics test against $base (and /metrics alone on 127.0.0.1:$metrics_port)"

# Appends of several sizes, so the group-commit and fdatasync histograms have observations.
for n in 1 5 50; do
    body="[$(for i in $(seq 1 "$n"); do printf '{"event_type":"MetricsProbe","actor_id":"probe%s"},' "$i"; done | sed 's/,$//')]"
    curl -sf -o /dev/null -H "X-API-Key: $PRODUCER_KEY" -H 'Content-Type: application/json' -d "$body" "$base/v1/events"
done
events=$((2000 + 1 + 5 + 50))

code="$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")"
[ "$code" = 401 ] || { echo "/metrics without a key answered $code, not 401" >&2; exit 1; }
curl -sf -H "X-API-Key: $READER_KEY" "$base/metrics" >"$work/exposition.txt"
echo "== promtool check metrics ($(wc -l <"$work/exposition.txt") lines)"
promtool check metrics <"$work/exposition.txt"
curl -sf "http://127.0.0.1:$metrics_port/metrics" | promtool check metrics
grep -q "^annal_trail_events $events" "$work/exposition.txt" || { echo "annal_trail_events is not $events" >&2; grep annal_trail_events "$work/exposition.txt" >&2; exit 1; }

# Every answer is one JSON log line with its request id, route, status and latency.
python3 - "$work/err" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
answered = [l for l in lines if l.get("fields", {}).get("message") == "answered"]
assert answered, "no JSON request log line"
for l in answered:
    span, fields = l["span"], l["fields"]
    assert len(span["request_id"]) >= 1 and span["route"] and span["method"], l
    assert isinstance(fields["status"], int) and fields["latency_ms"] >= 0, l
statuses = {(l["span"]["route"], l["fields"]["status"]) for l in answered}
assert ("/metrics", 401) in statuses and ("/v1/events", 200) in statuses, statuses
print(f"{len(answered)} JSON request log lines, each with request_id, route, status, latency_ms")
PY

echo "== a real Prometheus scrapes annal"
main_target="${base#http://}"
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: annal
    authorization:
      type: Bearer
      credentials: $READER_KEY
    static_configs:
      - targets: ["$main_target"]
  - job_name: annal-metrics-port
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
YML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
query() {
    curl -sf --get --data-urlencode "query=$1" "http://127.0.0.1:$prom_port/api/v1/query" 2>/dev/null || true
}
# Prometheus answers `[]` until its first scrapes land: ask until both jobs are up.
ok=""
for _ in $(seq 1 120); do
    up="$(query 'sum(up{job=~"annal|annal-metrics-port"})')"
    if python3 -c 'import json,sys; r=json.loads(sys.argv[1])["data"]["result"]; sys.exit(0 if r and float(r[0]["value"][1])==2 else 1)' "$up" 2>/dev/null; then
        ok=1
        break
    fi
    kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/prometheus.log" >&2; exit 1; }
    sleep 0.5
done
[ -n "$ok" ] || { echo "Prometheus never scraped both annal targets: $up" >&2; tail -20 "$work/prometheus.log" >&2; exit 1; }
check() {
    local q="$1" want="$2" got
    got="$(query "$q")"
    python3 - "$got" "$want" "$q" <<'PY'
import json, sys
got, want, q = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
result = got["data"]["result"]
assert result, f"Prometheus has no series for {q}"
values = [float(r["value"][1]) for r in result]
if want.startswith(">"):
    assert all(v > float(want[1:]) for v in values), (q, values)
else:
    assert all(v == float(want) for v in values), (q, values, want)
print(f"{q}: {values}")
PY
}
check 'annal_trail_events' "$events"
check 'annal_appended_events_total' ">0"
check 'annal_wal_fdatasync_seconds_count' ">0"
check 'annal_group_commit_events_bucket{le="+Inf"}' ">0"
check 'annal_checkpoint_size' ">0"
check 'annal_verify_last_ok' "1"
check 'process_resident_memory_bytes' ">0"
check 'sum(annal_http_responses_total{route="/v1/events",status="200"})' ">0"
check 'histogram_quantile(0.5, sum by (le) (annal_http_request_duration_seconds_bucket))' ">0"
echo "metrics test passed"
