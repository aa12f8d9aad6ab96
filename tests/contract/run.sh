#!/usr/bin/env bash
# Contract test: schemathesis (from PyPI) against the OpenAPI document of a live `annal serve`.
# Fails on any 5xx, any response that breaks its schema, status code or content type.
# Usage: tests/contract/run.sh [path/to/annal]   (default: target/debug/annal, built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."

annal="${1:-target/debug/annal}"
[ -x "$annal" ] || cargo build --quiet --bin annal
venv="target/contract-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$annal" serve --data "$work/data" --listen 127.0.0.1:0 --demo --demo-events 5000 >"$work/out" 2>"$work/err" &
server_pid=$!
for _ in $(seq 1 300); do
    grep -q "on http://" "$work/out" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.2
done
base="$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)"
[ -n "$base" ] || { echo "annal serve did not start" >&2; exit 1; }
echo "contract test against $base"

# The live stream never ends by design (it waits for new events), which schemathesis cannot
# consume; tests/http.rs checks it against the same schema instead.
"$venv/bin/schemathesis" run "$base/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "${ANNAL_CONTRACT_EXAMPLES:-30}" \
    --request-timeout 20 \
    --generation-deterministic \
    --exclude-path /v1/events/stream
