"""A Junction server wired to the fake OpenAI, Anthropic and Gemini servers at once,
per database backend (for tests that compare what each provider is sent)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from junction.config import load_settings
from junction.testing.fake_anthropic import FakeAnthropic
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, SECRET_KEY, Junction


@contextmanager
def serve_with_fakes(
    request: pytest.FixtureRequest,
    tmp: Path,
    fakes: tuple[FakeOpenAI, FakeAnthropic, FakeGemini],
    env: dict[str, str] | None = None,
    config: str | None = None,
) -> Iterator[Junction]:
    """``request.param`` is the backend (``sqlite`` or ``postgres``); ``env`` adds to the
    environment the providers are configured from, ``config`` is a junction.toml."""
    openai, anthropic, gemini = fakes
    url = (
        f"sqlite:///{tmp / 'junction.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    config_file = None
    if config is not None:
        config_file = tmp / "junction.toml"
        config_file.write_text(config)
    settings = load_settings(
        env={
            "JUNCTION_API_KEY": API_KEY,
            "JUNCTION_SECRET_KEY": SECRET_KEY,
            "OPENAI_BASE_URL": openai.url + "/v1",
            "OPENAI_API_KEY": "sk-fake",
            "ANTHROPIC_BASE_URL": anthropic.url,
            "ANTHROPIC_API_KEY": "sk-ant-fake",
            "GEMINI_API_KEY": "fake-gemini-key",
            "GEMINI_BASE_URL": gemini.url,
            **(env or {}),
        },
        config_file=config_file,
        overrides={"database_url": url, "data_dir": tmp, "access_log": False},
    )
    thread = JunctionThread(settings).start()
    try:
        yield Junction(thread, request.param, url, API_KEY)
    finally:
        thread.stop()
