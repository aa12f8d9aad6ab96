#!/usr/bin/env bash
# Smoke run of every fuzz target: build them all once, then run each for FUZZ_SECONDS
# (default 5) from a scratch copy of its committed seeds (fuzz/corpus/<target>/seed-*), so the
# run adds nothing to the repository. Prints each target's executions; exits non-zero if any
# target crashes, hangs (a single input running over FUZZ_TIMEOUT seconds, default 10) or
# runs out of memory. Crash inputs are written to fuzz/artifacts/<target>/ (ignored by git).
#
#   bash fuzz/smoke.sh                      # every target, 5 s each
#   FUZZ_SECONDS=60 bash fuzz/smoke.sh      # longer
#   bash fuzz/smoke.sh wal_scan http_query  # only these
#   FUZZ_BUILD_FLAGS="-O -a" bash fuzz/smoke.sh   # with debug assertions and overflow checks
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
seconds="${FUZZ_SECONDS:-5}"
timeout="${FUZZ_TIMEOUT:-10}"
read -r -a build_flags <<<"${FUZZ_BUILD_FLAGS:--O}"

if ! command -v rustup >/dev/null || ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz smoke: SKIPPED: no nightly toolchain (rustup toolchain install nightly); cargo-fuzz needs one" >&2
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

start=$(date +%s)
echo "fuzz smoke: building ${#targets[@]} targets (cargo +nightly fuzz build ${build_flags[*]})"
cargo +nightly fuzz build "${build_flags[@]}"
built=$(date +%s)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/annal-fuzz-smoke.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=()
rows=()
for t in "${targets[@]}"; do
    corpus="$scratch/corpus/$t"
    mkdir -p "$corpus" "artifacts/$t"
    seeds=0
    for f in "corpus/$t"/seed-*; do
        [ -e "$f" ] || continue
        cp "$f" "$corpus/"
        seeds=$((seeds + 1))
    done
    log="$scratch/$t.log"
    status=ok
    if ! cargo +nightly fuzz run "${build_flags[@]}" "$t" "$corpus" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 >"$log" 2>&1; then
        status=FAILED
        failed+=("$t")
    fi
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    if [ -z "$runs" ]; then
        runs=$(sed -n 's/^#\([0-9]*\)[[:space:]]*DONE.*/\1/p' "$log" | tail -n 1)
    fi
    runs=${runs:-?}
    per_sec=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    rows+=("$(printf '%-16s %6s %12s %10s %6s' "$t" "$status" "$runs" "${per_sec:-?}" "$seeds")")
    if [ "$status" != ok ]; then
        echo "---- $t failed; the end of its log:" >&2
        tail -n 40 "$log" >&2
        echo "---- crash inputs, if any, are in fuzz/artifacts/$t/" >&2
    fi
done

end=$(date +%s)
printf '%-16s %6s %12s %10s %6s\n' target status executions exec/s seeds
printf '%s\n' "${rows[@]}"
echo "fuzz smoke: ${#targets[@]} targets, ${seconds}s each; build $((built - start))s, total $((end - start))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz smoke: FAILED: ${failed[*]}" >&2
    exit 1
fi
