#!/usr/bin/env bash
# Install the Python SDK's pinned toolchain (componentize-py, pytest) into a
# virtualenv and make this checkout's edgechain_sdk importable from it.
#
#   bash guest-sdk/python/install.sh [VENV]      # default VENV: guest-sdk/python/.venv
#   OFFLINE=1 bash guest-sdk/python/install.sh   # from the wheel cache only, no network
#
# Wheels are checked against the hashes in requirements-*.txt and kept in
# $EDGECHAIN_PY_WHEELHOUSE (default guest-sdk/python/.wheelhouse), so every
# later install works offline. Needs CPython >= 3.11 ($PYTHON, default python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/.venv}
wheels=${EDGECHAIN_PY_WHEELHOUSE:-$here/.wheelhouse}
python=${PYTHON:-python3}
reqs=(-r "$here/requirements-build.txt" -r "$here/requirements-test.txt")

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "install.sh: $python is $("$python" -V 2>&1); the SDK needs CPython >= 3.11" >&2
    exit 1
}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
mkdir -p "$wheels"
if [ -z "${OFFLINE:-}" ]; then
    "$venv/bin/python" -m pip download -q --disable-pip-version-check --require-hashes \
        --only-binary=:all: -d "$wheels" "${reqs[@]}"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index \
    --find-links "$wheels" --require-hashes "${reqs[@]}"
# The SDK itself, from this checkout (like `pip install -e`, without a build backend).
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$here/src" > "$site/edgechain_sdk_checkout.pth"
echo "install.sh: $("$venv/bin/componentize-py" --version) and the SDK ready in $venv" >&2
