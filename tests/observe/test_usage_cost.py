"""Cost in each interaction's usage, the daily usage API (per project, key and model, JSON
and CSV), and project budgets in money — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest

from junction.api.usage import COUNTS
from junction.api.usage import _csv as usage_csv
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.observe.conftest import DAILY_COST, Observed


def _usage(observed: Observed, key: str, **params: str) -> httpx.Response:
    return httpx.get(f"{observed.url}/v1beta/usage", params=params, headers={"x-goog-api-key": key})


def test_cost_is_part_of_usage(observed: Observed, openai_fake: FakeOpenAI) -> None:
    _, key = observed.new_key()
    client = observed.client(api_key=key)
    openai_fake.cached_tokens = 400
    openai_fake.replies.append(Reply(input_tokens=1000, output_tokens=200))
    done = client.interactions.create(model="openai/priced", input="hello")
    assert done.status == "completed"
    assert done.usage is not None
    cost = done.usage.model_extra["cost"]  # Junction's addition to usage
    # 600 input at 2.0/M + 400 cached at 0.5/M; 200 output at 10.0/M
    assert cost == {"currency": "USD", "total": 0.0034, "input": 0.0014, "output": 0.002}
    again = client.interactions.get(done.id)
    assert again.usage is not None and again.usage.model_extra["cost"] == cost

    openai_fake.cached_tokens = 0
    fresh = observed.client(api_key=observed.new_key()[1])  # the first spent the budget
    unpriced = fresh.interactions.create(model="openai/not-in-any-table", input="x")
    assert unpriced.usage is not None and "cost" not in (unpriced.usage.model_extra or {})
    openai_fake.replies.append(Reply(input_tokens=500_000, output_tokens=500_000))
    from_env = fresh.interactions.create(model="openai/json-priced", input="x")
    assert from_env.usage is not None
    assert from_env.usage.model_extra["cost"]["total"] == 1.0  # JUNCTION_PRICES: 1/M each


def test_usage_rollups_per_key_and_model(observed: Observed, openai_fake: FakeOpenAI) -> None:
    project = "rollup-" + observed.backend
    key_a_id, key_a = observed.new_key(project)
    key_b_id, key_b = observed.new_key(project)
    for key, model in ((key_a, "openai/priced"), (key_a, "openai/other"), (key_b, "openai/priced")):
        openai_fake.replies.append(Reply(input_tokens=100, output_tokens=10))
        done = observed.client(api_key=key).interactions.create(model=model, input="hi")
        assert done.status == "completed"

    today = datetime.now(UTC).date().isoformat()
    body = _usage(observed, key_a, group_by="api_key,model").json()
    assert body["currency"] == "USD" and body["end"] == today
    rows = {(r["api_key"], r["model"]): r for r in body["usage"]}
    assert set(rows) == {
        (key_a_id, "openai/priced"),
        (key_a_id, "openai/other"),
        (key_b_id, "openai/priced"),
    }
    priced = rows[(key_a_id, "openai/priced")]
    assert priced["interactions"] == 1
    assert priced["input_tokens"] == 100 and priced["output_tokens"] == 10
    assert priced["total_tokens"] == 110
    assert priced["cost"] == pytest.approx((100 * 2.0 + 10 * 10.0) / 1e6)
    assert rows[(key_a_id, "openai/other")]["cost"] == 0  # no price: counted, costs 0

    by_day = _usage(observed, key_b).json()["usage"]  # default: grouped by day
    assert by_day == [
        {
            "day": today,
            "interactions": 3,
            "input_tokens": 300,
            "output_tokens": 30,
            "thought_tokens": 0,
            "cached_tokens": 0,
            "total_tokens": 330,
            "cost": pytest.approx(2 * (100 * 2.0 + 10 * 10.0) / 1e6),
        }
    ]
    # CSV, by format=csv and by Accept
    for response in (
        _usage(observed, key_a, group_by="model", format="csv"),
        httpx.get(
            f"{observed.url}/v1beta/usage?group_by=model",
            headers={"x-goog-api-key": key_a, "accept": "text/csv"},
        ),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.text)))
        assert [r["model"] for r in table] == ["openai/other", "openai/priced"]
        assert table[1]["interactions"] == "2" and table[1]["currency"] == "USD"

    # another project sees none of it; a range before today is empty
    _, stranger = observed.new_key()
    assert _usage(observed, stranger).json()["usage"] == []
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert _usage(observed, key_a, start=yesterday, end=yesterday).json()["usage"] == []
    total = _usage(observed, key_a, group_by="none").json()["usage"]
    assert len(total) == 1 and total[0]["interactions"] == 3


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "2026-13-01"}, "YYYY-MM-DD"),
        ({"start": "2026-02-02", "end": "2026-02-01"}, "is after end"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "at most 366 days"),
        ({"group_by": "day,colour"}, "group_by 'day,colour' is not valid"),
        ({"group_by": "day,day"}, "distinct"),
        ({"format": "xml"}, "json or csv"),
    ],
)
def test_bad_usage_queries_are_400(
    observed: Observed, params: dict[str, str], fragment: str
) -> None:
    response = _usage(observed, observed.api_key, **params)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


def test_usage_needs_a_key(observed: Observed) -> None:
    response = httpx.get(f"{observed.url}/v1beta/usage")
    assert response.status_code == 401


def test_a_project_that_spent_its_money_is_stopped(
    observed: Observed, openai_fake: FakeOpenAI
) -> None:
    _, key = observed.new_key()
    client = observed.client(api_key=key)
    # 1000 in at 2.0/M + 200 out at 10.0/M = 0.004 USD, over the 0.003 budget
    openai_fake.replies.append(Reply(input_tokens=1000, output_tokens=200))
    first = client.interactions.create(model="openai/priced", input="one")
    assert first.status == "completed"
    calls = len(openai_fake.requests)
    second = client.interactions.create(model="openai/priced", input="two")
    assert second.status == "budget_exceeded"
    assert second.errors is not None
    message = second.errors[0].message
    assert f"daily budget is {DAILY_COST:g} USD" in message
    assert "JUNCTION_PROJECT_DAILY_COST" in message
    assert len(openai_fake.requests) == calls  # the second never reached the model
    _, other = observed.new_key()
    assert (
        observed.client(api_key=other).interactions.create(model="openai/priced", input="x").status
        == "completed"
    )  # budgets are per project


def test_csv_cells_are_never_spreadsheet_formulas() -> None:
    rows = [{"model": "=HYPERLINK(1)", **dict.fromkeys(COUNTS, 0)}]
    (row,) = list(csv.DictReader(io.StringIO(usage_csv(rows, ["model"], "@USD"))))
    assert row["model"] == "'=HYPERLINK(1)" and row["currency"] == "'@USD"
