"""Conversation context: what the model sees for a turn, and an in-process cache of it.

The history of an interaction is one range scan in the store. A process that has just
served a turn keeps its full context in a bounded LRU keyed by the interaction id, so
the next turn of an active conversation needs no database read and no rescan of old
steps: its cost does not grow with the length of the conversation.

Entries are immutable lists of immutable step dicts, shared between entries. Deleting
an interaction clears this process's cache; other processes may serve a cached copy
of a conversation that includes a just-deleted turn until the entry is evicted.

The cache is bounded in steps and in entries because everything in it is walked by each
full (generation 2) garbage collection, which stops the process: at the former bound
of 500,000 steps a full cache of short conversations held two million tracked objects
and every full collection took 0.77 s on the benchmark machine; at these bounds it holds
about 50,000 of them (5-11 ms), and at most about 130,000 for long conversations
(``bench/gc_pause.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from junction.media.service import refs_in
from junction.providers.base import modalities_of
from junction.tools.lowering import lower_all


@dataclass(frozen=True)
class Context:
    """A conversation as the model sees it: server-tool steps are lowered to function
    calls and results (:mod:`junction.tools.lowering`)."""

    steps: list[dict[str, Any]]
    modalities: frozenset[str]
    chain_id: str
    last_seq: int
    #: digests of the stored media the steps reference (a turn's media check then scans
    #: only its own steps)
    media: frozenset[str] = frozenset()

    def extend(self, steps: list[dict[str, Any]], chain_id: str, last_seq: int) -> Context:
        lowered = lower_all(steps)
        refs = refs_in(lowered)
        return Context(
            self.steps + lowered,
            _shared(self.modalities.union(modalities_of(steps))),
            chain_id,
            last_seq,
            self.media.union(refs) if refs else self.media,
        )

    @classmethod
    def of(cls, steps: list[dict[str, Any]], chain_id: str, last_seq: int) -> Context:
        lowered = lower_all(steps)
        refs = refs_in(lowered)
        modalities = _shared(frozenset(modalities_of(steps)))
        return cls(lowered, modalities, chain_id, last_seq, frozenset(refs) if refs else _NONE)


_NONE: frozenset[str] = frozenset()
_SETS: dict[frozenset[str], frozenset[str]] = {}


def _shared(values: frozenset[str]) -> frozenset[str]:
    """One object per distinct set of modalities (there are few), not one per context."""
    if len(_SETS) < 256:
        return _SETS.setdefault(values, values)
    return values


EMPTY = Context([], _NONE, "", -1)


class ContextCache:
    def __init__(self, max_steps: int = 32_768, max_entries: int = 8_192) -> None:
        self.max_steps = max_steps
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Context] = OrderedDict()
        self._size = 0

    def get(self, interaction_id: str) -> Context | None:
        entry = self._entries.get(interaction_id)
        if entry is not None:
            self._entries.move_to_end(interaction_id)
        return entry

    def put(self, interaction_id: str, context: Context) -> None:
        old = self._entries.pop(interaction_id, None)
        if old is not None:
            self._size -= len(old.steps)
        self._entries[interaction_id] = context
        self._size += len(context.steps)
        while (self._size > self.max_steps or len(self._entries) > self.max_entries) and len(
            self._entries
        ) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted.steps)

    def clear(self) -> None:
        self._entries.clear()
        self._size = 0
