# Sourced by tests/bucket/run.sh and .ci/run: moto's S3 server (from PyPI, pinned) in
# target/bucket-venv. Sets `venv` and exports ANNAL_MOTO_SERVER, which tests/replica.rs starts.
venv="target/bucket-venv"
# Pinned, so a release cannot turn CI red overnight. moto brings boto3, which the bucket test
# uses to look into the bucket and to damage it.
MOTO_VERSION="5.2.5"
if ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "moto==$MOTO_VERSION"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
ANNAL_MOTO_SERVER="$(pwd)/$venv/bin/moto_server"
export ANNAL_MOTO_SERVER
