"""The release matrix: one fixed scenario (create, chain, function call, stream, resume,
background, structured output; role/content turns for 1.x) run by several published
releases of both SDKs against the same server. Releases before 2.0 speak the earlier
schema (outputs, turns, content.* events); the server renders it from the same steps.

The releases live in cached installs made by ``scripts/sdk-venvs.sh`` (``make
sdk-venvs``, a dependency of ``make test``); the fixture runs it once if any is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Junction

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sdk-venvs.sh"
HERE = Path(__file__).parent
REQUIRE = os.environ.get("JUNCTION_REQUIRE_SDK_MATRIX") == "1"


def _releases(name: str) -> list[str]:
    match = re.search(rf'^{name}="([^"]+)"', SCRIPT.read_text(), re.M)
    assert match, f"scripts/sdk-venvs.sh lists no {name}"
    return match[1].split()


def _py_dir(version: str) -> Path:
    return ROOT / ".venv-sdk" / f"py-google-genai-{version}"


def _js_dir(version: str) -> Path:
    return ROOT / ".venv-sdk" / f"js-genai-{version}"


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def installed() -> None:
    dirs = [_py_dir(v) for v in _releases("RELEASES")]
    if shutil.which("npm"):
        dirs += [_js_dir(v) for v in _releases("JS_RELEASES")]
    if all((d / ".ready").exists() for d in dirs):
        return
    made = subprocess.run(
        ["sh", str(SCRIPT), sys.executable], capture_output=True, text=True, timeout=900
    )
    if made.returncode != 0:
        _unavailable(f"could not install the SDK releases: {made.stderr[-500:]}")


def _run(argv: list[str], junction: Junction) -> dict[str, Any]:
    done = subprocess.run(
        [*argv, junction.url, junction.api_key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _run_all(runs: dict[str, list[str]], junction: Junction) -> dict[str, dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = pool.map(lambda argv: _run(argv, junction), runs.values())
        return dict(zip(runs, results, strict=True))


def _earlier(release: str) -> bool:
    return release != "current" and int(release.split(".")[0]) < 2


def _check(release: str, seen: dict[str, Any]) -> None:
    earlier = _earlier(release)
    assert seen["create"] == ["completed", "hello matrix"], release
    assert seen["chain"] == "hello matrix | /history", release
    assert seen["function_call"] == [
        "requires_action",
        "get_weather",
        {"city": "Paris"},
        'get_weather returned "sunny"',
    ], release
    first, last, text, starts = seen["stream"]
    if earlier:
        assert [first, last] == ["interaction.start", "interaction.complete"], release
        assert starts == [0], release  # outputs are numbered from 0
    else:
        assert [first, last] == ["interaction.created", "interaction.completed"], release
        assert starts == [1], release  # steps: the user_input step is index 0
    assert text == "streamed words", release
    assert seen["stream_call"] == ["get_weather", {"city": "Oslo"}], release
    total, resumed, tail_matches = seen["resume"]
    assert 0 < resumed < total and tail_matches, release
    assert seen["background"] == ["in_progress", "completed", "later"], release
    assert seen["structured"] == ["completed", {"answer": "42"}], release
    if earlier:
        assert seen["turns"] == "earlier question | /history", release


def test_python_releases(junction: Junction, installed: None) -> None:
    scenario = str(HERE / "scenario.py")
    runs = {v: [str(_py_dir(v) / "bin" / "python"), scenario] for v in _releases("RELEASES")}
    runs["current"] = [sys.executable, scenario]
    results = _run_all(runs, junction)
    for release, seen in results.items():
        _check(release, seen)
    assert sum(_earlier(r) for r in results) >= 3


def test_javascript_releases(junction: Junction, installed: None) -> None:
    if not (shutil.which("node") and shutil.which("npm")):
        _unavailable("node and npm are needed for the @google/genai releases")
    scenario = str(HERE / "scenario.mjs")
    runs = {v: ["node", scenario, str(_js_dir(v))] for v in _releases("JS_RELEASES")}
    results = _run_all(runs, junction)
    for release, seen in results.items():
        _check(release, seen)
    assert sum(_earlier(r) for r in results) >= 3
