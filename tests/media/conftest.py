"""A Junction server whose ``gemini`` provider is the fake Gemini API, plus a model
table override (``[models."id"] modalities``) and a modality-specific alias."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from junction.config import load_settings
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, SECRET_KEY, Junction


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[FakeGemini]:
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture
def gemini_fake(gemini_server: FakeGemini) -> FakeGemini:
    gemini_server.reset()
    return gemini_server


@pytest.fixture(scope="module")
def gemini_junction(
    gemini_server: FakeGemini, fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Junction]:
    tmp = tmp_path_factory.mktemp("gemini-media")
    config = tmp / "junction.toml"
    config.write_text(
        f"""
[providers.myvllm]
type = "openai"
base_url = "{fake_openai.url}/v1"

[models."myvllm/flux-dev"]
modalities = ["image"]

[aliases]
"painter" = "myvllm/flux-dev"
"""
    )
    env = {
        "JUNCTION_API_KEY": API_KEY,
        "JUNCTION_SECRET_KEY": SECRET_KEY,
        "GEMINI_API_KEY": "fake-gemini-key",
        "GEMINI_BASE_URL": gemini_server.url,
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "OPENAI_API_KEY": "sk-fake",
    }
    url = f"sqlite:///{tmp / 'junction.db'}"
    settings = load_settings(
        env=env,
        config_file=config,
        overrides={"database_url": url, "data_dir": tmp, "access_log": False},
    )
    thread = JunctionThread(settings).start()
    yield Junction(thread, "sqlite", url, API_KEY)
    thread.stop()
