#!/usr/bin/env bash
# Bucket integration test: annal against a real S3 API, moto's server (from PyPI, pinned),
# started here on 127.0.0.1. Sync then restore, replica answers, the fence, a changed and a
# missing object, appends while the endpoint is down then catch-up, acknowledge-after-upload,
# and a SIGKILL loop during uploads with no acknowledged event lost after restore.
# Usage: tests/bucket/run.sh [path/to/annal]   (default: target/debug/annal, built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="target/bucket-venv"
# Pinned, so a release cannot turn CI red overnight. moto brings boto3, which the test uses to
# look into the bucket and to damage it.
MOTO_VERSION="5.2.5"
annal="${1:-target/debug/annal}"
[ -x "$annal" ] || cargo build --quiet --bin annal
if ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "moto==$MOTO_VERSION"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
exec "$venv/bin/python" tests/bucket/test_bucket.py "$annal" "$venv/bin/moto_server"
