"""Encoded-history cache for dialects whose request carries the whole conversation.

A long conversation is mostly history that was already encoded for the previous turn.
Per chain, the cache keeps the JSON encoding of the messages up to the last history
boundary it saw; the next turn encodes only the steps added since and splices. So the
provider-side work of turn 1,000 is about that of turn 1 (plus a memcpy).

Correct because chains are append-only: steps of a chain at or below a sequence number
never change (a branch gets a new chain id). A history whose step count does not match
its sequence numbers (rows deleted since) is encoded from scratch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from junction import jsonutil
from junction.providers.base import ModelRequest

Encoder = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _fragment(items: list[dict[str, Any]]) -> bytes:
    """The inside of a JSON array: ``{…},{…}`` (empty for no items)."""
    return jsonutil.dumpb(items)[1:-1]


def join(*parts: bytes) -> bytes:
    return b",".join(p for p in parts if p)


class PrefixCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[int, int, bytes]] = OrderedDict()
        self._size = 0

    def _store(self, chain: str, seq: int, count: int, data: bytes) -> None:
        old = self._entries.pop(chain, None)
        if old is not None:
            self._size -= len(old[2])
        self._entries[chain] = (seq, count, data)
        self._size += len(data)
        while self._size > self.max_bytes and self._entries:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self._size -= len(evicted)

    def encode(self, request: ModelRequest, encode: Encoder) -> bytes:
        """The encoded messages of ``request.steps`` as a JSON array fragment."""
        steps, cut, key = request.steps, request.history_len, request.history_key
        if key is None or cut == 0 or cut != key[1] + 1:
            return _fragment(encode(steps))
        chain, seq = key
        entry = self._entries.get(chain)
        if entry is not None and entry[0] <= seq and entry[1] == entry[0] + 1:
            prefix = join(entry[2], _fragment(encode(steps[entry[1] : cut])))
        else:
            prefix = _fragment(encode(steps[:cut]))
        self._store(chain, seq, cut, prefix)
        return join(prefix, _fragment(encode(steps[cut:])))
