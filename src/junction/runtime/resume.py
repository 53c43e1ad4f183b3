"""Starting a claimed interaction: a queued one for the first time, or an interrupted
one again, from its last persisted step. Also ending interactions nobody runs."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING

from junction import jsonutil
from junction.errors import ApiError
from junction.ids import now_iso
from junction.notify import outbox
from junction.runtime.context import Context
from junction.runtime.journal import Journal
from junction.runtime.registry import now_ms
from junction.runtime.run_workspace import add_workspace_instructions
from junction.runtime.runner import Run
from junction.schema.requests import CreateInteraction
from junction.store.interactions import InteractionStore
from junction.store.records import InteractionRecord

if TYPE_CHECKING:
    from junction.runtime.service import InteractionService

log = logging.getLogger("junction.resume")

#: event ids a resumed run skips, so that events a dead worker published live but never
#: wrote are not reused with other content
RESUME_GAP = 1000


def observe_claim(service: InteractionService, record: InteractionRecord) -> None:
    """A claimed run's queue wait (first claim) or takeover (later claims): metrics, and a
    span from the interaction's creation to now in its trace."""
    metrics, tracing = service.telemetry.metrics, service.telemetry.tracing
    if record.attempts > 1:
        if metrics is not None:
            metrics.lease_takeovers.inc()
        return
    try:
        created = datetime.fromisoformat(record.created.replace("Z", "+00:00"))
    except ValueError:
        return
    waited = max(0.0, time.time() - created.timestamp())
    if metrics is not None:
        metrics.queue_pickup.observe(waited)
    if tracing is not None:
        span = tracing.start(
            "queue_wait",
            parent=tracing.extract(record.trace_context),
            attributes={"junction.interaction.id": record.id, "junction.queue.seconds": waited},
            start_time=int(created.timestamp() * 1e9),
        )
        span.end()


async def resume_run(service: InteractionService, record: InteractionRecord) -> None:
    store = service.store
    if service.telemetry.metrics is not None or service.telemetry.tracing is not None:
        observe_claim(service, record)
    if record.max_event is None:
        await store.load_steps(record)
        record.max_event = await store.max_event_seq(record.id)
    journal = Journal(store, record, event_seq=record.max_event + RESUME_GAP)
    if record.attempts > service.settings.max_attempts:
        await _give_up(journal, service.settings.max_attempts)
        return
    try:
        req = CreateInteraction.model_validate(
            {**record.config, "model": record.model, "agent": record.agent}
        )
        steps = await store.history(record, before_own=True) if record.first_seq > 0 else []
        history = Context.of(steps, record.chain_id, record.first_seq - 1)
        spec, agent = await service.spec_for(req, record.project_id, history, record.steps)
        if record.environment_id:
            await add_workspace_instructions(
                service.environments,
                spec,
                record.project_id,
                record.environment_id,
                agent=agent is not None,
            )
            if agent is not None and agent.task is not None and service.mender is not None:
                await service.mender.start(
                    spec, agent.task, record.project_id, record.environment_id, False
                )
    except ApiError as exc:
        await journal.end("failed", [{"code": exc.code, "message": exc.message}])
        return
    except Exception as exc:  # a stored request that no longer parses: end it, don't retry
        log.exception("interaction %s cannot be started", record.id)
        message = f"the stored request cannot be run: {type(exc).__name__}: {exc}"[:500]
        await journal.end("failed", [{"code": "invalid_argument", "message": message}])
        return
    spec.stream = True
    journal.status_event()
    if record.attempts > 1:
        log.info(
            "resuming %s from step %d (attempt %d)", record.id, len(record.steps), record.attempts
        )
    run = Run(spec, journal, service.settings)
    service.equip(run)
    run.on_done = service.remember_context
    service.runs.start(run)


async def _give_up(journal: Journal, attempts: int) -> None:
    await journal.end(
        "failed",
        [
            {
                "code": "gave_up",
                "message": f"the run was started {attempts} times and its worker stopped each "
                "time (crash or lost lease) before it finished",
            }
        ],
    )


async def end_unowned(store: InteractionStore, record: InteractionRecord, status: str) -> bool:
    """End a queued interaction, or one whose lease lapsed, directly (no worker runs it)."""
    if record.status == "in_progress" and record.lease_expires >= now_ms():
        return False
    seq = await store.max_event_seq(record.id) + 1
    record.status = status
    record.updated = now_iso()
    summary = record.to_wire(steps=False)
    events = [
        (
            seq,
            jsonutil.dumps(
                {
                    "event_type": "interaction.status_update",
                    "interaction_id": record.id,
                    "status": status,
                    "event_id": str(seq),
                }
            ),
        ),
        (
            seq + 1,
            jsonutil.dumps(
                {
                    "event_type": "interaction.completed",
                    "interaction": {
                        k: summary[k]
                        for k in ("id", "object", "status", "model", "created", "updated")
                        if k in summary
                    },
                    "event_id": str(seq + 1),
                }
            ),
        ),
    ]
    message = outbox.interaction_message(
        record.project_id, record.id, status, record.errors, record.config
    )
    ended = await store.end_unowned(
        record, now_ms(), events, (message, outbox.max_pending()) if message else None
    )
    if ended and message is not None:
        outbox.wake(store.db)
    return ended
