#!/usr/bin/env bash
# Browser tests of the web console: a real `annal serve` (embedded console files, demo data,
# API keys of every role) driven by Debian's chromium through playwright-core.
# Run from the repository root: tests/console/run.sh   (ANNAL_BIN=path/to/annal to choose
# the binary; CHROMIUM=path to choose the browser). Screenshots: target/console-screenshots/;
# UPDATE_DOCS_SCREENSHOT=1 also writes the README's docs/console.png (CI never does).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
bin=${ANNAL_BIN:-target/debug/annal}
chromium=${CHROMIUM:-/usr/bin/chromium}
# Never skip: a CI without the browser or the binary must fail, not pass quietly.
[[ -x $bin ]] || { echo "run.sh: no annal binary at $bin (build it, or set ANNAL_BIN)" >&2; exit 1; }
[[ -x $chromium ]] || { echo "run.sh: chromium is missing at $chromium (apt-get install chromium, or set CHROMIUM)" >&2; exit 1; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

(cd tests/console && npm ci --no-audit --no-fund --loglevel=error)

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

shots=$root/target/console-screenshots
rm -rf "$shots"
mkdir -p "$shots"

# One key per role: `annal apikey` prints "key (…): KEY", a blank line, then the TOML entry.
declare -A keys
echo "data = \"$work/data\"" > "$work/annal.toml"
for role in admin auditor reader producer; do
  out=$("$bin" apikey --role "$role" --name "test-$role")
  keys[$role]=$(sed -n '1s/.*: //p' <<<"$out")
  tail -n +3 <<<"$out" >> "$work/annal.toml"
  echo >> "$work/annal.toml"
done

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
url=http://127.0.0.1:$port
# Not ANNAL_CONSOLE_DIR: CI tests the console files the binary embeds.
env -u ANNAL_CONSOLE_DIR "$bin" serve --config "$work/annal.toml" --demo --demo-events 3000 \
  --listen "127.0.0.1:$port" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  curl -fsS "$url/healthz" > /dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "run.sh: annal serve exited:" >&2; cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$url/healthz" > /dev/null || { echo "run.sh: annal serve did not answer /healthz:" >&2; cat "$work/server.log" >&2; exit 1; }

# The console the binary embeds must be this one, not a placeholder of an older build.
index=$(curl -fsS "$url/")
[[ $index == *'/console/console.js'* ]] || {
  echo "run.sh: $url/ does not serve the console (the binary embeds an older copy: rebuild it)" >&2; exit 1; }

# The auditor's pinned key, taken out of band (from the data directory, not from the server).
signer_key=$(tr -d '\n' < "$work/data/checkpoint.pub")

docs_png=
[[ ${UPDATE_DOCS_SCREENSHOT:-} == 1 ]] && docs_png=$root/docs/console.png
cd tests/console
status=0
ANNAL_URL=$url ANNAL_ADMIN_KEY=${keys[admin]} ANNAL_AUDITOR_KEY=${keys[auditor]} \
  ANNAL_READER_KEY=${keys[reader]} ANNAL_PRODUCER_KEY=${keys[producer]} \
  ANNAL_SIGNER_KEY=$signer_key ANNAL_SHOTS=$shots ANNAL_DOCS_PNG=$docs_png \
  CHROMIUM=$chromium node --test --test-concurrency=1 console.test.mjs || status=$?
if [[ $status -ne 0 ]]; then
  echo "run.sh: tests failed; server log (last 40 lines):" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit "$status"
