"""Usage accounting in the wire shape of REFERENCE 3.7, plus Junction's ``cost``
(``{currency, total, input, output}``, from the configured price of the model)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from junction.observe.metrics import Metrics
from junction.observe.prices import Price, PriceTable
from junction.providers.base import Usage
from junction.store.usage import UsageDelta


class UsageMeter:
    def __init__(self, start: dict[str, Any] | None = None) -> None:
        self.input = int((start or {}).get("total_input_tokens", 0))
        self.output = int((start or {}).get("total_output_tokens", 0))
        self.thought = int((start or {}).get("total_thought_tokens", 0))
        self.cached = int((start or {}).get("total_cached_tokens", 0))
        self.initial: int | None = (start or {}).get("initial_input_tokens")
        self.calls = 0
        self.tool_calls: Counter[str] = Counter((start or {}).get("tool_calls") or {})
        self.sandbox_seconds = float((start or {}).get("sandbox_seconds") or 0.0)
        #: generated media (Junction additions to the usage shape, docs/multimodal.md)
        self.images = int((start or {}).get("output_images") or 0)
        self.audio_seconds = float((start or {}).get("output_audio_seconds") or 0.0)
        #: the price table and this run's model's price (set by the service)
        self.prices: PriceTable | None = None
        self.price: Price | None = None

    def add(self, usage: Usage) -> None:
        if self.initial is None:
            self.initial = usage.input_tokens
        self.input += usage.input_tokens
        self.output += usage.output_tokens
        self.thought += usage.thought_tokens
        self.cached += usage.cached_tokens

    def cost(self) -> dict[str, Any] | None:
        if self.prices is None:
            return None
        return self.prices.cost(self.price, self.input, self.output + self.thought, self.cached)

    @property
    def cost_total(self) -> float:
        cost = self.cost()
        return float(cost["total"]) if cost else 0.0

    def to_wire(self) -> dict[str, Any]:
        cost = self.cost()
        return {
            "total_input_tokens": self.input,
            "total_output_tokens": self.output,
            "total_thought_tokens": self.thought,
            "total_cached_tokens": self.cached,
            "total_tokens": self.input + self.output + self.thought,
            "initial_input_tokens": self.initial or 0,
            **({"tool_calls": dict(self.tool_calls)} if self.tool_calls else {}),
            **({"sandbox_seconds": round(self.sandbox_seconds, 3)} if self.sandbox_seconds else {}),
            **({"output_images": self.images} if self.images else {}),
            **(
                {"output_audio_seconds": round(self.audio_seconds, 3)} if self.audio_seconds else {}
            ),
            **({"cost": cost} if cost is not None else {}),
        }


def count_usage(metrics: Metrics, provider: str, delta: UsageDelta, meter: UsageMeter) -> None:
    """A run's ``delta`` (at its end) in the token and cost counters."""
    model = metrics.label("model", delta.model)
    for kind, count in (
        ("input", delta.input_tokens),
        ("output", delta.output_tokens),
        ("thought", delta.thought_tokens),
        ("cached", delta.cached_tokens),
    ):
        if count:
            metrics.child(metrics.tokens, provider, model, kind).inc(count)
    if delta.cost:
        currency = meter.prices.currency if meter.prices else ""
        metrics.child(metrics.cost, provider, model, currency).inc(delta.cost)
