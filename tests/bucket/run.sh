#!/usr/bin/env bash
# Bucket integration test: annal against a real S3 API, moto's server (from PyPI, pinned),
# started here on 127.0.0.1. Sync then restore, replica answers, the fence, a changed and a
# missing object, appends while the endpoint is down then catch-up, acknowledge-after-upload,
# and a SIGKILL loop during uploads with no acknowledged event lost after restore
# (ANNAL_BUCKET_KILLS kills, default 6).
# Usage: tests/bucket/run.sh [path/to/annal]   (default: target/debug/annal, built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/bucket/venv.sh
source tests/bucket/venv.sh
annal="${1:-target/debug/annal}"
[ -x "$annal" ] || cargo build --quiet --bin annal
exec "$venv/bin/python" tests/bucket/test_bucket.py "$annal" "$venv/bin/moto_server"
