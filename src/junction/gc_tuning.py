"""Garbage-collector settings for a long-running server process.

Python's cyclic collector runs a full (generation 2) collection whenever enough objects
have been promoted since the last one. In a server most promotions are the objects of
requests that happen to be in flight when a younger collection runs; they die by
reference counting moments later, but count towards the next full collection, which
walks every object the process holds — the imported modules, the application, its
caches — about 170,000 objects, 40–110 ms of CPU on the benchmark machine. Under
sustained load that happened every few thousand requests and stalled every request in
flight: it was the tail of the latency distribution (p99 many times p50).

:func:`settle` is called once the process has started: everything alive then is moved to
the permanent generation (``gc.freeze``; never scanned again, never freed — it lives as
long as the process anyway), and generation 0 collects after 10,000 net allocations
rather than 700, so request objects are rarely caught in flight and promoted.
"""

from __future__ import annotations

import gc

#: (generation 0 allocations, generation 0 runs per generation 1, generation 1 runs per 2)
THRESHOLDS = (10_000, 20, 20)


def settle() -> None:
    """Collect what start-up left behind, freeze the rest, raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
