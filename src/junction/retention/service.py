"""The purge job and whole-project deletion.

Policy: each retention field of a project (``interactions_days``, ``events_days``,
``media_days``, ``environment_idle_seconds``) is the project's override when set, else
the server's default (``retention_*`` settings, ``environment_idle_seconds``); 0 keeps
forever. Expired continuation tokens are deleted on every pass, whatever the policy. A
pass walks every project and deletes in batches of ``retention_batch_size``
interactions (each batch one short transaction), pausing ``retention_pause_seconds``
between batches so runs keep writing. Only resting interactions (not queued or in
progress) are deleted. One process of a deployment purges at a time: each pass first
claims the ``retention`` duty (a lease in the database, ``store/duties.py``) and skips the
pass while another live process holds it; a holder that dies is replaced once its lease
(one and a half intervals plus a minute) runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from junction import ids
from junction.config import Settings
from junction.errors import ApiError
from junction.retention.hooks import RetentionHook
from junction.sandbox.errors import SandboxError
from junction.store.db import Database
from junction.store.duties import Duties
from junction.store.retention import RESTING, RetentionRows

if TYPE_CHECKING:
    from junction.runtime.environments import EnvironmentService

log = logging.getLogger("junction.retention")

#: the lease that lets one process of a deployment run the purge job
DUTY = "retention"


def cutoff(days: float, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Policy:
    interactions_days: float
    events_days: float
    media_days: float
    environment_idle_seconds: float
    overridden: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "interactions_days": self.interactions_days,
            "events_days": self.events_days,
            "media_days": self.media_days,
            "environment_idle_seconds": self.environment_idle_seconds,
            "overridden": sorted(self.overridden),
        }


class RetentionService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        environments: EnvironmentService | None = None,
    ) -> None:
        self.db = db
        self.rows = RetentionRows(db)
        self.settings = settings
        self.environments = environments
        #: other stores (media, …) add themselves here
        self.hooks: list[RetentionHook] = []
        self.duties = Duties(db)
        self._task: asyncio.Task[None] | None = None

    def policy_of(self, row: dict[str, Any]) -> Policy:
        s = self.settings
        defaults = {
            "interactions_days": s.retention_interactions_days,
            "events_days": s.retention_events_days,
            "media_days": s.retention_media_days,
            "environment_idle_seconds": s.environment_idle_seconds,
        }
        overridden = {k for k in defaults if row.get(k) is not None}
        values = {k: float(row[k]) if k in overridden else float(v) for k, v in defaults.items()}
        return Policy(**values, overridden=overridden)

    async def policy(self, project_id: str) -> Policy:
        return self.policy_of(await self.rows.policy(project_id))

    # -- the job ------------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.retention_interval_seconds > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            with contextlib.suppress(Exception):  # the next holder need not wait out the lease
                await self.duties.release(DUTY)

    async def _loop(self) -> None:
        interval = self.settings.retention_interval_seconds
        while True:
            try:
                if await self.duties.claim(DUTY, interval * 1.5 + 60):
                    await self.purge_all()
            except Exception:
                log.exception("retention purge failed; retrying at the next interval")
            await asyncio.sleep(interval)

    async def purge_all(self) -> Counter[str]:
        """One pass over every project; what was deleted, by kind."""
        total: Counter[str] = Counter()
        for row in await self.rows.projects():
            try:
                total += await self.purge_project(str(row["id"]), row)
            except Exception:  # one project's failure does not stop the others'
                log.exception("retention purge of project %s failed", row["id"])
        if sum(total.values()):
            log.info("retention purge deleted %s", dict(total))
        return total

    async def purge_project(
        self, project_id: str, row: dict[str, Any] | None = None
    ) -> Counter[str]:
        if row is None:
            row = await self.rows.policy(project_id)
        policy = self.policy_of(row)
        done: Counter[str] = Counter()
        # expired continuation tokens go whatever the policy (they are never kept)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        tokens = await self._batches(
            partial(self.rows.purge_continuation_tokens, project_id, now_ms)
        )
        if tokens:
            done["continuation_tokens"] += tokens
        if policy.interactions_days > 0:
            before = cutoff(policy.interactions_days)
            done["interactions"] += await self._batches(
                partial(self._delete_expired, project_id, before)
            )
        if policy.events_days > 0:
            done["events"] += await self._purge_events(
                project_id, cutoff(policy.events_days), str(row.get("events_purged_until") or "")
            )
        for hook in self.hooks:
            days = getattr(policy, hook.policy, 0.0)
            if days > 0:
                before = cutoff(days)
                done[hook.name] += await self._batches(partial(hook.purge, project_id, before))
        if "environment_idle_seconds" in policy.overridden and self.environments is not None:
            done["environments"] += await self._expire_environments(
                project_id, policy.environment_idle_seconds
            )
        return done

    async def _batches(self, step: Callable[[int], Awaitable[int]]) -> int:
        """Call ``step(limit)`` until it deletes fewer than a batch; pause in between."""
        limit = self.settings.retention_batch_size
        total = 0
        while True:
            count = int(await step(limit))
            total += count
            if count < limit:
                return total
            await asyncio.sleep(self.settings.retention_pause_seconds)

    async def _delete_expired(self, project_id: str, before: str, limit: int) -> int:
        batch = await self.rows.expired_interactions(project_id, before, limit)
        if not batch:
            return 0
        await self.rows.delete_interactions(project_id, batch)
        for hook in self.hooks:
            await hook.interactions_deleted(project_id, batch)
        return len(batch)

    async def _purge_events(self, project_id: str, before: str, watermark: str) -> int:
        """Delete the event logs of resting interactions created before ``before``,
        starting at the project's watermark; the watermark stops at the first
        interaction still running, so its events are purged on a later pass."""
        limit = self.settings.retention_batch_size
        deleted = 0
        while True:
            batch = await self.rows.interactions_after(project_id, watermark, before, limit)
            done = []
            for interaction_id, created, status in batch:
                if status not in RESTING:
                    batch = []
                    break
                done.append(interaction_id)
                watermark = created
            deleted += await self.rows.delete_events(done)
            if done:
                await self.rows.set_events_watermark(project_id, watermark, ids.now_iso())
            if len(done) < limit:
                return deleted
            await asyncio.sleep(self.settings.retention_pause_seconds)

    async def _expire_environments(self, project_id: str, idle_seconds: float) -> int:
        assert self.environments is not None
        if idle_seconds <= 0:
            return 0
        moment = datetime.now(UTC) - timedelta(seconds=idle_seconds)
        before = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        idle = await self.rows.idle_environments(project_id, before, 100)
        for env_id in idle:
            await self.environments.expire(env_id)
        return len(idle)

    # -- whole-project deletion ----------------------------------------------------------
    async def delete_project_data(self, project_id: str) -> dict[str, int]:
        """Delete every row of the project except the project and its keys: interactions
        (with steps, chains and events), environments (workspaces destroyed), agents,
        credentials, usage and retention overrides, and what the hooks hold. Running
        interactions stop at their next write (their row is gone)."""
        counts: Counter[str] = Counter()
        limit = self.settings.retention_batch_size
        while batch := await self.rows.any_interactions(project_id, limit):
            counts["interactions"] += await self.rows.delete_interactions(project_id, batch)
            await asyncio.sleep(self.settings.retention_pause_seconds)
        counts["chains"] += await self._batches(
            partial(self.rows.delete_batch, "chains", project_id)
        )
        if self.environments is not None:
            while envs := await self.rows.environments(project_id, limit):
                for env_id in envs:
                    try:
                        await self.environments.delete(project_id, env_id)
                    except (ApiError, SandboxError) as exc:  # the row goes all the same
                        log.warning("environment %s: workspace not freed: %s", env_id, exc)
                        await self.rows.delete_environment(project_id, env_id)
                counts["environments"] += len(envs)
        counts["environments"] += await self.rows.delete_all("environments", project_id)
        for table in (
            "agents",
            "code_mender_sessions",
            "credentials",
            "project_usage",
            "project_retention",
            "continuation_tokens",
            "continuation_hops",
        ):
            counts[table] += await self.rows.delete_all(table, project_id)
        for hook in self.hooks:
            counts[hook.name] += await hook.delete_project(project_id)
        steps = await self.db.execute("DELETE FROM steps WHERE project_id = $1", project_id)
        counts["steps"] += steps
        return dict(counts)
