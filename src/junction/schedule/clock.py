"""The scheduler's clock. Production reads the system clock; tests (and only tests) can
point ``JUNCTION_TRIGGER_CLOCK_FILE`` at a file holding the current time in epoch
seconds, which every process sharing it reads, so a test can jump across a daylight
saving change or an hour of downtime without waiting for it."""

from __future__ import annotations

import os
import time
from pathlib import Path


class Clock:
    """Wall-clock time for the scheduler. ``max_sleep`` bounds one wait of the scheduler
    loop (a file clock can jump at any moment, so it is re-read often)."""

    max_sleep = float("inf")

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class FileClock(Clock):
    max_sleep = 0.05

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, int] = (-1.0, 0)

    def now_ms(self) -> int:
        stat = os.stat(self.path)
        if stat.st_mtime != self._seen[0]:
            text = self.path.read_text().strip()
            self._seen = (stat.st_mtime, int(float(text) * 1000))
        return self._seen[1]


def clock_from(path: Path | None) -> Clock:
    return FileClock(path) if path is not None else Clock()
