"""The runs alive in this process, and the watcher that delivers cancel requests made
through another process (a durable flag in the database, checked periodically)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from junction.runtime.runner import Run
from junction.store.interactions import InteractionStore

log = logging.getLogger("junction.runs")


class RunRegistry:
    def __init__(self, store: InteractionStore | None, poll_interval: float = 0.2) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.runs: dict[str, Run] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._watcher: asyncio.Task[None] | None = None

    def start(self, run: Run) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(run.execute())
        rid = run.record_id
        self.runs[rid] = run
        self.tasks[rid] = task

        def forget(_: asyncio.Task[None]) -> None:
            if self.runs.get(rid) is run:
                del self.runs[rid]
                del self.tasks[rid]

        task.add_done_callback(forget)
        if self.store is not None and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return task

    def get(self, interaction_id: str) -> Run | None:
        return self.runs.get(interaction_id)

    def cancel_local(self, interaction_id: str) -> bool:
        run = self.runs.get(interaction_id)
        if run is None:
            return False
        run.cancel()
        return True

    async def wait(self, interaction_id: str, timeout: float | None = None) -> None:
        task = self.tasks.get(interaction_id)
        if task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout)

    async def _watch(self) -> None:
        assert self.store is not None
        while True:
            await asyncio.sleep(self.poll_interval)
            ids = list(self.runs)
            if not ids:
                continue
            try:
                for rid in await self.store.cancel_requested_among(ids[:500]):
                    run = self.runs.get(rid)
                    if run is not None and not run.cancel_event.is_set():
                        log.info("cancel requested elsewhere for %s", rid)
                        run.cancel()
            except Exception:
                log.exception("cancel watcher failed; retrying")

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
