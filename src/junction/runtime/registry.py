"""The runs alive in this process, and the one background task that keeps them honest:

* renews this process's leases (a third of the lease time apart);
* delivers cancel requests made through any process (a durable flag in the database,
  checked every ``poll_interval``, or at once through NOTIFY on PostgreSQL);
* stops runs this process no longer owns (taken over after a lapsed lease, or ended
  or deleted elsewhere) — they could not write anyway: every write checks the fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter

from junction.runtime.runner import Run
from junction.store.interactions import InteractionStore

log = logging.getLogger("junction.runs")


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def owner_is_dead(owner: str) -> bool:
    """True for an owner id of a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def now_ms() -> int:
    return int(time.time() * 1000)


class RunRegistry:
    def __init__(
        self,
        store: InteractionStore | None,
        *,
        owner: str,
        lease_seconds: float = 15.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_ms = int(lease_seconds * 1000)
        self.poll_interval = poll_interval
        self.runs: dict[str, Run] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.freed = asyncio.Event()  # set whenever a run ends (capacity for workers)
        #: foreground (synchronous or streaming) runs alive here, per project
        self.foreground: Counter[str] = Counter()
        self._watcher: asyncio.Task[None] | None = None

    def lease_until(self) -> int:
        return now_ms() + self.lease_ms

    def start(self, run: Run) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(run.execute())
        rid = run.record_id
        self.runs[rid] = run
        self.tasks[rid] = task
        record = run.journal.record
        project = None if record.background else record.project_id
        if project is not None:
            self.foreground[project] += 1

        def forget(_: asyncio.Task[None]) -> None:
            if self.runs.get(rid) is run:
                del self.runs[rid]
                del self.tasks[rid]
            if project is not None:
                self.foreground[project] -= 1
                if self.foreground[project] <= 0:
                    del self.foreground[project]
            self.freed.set()

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

    def abandon(self, interaction_id: str) -> None:
        """Stop a run without writing anything more (it is not ours any longer)."""
        run, task = self.runs.get(interaction_id), self.tasks.get(interaction_id)
        if run is not None and task is not None:
            run.abandoned = True
            task.cancel()

    async def wait(self, interaction_id: str, timeout: float | None = None) -> None:
        task = self.tasks.get(interaction_id)
        if task is not None:
            # The caller waits for the end, not for the outcome: a run that failed has
            # recorded (and logged) its own failure, and is no error of the caller's.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout)

    async def _watch(self) -> None:
        assert self.store is not None
        last_renewal = 0.0
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                if time.monotonic() - last_renewal > self.lease_ms / 3000:
                    last_renewal = time.monotonic()
                    await self.store.renew_leases(self.owner, self.lease_until())
                ids = [rid for rid, run in self.runs.items() if run.journal.insert_hook is None]
                for start in range(0, len(ids), 500):
                    cancel, lost = await self.store.watch(self.owner, ids[start : start + 500])
                    for rid in cancel:
                        run = self.runs.get(rid)
                        if run is not None and not run.cancel_event.is_set():
                            log.info("cancel requested elsewhere for %s", rid)
                            run.cancel()
                    for rid in lost:
                        run = self.runs.get(rid)
                        if run is not None:
                            log.warning("%s is no longer owned by this process; stopping", rid)
                            self.abandon(rid)
            except Exception:
                log.exception("run watcher failed; retrying")

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        # Hand the runs over: stop them without writing, then let any worker (this
        # process after a restart, or another one) resume them at once.
        for rid in list(self.runs):
            self.abandon(rid)
        tasks = list(self.tasks.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.store.expire_leases_of([self.owner])
