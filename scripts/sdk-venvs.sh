#!/bin/sh
# Cached installs of published SDK releases, for the release-matrix test (tests/compat):
# google-genai in .venv-sdk/py-google-genai-<version> (a venv each) and, when npm is
# present, @google/genai in .venv-sdk/js-genai-<version>. Existing ones are kept.
# Usage: scripts/sdk-venvs.sh [python]
set -eu
PYTHON="${1:-python3}"
RELEASES="1.55.0 1.65.0 1.75.0 2.0.0 3.0.0"
JS_RELEASES="1.33.0 1.42.0 1.52.0 2.0.0 3.3.0"
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
command -v npm >/dev/null 2>&1 || exit 0
for version in $JS_RELEASES; do
    dir=".venv-sdk/js-genai-$version"
    [ -f "$dir/.ready" ] && continue
    rm -rf "$dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent "@google/genai@$version"
    touch "$dir/.ready"
done
