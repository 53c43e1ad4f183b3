"""The server-side daily token budget per project."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, Junction


@pytest.fixture
def budgeted(
    fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Junction]:
    tmp = tmp_path_factory.mktemp("budget")
    settings = load_settings(
        env={
            "JUNCTION_API_KEY": API_KEY,
            "OPENAI_BASE_URL": fake_openai.url + "/v1",
            "OPENAI_API_KEY": "sk-fake",
            "JUNCTION_PROJECT_DAILY_TOKENS": "30",
        },
        overrides={
            "database_url": f"sqlite:///{tmp / 'j.db'}",
            "data_dir": tmp,
            "access_log": False,
        },
    )
    thread = JunctionThread(settings).start()
    yield Junction(thread, "sqlite", settings.resolved_database_url, API_KEY)
    thread.stop()


def test_a_project_that_spent_its_budget_is_stopped(
    budgeted: Junction, openai_fake: FakeOpenAI
) -> None:
    client = budgeted.client()
    first = client.interactions.create(model="openai/x", input="one")  # 18 tokens
    second = client.interactions.create(model="openai/x", input="two")  # 36 in total
    third = client.interactions.create(model="openai/x", input="three")
    assert first.status == second.status == "completed"
    assert third.status == "budget_exceeded"
    assert "daily budget is 30" in third.errors[0].message
    assert len(openai_fake.requests) == 2  # the third never reached the model
    other_key = budgeted.cli("keys", "create", "--project", "other").stdout.split()[1]
    other = budgeted.client(api_key=other_key).interactions.create(model="openai/x", input="x")
    assert other.status == "completed"  # budgets are per project
