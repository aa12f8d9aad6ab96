# Sourced by the contract tests: the venv with the pinned PyPI tools, and a live `annal serve`
# with keys of every role over a store of generated events. Sets `venv`, `base`, `work` and
# the keys; the server stops and its data directory goes when the sourcing script exits.

venv="target/contract-venv"
# Pinned, so a release of either cannot turn CI red overnight.
SCHEMATHESIS_VERSION="4.32.5"
OPENAPI_PYTHON_CLIENT_VERSION="0.29.1"
# What the generated client imports beyond httpx and attrs (which the generator brings).
DATEUTIL_VERSION="2.9.0.post0"
# Fixed keys of a throwaway server on loopback: only their hashes go into the configuration.
ADMIN_KEY="contract-admin-key"
PRODUCER_KEY="contract-producer-key"
READER_KEY="contract-reader-key"
AUDITOR_KEY="contract-auditor-key"
# Events in the store: enough for several pages of every route, few enough to load in seconds.
CONTRACT_EVENTS="${ANNAL_CONTRACT_EVENTS:-3000}"

contract_venv() {
    local want=("schemathesis==$SCHEMATHESIS_VERSION"
        "openapi-python-client==$OPENAPI_PYTHON_CLIENT_VERSION"
        "python-dateutil==$DATEUTIL_VERSION")
    local have
    have="$("$venv/bin/pip" freeze 2>/dev/null || true)"
    for w in "${want[@]}"; do
        if ! grep -qx "$w" <<<"$have"; then
            python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet --disable-pip-version-check "${want[@]}"
            return
        fi
    done
}

server_pid=""
contract_cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}

contract_serve() {
    local annal="$1"
    [ -x "$annal" ] || cargo build --quiet --bin annal
    work="$(mktemp -d)"
    trap contract_cleanup EXIT
    hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
    cat >"$work/annal.toml" <<TOML
[[api_keys]]
name = "contract-admin"
role = "admin"
sha256 = "$(hash "$ADMIN_KEY")"

[[api_keys]]
name = "contract-producer"
role = "producer"
sha256 = "$(hash "$PRODUCER_KEY")"

[[api_keys]]
name = "contract-reader"
role = "reader"
sha256 = "$(hash "$READER_KEY")"

[[api_keys]]
name = "contract-auditor"
role = "auditor"
sha256 = "$(hash "$AUDITOR_KEY")"
TOML
    "$annal" serve --config "$work/annal.toml" --data "$work/data" --listen 127.0.0.1:0 \
        --demo --demo-events "$CONTRACT_EVENTS" >"$work/out" 2>"$work/err" &
    server_pid=$!
    for _ in $(seq 1 300); do
        grep -q "on http://" "$work/out" 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
        sleep 0.2
    done
    base="$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)"
    [ -n "$base" ] || { echo "annal serve did not start" >&2; cat "$work/err" >&2; exit 1; }
    echo "contract test against $base ($CONTRACT_EVENTS events, keys of every role)"
}
