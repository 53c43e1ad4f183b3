"""How long a full garbage collection stops a Junction process whose context cache is
full: the cache at its bounds, against the same cache with the former bound (500,000
steps, no bound on entries), filled with short conversations, as a busy server's is.

    .venv/bin/python bench/gc_pause.py [--conversations 250000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from junction.runtime.context import EMPTY, ContextCache


def _turn(n: int) -> list[dict[str, object]]:
    return [
        {"type": "user_input", "content": [{"type": "text", "text": f"question {n}"}]},
        {"type": "model_output", "content": [{"type": "text", "text": f"answer {n}"}]},
    ]


def measure(cache: ContextCache, conversations: int) -> tuple[float, int]:
    gc.collect()
    gc.freeze()  # as a server does once started (gc_tuning.settle)
    for n in range(conversations):
        cache.put(f"v1_{n}", EMPTY.extend(_turn(n), "ch", 1))
    gc.collect()
    tracked = len(gc.get_objects())
    pauses = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        pauses.append((time.perf_counter() - started) * 1000)
    gc.unfreeze()
    return statistics.median(pauses), tracked


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--conversations", type=int, default=250_000)
    args = p.parse_args()
    print(f"full collection with {args.conversations} short conversations cached (median of 5)")
    for name, cache in (
        ("bounded (32,768 steps, 8,192 entries)", ContextCache()),
        ("former bound (500,000 steps)", ContextCache(max_steps=500_000, max_entries=10**9)),
    ):
        pause, tracked = measure(cache, args.conversations)
        print(f"  {name:<40} {pause:8.1f} ms  {tracked:>9} tracked objects")
        del cache
        gc.collect()


if __name__ == "__main__":
    main()
