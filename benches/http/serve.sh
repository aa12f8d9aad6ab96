# Sourced by the HTTP benchmarks (benches/http/run.sh, benches/console/run.sh): a release
# `annal serve` on a fresh store of ${EVENTS:-2000000} generated events, synced to disk before
# anything is measured, and the wrk script that POSTs one NDJSON batch of 1000 events.
# Sets `annal`, `work`, `base`, `pid` and `post_lua`; `bench_cleanup` stops the server and any
# pid in `extra_pid`, and removes `work`.

cargo build --release --quiet --bin annal
annal=target/release/annal
work="$(mktemp -d)"
pid=""
extra_pid=""
bench_cleanup() {
    [ -n "$extra_pid" ] && kill "$extra_pid" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap bench_cleanup EXIT

"$annal" serve --data "$work/data" --listen 127.0.0.1:0 --demo --demo-events "${EVENTS:-2000000}" >"$work/out" 2>"$work/err" &
pid=$!
until grep -q "on http://" "$work/out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.5
done
base="$(grep -o 'http://[0-9.:]*' "$work/out" | head -1)"
# Let the kernel write back the freshly generated store before measuring anything.
sync
sleep 5

"$annal" gen 1000 --seed 9 >"$work/batch.ndjson"
post_lua="$work/post.lua"
cat >"$post_lua" <<LUA
local f = io.open("$work/batch.ndjson", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-ndjson"
LUA
