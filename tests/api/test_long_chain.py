"""Continuing a long conversation costs about what continuing a short one does: when this
process served the previous turn, the next one reads only that turn's own steps (its
function calls are checked, its messages encoded), none of the turns before it: the
history is in the context cache, already encoded for the provider. Counted, not timed:
every read of an earlier step is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from junction.runtime.context import Context
from junction.testing.fake_openai import FakeOpenAI
from tests.conftest import Junction


class _Watched(dict[str, Any]):
    """A history step that counts the reads of its fields."""

    reads = 0

    def _read(self) -> None:
        type(self).reads += 1

    def get(self, key: str, default: Any = None) -> Any:
        self._read()
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._read()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._read()
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._read()
        return super().__iter__()

    def items(self) -> Any:
        self._read()
        return super().items()

    def keys(self) -> Any:
        self._read()
        return super().keys()

    def values(self) -> Any:
        self._read()
        return super().values()


def test_a_continued_turn_reads_none_of_its_history(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    tip = None
    for i in range(6):
        tip = client.interactions.create(
            model="openai/gpt-x", input=f"turn {i}", previous_interaction_id=tip and tip.id
        )
    assert tip is not None
    contexts = junction.thread.app.state.services.interactions.contexts
    cached: Context | None = contexts.get(tip.id)
    assert cached is not None and len(cached.steps) == 12
    # the last turn's own two steps may be read; the ten before them may not
    watched = [_Watched(step) for step in cached.steps[:-2]] + cached.steps[-2:]
    contexts.put(
        tip.id,
        Context(watched, cached.modalities, cached.chain_id, cached.last_seq, cached.media),
    )
    _Watched.reads = 0
    last = client.interactions.create(
        model="openai/gpt-x", input="one more", previous_interaction_id=tip.id
    )
    assert last.status == "completed"
    assert _Watched.reads == 0
    sent = openai_fake.requests[-1].body
    assert [m["content"] for m in sent["messages"] if m["role"] == "user"] == [
        *(f"turn {i}" for i in range(6)),
        "one more",
    ]
