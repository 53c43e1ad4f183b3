"""The encoded-history cache must produce exactly the body a full encoding produces."""

from __future__ import annotations

from typing import Any

from junction import jsonutil
from junction.config import ProviderConfig, Settings
from junction.providers.base import ModelRequest
from junction.providers.openai import OpenAIProvider
from junction.providers.openai_messages import build_body


def _turn(i: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        {"type": "user_input", "content": [{"type": "text", "text": f"question {i}"}]}
    ]
    if i % 3 == 1:
        steps += [
            {"type": "function_call", "id": f"c{i}", "name": "f", "arguments": {"i": i}},
        ]
        steps += [{"type": "function_result", "call_id": f"c{i}", "result": {"ok": i}}]
    steps += [{"type": "model_output", "content": [{"type": "text", "text": f"answer {i}"}]}]
    return steps


def _provider() -> OpenAIProvider:
    config = ProviderConfig(name="t", kind="openai", base_url="http://127.0.0.1:9/v1", api_key="k")
    return OpenAIProvider(config, Settings())


def test_spliced_bodies_equal_full_encodings_turn_after_turn() -> None:
    provider = _provider()
    history: list[dict[str, Any]] = []
    for i in range(12):
        turn = _turn(i)
        request = ModelRequest(
            model="m",
            steps=history + turn[:1],
            system_instruction="sys" if i % 2 else None,
            history_len=len(history),
            history_key=("chain-a", len(history) - 1) if history else None,
        )
        spliced = jsonutil.loads(provider.encode(request))
        assert spliced == build_body(request, {}), f"turn {i}"
        history += turn


def test_a_history_with_gaps_is_encoded_from_scratch() -> None:
    provider = _provider()
    history = _turn(0) + _turn(1)
    first = ModelRequest(
        model="m",
        steps=history + _turn(2)[:1],
        history_len=len(history),
        history_key=("chain-b", len(history) - 1),
    )
    provider.encode(first)
    shorter = history[1:]  # as if a step had been deleted: seq no longer matches length
    request = ModelRequest(
        model="m",
        steps=shorter + _turn(2)[:1],
        history_len=len(shorter),
        history_key=("chain-b", len(history) - 1),
    )
    assert jsonutil.loads(provider.encode(request)) == build_body(request, {})


def test_branches_use_their_own_chain() -> None:
    provider = _provider()
    trunk = _turn(0) + _turn(1)
    provider.encode(
        ModelRequest(
            model="m",
            steps=trunk + _turn(2)[:1],
            history_len=len(trunk),
            history_key=("trunk", len(trunk) - 1),
        )
    )
    branch = _turn(0) + _turn(5)
    request = ModelRequest(
        model="m",
        steps=branch + _turn(6)[:1],
        history_len=len(branch),
        history_key=("branch", len(branch) - 1),
    )
    assert jsonutil.loads(provider.encode(request)) == build_body(request, {})
