"""The release matrix: one fixed scenario (create, chain, function call, stream, resume,
background, structured output) run by several published google-genai releases against
the same server. Releases before 2.0 speak the earlier schema (outputs, role/content
turns, content.* events); the server renders it from the same stored steps.

The releases live in cached venvs made by ``scripts/sdk-venvs.sh`` (``make sdk-venvs``,
a dependency of ``make test``); the fixture runs it once if they are missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Junction

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sdk-venvs.sh"
SCENARIO = Path(__file__).with_name("scenario.py")
REQUIRE = os.environ.get("JUNCTION_REQUIRE_SDK_MATRIX") == "1"


def _releases() -> list[str]:
    match = re.search(r'^RELEASES="([^"]+)"', SCRIPT.read_text(), re.M)
    assert match, "scripts/sdk-venvs.sh lists no RELEASES"
    return match[1].split()


def _python(version: str) -> Path:
    return ROOT / ".venv-sdk" / f"py-google-genai-{version}" / "bin" / "python"


@pytest.fixture(scope="session")
def pythons() -> dict[str, Path]:
    """Interpreter per release; the current one is the project's own SDK."""
    releases = _releases()
    if not all((_python(v).parent.parent / ".ready").exists() for v in releases):
        made = subprocess.run(
            ["sh", str(SCRIPT), sys.executable], capture_output=True, text=True, timeout=900
        )
        if made.returncode != 0:
            reason = f"could not install the SDK releases: {made.stderr[-500:]}"
            if REQUIRE:
                pytest.fail(reason)
            pytest.skip(reason)
    found = {v: _python(v) for v in releases}
    found["current"] = Path(sys.executable)
    return found


def _run(python: Path, junction: Junction) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), str(SCENARIO), junction.url, junction.api_key],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_every_release_runs_the_scenario(junction: Junction, pythons: dict[str, Path]) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(
            zip(pythons, pool.map(lambda p: _run(p, junction), pythons.values()), strict=True)
        )
    for release, seen in results.items():
        earlier = release != "current" and int(release.split(".")[0]) < 2
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
        total, resumed, tail_matches = seen["resume"]
        assert resumed > 0 and resumed < total and tail_matches, release
        assert seen["background"] == ["in_progress", "completed", "later"], release
        assert seen["structured"] == ["completed", {"answer": "42"}], release
        if earlier:
            assert seen["turns"] == "earlier question | /history", release
    assert sum(1 for r in results if r != "current" and int(r.split(".")[0]) < 2) >= 3
