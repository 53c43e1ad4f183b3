"""The README's examples run as written (only the key and the base URL are swapped for
the test server's): the Python tour, the offline agent example, and the curl call."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from google import genai

from tests.conftest import Junction

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def localise(code: str, junction: Junction) -> str:
    assert "jk_…" in code or "client." in code
    return code.replace("jk_…", junction.api_key).replace("http://127.0.0.1:8080", junction.url)


def run_python(code: str, namespace: dict[str, object]) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)
    return out.getvalue().splitlines()


def test_python_tour_runs_as_written(junction: Junction) -> None:
    tour, _agent = blocks("python")
    lines = run_python(localise(tour, junction), {})
    assert lines[0] == "completed Hello there"
    assert lines[1] == "Hello there | /history"
    assert lines[2].startswith("interaction.created")
    assert lines[-1].startswith("interaction.completed")


def test_agent_example_runs_as_written_on_the_offline_provider(
    junction: Junction, envs: genai.Client
) -> None:
    tour, agent = blocks("python")
    namespace: dict[str, object] = {}
    run_python(localise(tour, junction), namespace)
    lines = run_python(agent, namespace)
    assert "interaction.completed" in lines
    assert lines[-2].startswith("completed code_execution returned")
    fib = ast.literal_eval(lines[-1])  # the printed bytes of fib.txt
    assert fib.decode().split() == [
        str(n)
        for n in (
            0,
            1,
            1,
            2,
            3,
            5,
            8,
            13,
            21,
            34,
            55,
            89,
            144,
            233,
            377,
            610,
            987,
            1597,
            2584,
            4181,
        )
    ]


def test_curl_example_runs_as_written(junction: Junction) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    (script,) = blocks("bash")[1:2]
    assert script.startswith("KEY=")
    script = re.sub(r"^KEY=\S+", f"KEY={junction.api_key}", script)
    script = script.replace("http://127.0.0.1:8080", junction.url)
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert '"status":"completed"' in result.stdout
    assert '"text":"hi"' in result.stdout
