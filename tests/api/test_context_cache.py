"""The in-process context cache stays small enough for the garbage collector: every full
collection walks all of it while the process stands still, so its bound is a bound on
that pause (docs/performance.md)."""

from __future__ import annotations

import gc

from junction.runtime.context import EMPTY, ContextCache


def _turn(n: int) -> list[dict[str, object]]:
    return [
        {"type": "user_input", "content": [{"type": "text", "text": f"question {n}"}]},
        {"type": "model_output", "content": [{"type": "text", "text": f"answer {n}"}]},
    ]


def _tracked_objects() -> int:
    gc.collect()  # also untracks the dicts that hold only strings, as any collection does
    return len(gc.get_objects())


def test_many_short_conversations_are_bounded_by_entries() -> None:
    before = _tracked_objects()
    cache = ContextCache()
    for n in range(3 * cache.max_entries):
        cache.put(f"v1_{n}", EMPTY.extend(_turn(n), "ch", 1))
    assert len(cache._entries) == cache.max_entries
    # the newest are kept, the oldest evicted
    assert cache.get(f"v1_{3 * cache.max_entries - 1}") is not None
    assert cache.get("v1_0") is None
    # about six tracked objects per entry (the old bound let this grow to 1.5 million)
    assert _tracked_objects() - before < 10 * cache.max_entries


def test_a_long_conversation_keeps_its_head_cached() -> None:
    before = _tracked_objects()
    cache = ContextCache()
    context = EMPTY
    for n in range(2_000):  # 4,000 steps: each turn's context is cached as it ends
        context = context.extend(_turn(n), "ch", 2 * n + 1)
        cache.put(f"v1_{n}", context)
    head = cache.get("v1_1999")
    assert head is not None and len(head.steps) == 4_000
    assert cache._size <= cache.max_steps
    assert _tracked_objects() - before < 4 * cache.max_steps


def test_contexts_share_their_sets_of_modalities() -> None:
    a = EMPTY.extend(_turn(1), "ch", 1)
    b = EMPTY.extend(_turn(2), "ch", 1).extend(_turn(3), "ch", 3)
    assert a.modalities is b.modalities and a.media is b.media is EMPTY.media
