"""The price table: defaults, overrides from junction.toml and JUNCTION_PRICES, lookups,
and clear errors for malformed prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from junction.config import load_settings
from junction.observe.prices import DEFAULT_PRICES, Price, PriceTable


def test_file_and_environment_override_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "junction.toml"
    config.write_text('[prices."gpt-4o"]\ninput = 1.0\noutput = 2.0\n')
    settings = load_settings(
        env={"JUNCTION_PRICES": '{"openai/gpt-4o": {"input": 3, "output": 4, "cached_input": 1}}'},
        config_file=config,
    )
    assert settings.prices["gpt-4o"] == Price(1.0, 2.0)
    assert settings.prices["openai/gpt-4o"] == Price(3.0, 4.0, 1.0)
    assert settings.prices["claude-sonnet-4-5"] == DEFAULT_PRICES["claude-sonnet-4-5"]
    table = PriceTable(settings.prices)
    # the model id as requested wins over the bare name
    assert table.lookup("openai/gpt-4o", "openai", "gpt-4o") == Price(3.0, 4.0, 1.0)
    assert table.lookup("myproxy/gpt-4o", "myproxy", "gpt-4o") == Price(1.0, 2.0)


def test_lookup_by_longest_prefix_and_unknown_models() -> None:
    table = PriceTable(DEFAULT_PRICES)
    dated = table.lookup("openai/gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini-2024-07-18")
    assert dated == DEFAULT_PRICES["gpt-4o-mini"]
    assert (
        table.lookup("gemini-2.5-flash", "gemini", "gemini-2.5-flash")
        == (DEFAULT_PRICES["gemini-2.5-flash"])
    )
    assert table.lookup("myvllm/qwen3", "myvllm", "qwen3") is None
    assert table.cost(None, 10, 10) is None


def test_cost_arithmetic() -> None:
    table = PriceTable({}, currency="EUR")
    cost = table.cost(Price(2.0, 8.0), 1_000_000, 500_000, cached_tokens=200_000)
    # no cached price: cached input is billed at the input price
    assert cost == {"currency": "EUR", "total": 6.0, "input": 2.0, "output": 4.0}
    cheap = table.cost(Price(2.0, 8.0, 0.5), 1_000_000, 0, cached_tokens=200_000)
    assert cheap is not None and cheap["input"] == pytest.approx(1.6 + 0.1)


@pytest.mark.parametrize(
    ("prices", "fragment"),
    [
        ("not json", "JUNCTION_PRICES is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"m": 3}', "price of 'm' must be a table"),
        ('{"m": {"input": 1}}', "price of 'm' needs 'output'"),
        ('{"m": {"input": -1, "output": 1}}', "'input' must be a number >= 0"),
        ('{"m": {"input": "1", "output": 1}}', "'input' must be a number >= 0"),
        ('{"m": {"input": 1, "output": 1, "cache": 1}}', "unknown keys ['cache']"),
    ],
)
def test_malformed_prices_are_refused_with_the_reason(prices: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        load_settings(env={"JUNCTION_PRICES": prices})
    assert fragment in str(raised.value)
