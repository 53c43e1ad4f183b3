#!/bin/sh
# Cached virtualenvs with published google-genai releases, for the release-matrix test
# (tests/compat). Each release gets .venv-sdk/py-google-genai-<version>; existing ones
# are kept. Usage: scripts/sdk-venvs.sh [python]
set -eu
PYTHON="${1:-python3}"
RELEASES="1.55.0 1.65.0 1.75.0 2.0.0 3.0.0"
cd "$(dirname "$0")/.."
mkdir -p .venv-sdk
for version in $RELEASES; do
    venv=".venv-sdk/py-google-genai-$version"
    [ -f "$venv/.ready" ] && continue
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "google-genai==$version"
    touch "$venv/.ready"
done
