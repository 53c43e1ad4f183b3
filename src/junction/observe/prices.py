"""Prices per model and the cost of an interaction's usage.

Prices are per million tokens in one currency (``price_currency``, USD by default). The
defaults are the providers' published list prices for common models when this table was
written; operators override or extend them with ``[prices."model"]`` in junction.toml or
``JUNCTION_PRICES`` (JSON). A model without a price has no cost (it counts as 0 in rollups).

Thought tokens are billed as output; cached input tokens (a part of the input tokens) at
the cached price when one is set, else at the input price.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cached_input: float | None = None


def _p(i: float, o: float, c: float | None = None) -> Price:
    return Price(i, o, c)


#: list prices in USD per million tokens (standard tier, shortest context band)
DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": _p(1.25, 10.0, 0.125),
    "gpt-5-mini": _p(0.25, 2.0, 0.025),
    "gpt-5-nano": _p(0.05, 0.40, 0.005),
    "gpt-4.1": _p(2.0, 8.0, 0.50),
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025),
    "gpt-4o": _p(2.50, 10.0, 1.25),
    "gpt-4o-mini": _p(0.15, 0.60, 0.075),
    "o3": _p(2.0, 8.0, 0.50),
    "o4-mini": _p(1.10, 4.40, 0.275),
    # Anthropic
    "claude-opus-4-5": _p(5.0, 25.0, 0.50),
    "claude-opus-4-1": _p(15.0, 75.0, 1.50),
    "claude-opus-4": _p(15.0, 75.0, 1.50),
    "claude-sonnet-4-5": _p(3.0, 15.0, 0.30),
    "claude-sonnet-4": _p(3.0, 15.0, 0.30),
    "claude-3-7-sonnet": _p(3.0, 15.0, 0.30),
    "claude-haiku-4-5": _p(1.0, 5.0, 0.10),
    "claude-3-5-haiku": _p(0.80, 4.0, 0.08),
    # Google Gemini
    "gemini-3-pro-preview": _p(2.0, 12.0, 0.20),
    "gemini-3-flash-preview": _p(0.50, 3.0, 0.05),
    "gemini-2.5-pro": _p(1.25, 10.0, 0.125),
    "gemini-2.5-flash": _p(0.30, 2.50, 0.03),
    "gemini-2.5-flash-lite": _p(0.10, 0.40, 0.01),
    "gemini-2.0-flash": _p(0.10, 0.40, 0.025),
    # the built-in offline provider costs nothing
    "offline/echo": _p(0.0, 0.0),
}


def parse_price(name: str, spec: Any) -> Price:
    """One ``{input, output, cached_input?}`` entry; a clear error when it is not one."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"price of '{name}' must be a table {{input, output, cached_input}}")
    unknown = set(spec) - {"input", "output", "cached_input"}
    if unknown:
        raise ValueError(f"price of '{name}' has unknown keys {sorted(unknown)}")
    values: dict[str, float] = {}
    for key in ("input", "output", "cached_input"):
        if key not in spec:
            if key == "cached_input":
                continue
            raise ValueError(f"price of '{name}' needs '{key}' (per million tokens)")
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"price of '{name}': '{key}' must be a number >= 0")
        values[key] = float(value)
    return Price(values["input"], values["output"], values.get("cached_input"))


def load_prices(table: Mapping[str, Any], env_json: str | None) -> dict[str, Price]:
    """Defaults, overridden by the ``[prices]`` table, overridden by ``JUNCTION_PRICES``."""
    prices = dict(DEFAULT_PRICES)
    for name, spec in table.items():
        prices[name] = parse_price(name, spec)
    if env_json:
        try:
            data = json.loads(env_json)
        except ValueError as exc:
            raise ValueError(f"JUNCTION_PRICES is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError('JUNCTION_PRICES must be a JSON object {"model": {...}}')
        for name, spec in data.items():
            prices[name] = parse_price(name, spec)
    return prices


class PriceTable:
    def __init__(self, prices: Mapping[str, Price], currency: str = "USD") -> None:
        self.prices = dict(prices)
        self.currency = currency
        self._found: dict[tuple[str, str, str], Price | None] = {}

    def lookup(self, model_id: str, provider: str = "", local: str = "") -> Price | None:
        """The price of a model: its id as requested, ``provider/model``, the bare model
        name, then the longest configured name the bare name starts with (dated snapshots
        such as ``gpt-4o-2024-08-06`` take ``gpt-4o``'s price)."""
        key = (model_id, provider, local)
        if key in self._found:
            return self._found[key]
        bare = local or model_id.rpartition("/")[2]
        found = (
            self.prices.get(model_id)
            or (self.prices.get(f"{provider}/{local}") if provider and local else None)
            or self.prices.get(bare)
        )
        if found is None:
            prefixes = [n for n in self.prices if "/" not in n and bare.startswith(n + "-")]
            if prefixes:
                found = self.prices[max(prefixes, key=len)]
        if len(self._found) < 10_000:
            self._found[key] = found
        return found

    def cost(
        self, price: Price | None, input_tokens: int, output_tokens: int, cached_tokens: int = 0
    ) -> dict[str, Any] | None:
        """``usage.cost``: ``{currency, total, input, output}`` (amounts rounded to 1e-9)."""
        if price is None:
            return None
        cached = min(max(cached_tokens, 0), input_tokens)
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        cost_in = ((input_tokens - cached) * price.input + cached * cached_rate) / 1e6
        cost_out = output_tokens * price.output / 1e6
        return {
            "currency": self.currency,
            "total": round(cost_in + cost_out, 9),
            "input": round(cost_in, 9),
            "output": round(cost_out, 9),
        }
