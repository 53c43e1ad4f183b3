"""The examples of docs/multimodal.md and docs/decisions.md run, on the offline provider,
against a real server, and print what the pages say they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from google import genai

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _run(code: str, client: genai.Client) -> str:
    code = re.sub(r"^client = genai\.Client\(.*\)\n", "", code, flags=re.M)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<doc example>", "exec"), {"client": client})
    return out.getvalue()


def test_multimodal_page(client: genai.Client) -> None:
    first, transcription, voices = _blocks("multimodal.md")
    printed = _run(first, client).splitlines()
    assert printed[0].startswith("make the sky purple; image 64x64 editing image ")
    assert printed[1] == "24000 0.9"
    assert _run(transcription, client).splitlines() == [
        "Hello from JUNCTION",
        "Hello 0s 0.3s",
        "from 0.3s 0.6s",
        "JUNCTION 0.6s 0.9s",
    ]
    _run(voices, client)


def test_decisions_page(client: genai.Client) -> None:
    (example,) = _blocks("decisions.md")
    printed = _run(example, client)
    assert printed.strip() == "negative 0.98 {'positive': 0.01, 'negative': 0.98, 'neutral': 0.01}"
