"""Automatic continuation (REFERENCE 10.2): a synchronous model request still running
after ``continuation_after_seconds`` ends its HTTP hop with ``requires_continuation`` and
a single-use ``continuation_token``; the run goes on. The SDK then sends
``{continuation_token, previous_interaction_id: <that hop>}``; the next hop is a new
stored interaction whose steps are the run's steps produced since, and which ends either
with the run's final status or, after the same time, with another token.

A hop never runs anything: the run is the first interaction's, and a hop's row points at
a range of that run's steps (chain ``first_seq..last_seq``), so the hop's history, and
the next turn continued from it, is the whole conversation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from junction import ids, jsonutil
from junction.errors import BadRequest, NotFound
from junction.runtime.hop_stream import cut, cut_event
from junction.runtime.journal import Journal
from junction.schema.requests import CreateInteraction
from junction.store.continuation import ContinuationStore, ContinuationToken
from junction.store.db import Conn
from junction.store.records import RUNNING, InteractionRecord

if TYPE_CHECKING:
    from junction.runtime.service import Created, InteractionService


@dataclasses.dataclass
class Hop:
    """A continuation hop being served."""

    id: str
    project_id: str
    issuer_id: str
    token: ContinuationToken
    started: float


def _leading_inputs(steps: list[dict[str, Any]]) -> int:
    return sum(1 for _ in itertools.takewhile(lambda s: s["type"] == "user_input", steps))


def _with_token(record: InteractionRecord, token: str) -> InteractionRecord:
    """The record rendered as a hop that ended early (nothing of this is stored)."""
    return dataclasses.replace(
        record,
        status="requires_continuation",
        usage=None,
        config={**record.config, "continuation_token": token},
    )


class Continuations:
    def __init__(self, service: InteractionService) -> None:
        self.service = service
        settings = service.settings
        self.store = ContinuationStore(service.db, settings.continuation_token_ttl_seconds)

    @property
    def after(self) -> float:
        return self.service.settings.continuation_after_seconds

    def applies(self, created: Created) -> bool:
        """A synchronous, stored model request run here may be cut into hops."""
        record = created.record
        journal = created.journal
        return (
            self.after > 0
            and not record.background
            and record.agent is None
            and journal is not None
            and journal.store is not None
            and created.run is not None
        )

    # -- the first hop (the run's own interaction) ------------------------------------------
    async def finish_first(self, created: Created) -> InteractionRecord | None:
        """Wait for the run up to the limit; None when it ended in time, else the record
        rendered as a hop that requires continuation."""
        record = created.record
        runs = self.service.runs
        journal = created.journal
        assert journal is not None
        await runs.wait(record.id, timeout=self.after)
        if journal.done:
            return None
        await journal.persist()  # the run is now durable and observable
        steps = list(journal.steps)
        token = await self.store.issue(record.project_id, record.id, record.id, len(steps), 0)
        return dataclasses.replace(_with_token(record, token), steps=steps)

    async def stream_first(
        self, created: Created, events: AsyncIterator[tuple[int, str]]
    ) -> AsyncIterator[tuple[int, str]]:
        record = created.record
        journal = created.journal
        assert journal is not None
        delivered: int | None = None
        last = 0
        async for item in cut(events, time.monotonic(), self.after):
            if isinstance(item, int):
                delivered = item
                break
            last = item[0]
            yield item
        if delivered is None:
            return
        await journal.persist()
        if delivered < 0:
            delivered = _leading_inputs(journal.steps)
        token = await self.store.issue(record.project_id, record.id, record.id, delivered, last)
        yield cut_event(last, record, token)

    # -- later hops -------------------------------------------------------------------------
    async def start_hop(self, project_id: str, req: CreateInteraction) -> Hop:
        token_text = req.continuation_token
        assert token_text
        if not req.store:
            raise BadRequest("continuation_token needs store=true: Junction continues a stored run")
        if req.input not in (None, "", []):
            raise BadRequest(
                "a continuation hop takes no input: send only continuation_token "
                "and previous_interaction_id"
            )
        token = await self.store.find(project_id, token_text)
        if token is None:
            raise BadRequest("unknown continuation_token: it was not issued to this project")
        if req.previous_interaction_id != token.issuer_id:
            raise BadRequest(
                f"this continuation_token was issued by interaction '{token.issuer_id}': "
                "send it with previous_interaction_id set to that id"
            )
        if token.used:
            raise BadRequest("this continuation_token was already used (tokens are single-use)")
        if token.expired:
            raise BadRequest(
                "this continuation_token has expired (continuation_token_ttl_seconds): "
                f"GET interaction '{token.run_id}' for the run's result"
            )
        limit = self.service.settings.continuation_max_hops
        if await self.store.hops_of(project_id, token.run_id) >= limit:
            raise BadRequest(
                f"the run of interaction '{token.run_id}' has been continued {limit} times "
                f"(continuation_max_hops): GET or stream that interaction to follow it"
            )
        if not await self.store.consume(project_id, token_text):
            raise BadRequest("this continuation_token was already used (tokens are single-use)")
        return Hop(ids.interaction_id(), project_id, token.issuer_id, token, time.monotonic())

    async def _wait_run(self, hop: Hop) -> None:
        service = self.service
        run_id = hop.token.run_id
        left = hop.started + self.after - time.monotonic()
        if service.runs.get(run_id) is not None:
            await service.runs.wait(run_id, timeout=max(left, 0))
            return
        while time.monotonic() < hop.started + self.after:  # the run is in another process
            state = await service.store.status_of(run_id)
            if state is None or state[0] not in RUNNING:
                return
            await asyncio.sleep(0.2)

    async def _run_now(self, hop: Hop) -> tuple[InteractionRecord, Journal | None]:
        """The run's record with every step written so far (its journal if live here)."""
        service = self.service
        run = service.runs.get(hop.token.run_id)
        if run is not None:
            await run.journal.persist()
            return run.journal.record, run.journal
        record = await service.store.get(hop.project_id, hop.token.run_id)
        if record is None:
            raise NotFound(f"interaction '{hop.token.run_id}' not found")
        await service.store.load_steps(record)
        return record, None

    async def finish_hop(self, hop: Hop) -> InteractionRecord:
        await self._wait_run(hop)
        run, _ = await self._run_now(hop)
        return await self._store_hop(hop, run, len(run.steps))

    async def _store_hop(self, hop: Hop, run: InteractionRecord, upto: int) -> InteractionRecord:
        """Write the hop's row: the run's steps ``delivered..upto``, and the run's final
        state or a new token."""
        terminal = run.status not in RUNNING and upto >= len(run.steps)
        delivered = hop.token.delivered
        now = ids.now_iso()
        config = {k: v for k, v in run.config.items() if k not in ("input", "stream")}
        config["previous_interaction_id"] = hop.issuer_id
        record = InteractionRecord(
            id=hop.id,
            project_id=hop.project_id,
            status=run.status if terminal else "requires_continuation",
            model=run.model,
            agent=None,
            previous_interaction_id=hop.issuer_id,
            chain_id=run.chain_id,
            first_seq=run.first_seq + delivered,
            last_seq=run.first_seq + upto - 1,
            config=config,
            created=now,
            updated=now,
            usage=run.usage if terminal else None,
            errors=run.errors if terminal else None,
            steps=run.steps[delivered:upto],
        )
        token = ""

        async def write(tx: Conn) -> None:
            nonlocal token
            store = self.service.store
            await store.insert(tx, record)
            await self.store.add_hop(tx, hop.project_id, hop.id, run.id)
            if terminal:
                await store.take_head(tx, run, record.id)
            else:
                token = await self.store.issue(hop.project_id, hop.id, run.id, upto, 0, conn=tx)

        async with self.service.db.transaction() as tx:
            await write(tx)
        return record if terminal else _with_token(record, token)

    async def stream_hop(self, hop: Hop) -> AsyncIterator[tuple[int, str]]:
        service = self.service
        run, journal = await self._run_now(hop)
        delivered = hop.token.delivered
        shell = {"id": hop.id, "object": "interaction", "status": "in_progress"}
        if run.model:
            shell["model"] = run.model
        yield (
            0,
            jsonutil.dumps(
                {"event_type": "interaction.created", "event_id": "0", "interaction": shell}
            ),
        )
        source = service.follow.events(run, hop.token.event_seq, journal)
        upto: int | None = None
        last = 0
        async for item in cut(source, hop.started, self.after):
            if isinstance(item, int):
                upto = max(item, delivered)
                break
            seq, data = item
            last = seq
            event = jsonutil.loads(data)
            kind = event.get("event_type", "")
            if kind.startswith("step."):
                if int(event["index"]) < delivered:
                    continue
                event["index"] = int(event["index"]) - delivered
                yield seq, jsonutil.dumps(event)
        run, _ = await self._run_now(hop)
        record = await self._store_hop(hop, run, len(run.steps) if upto is None else upto)
        wire = record.to_wire(steps=False)
        summary = {
            k: wire[k]
            for k in (
                "id",
                "object",
                "status",
                "model",
                "created",
                "updated",
                "usage",
                "errors",
                "continuation_token",
            )
            if k in wire
        }
        yield (
            last + 1,
            jsonutil.dumps(
                {
                    "event_type": "interaction.completed",
                    "event_id": str(last + 1),
                    "interaction": summary,
                }
            ),
        )

    async def fill_steps(self, record: InteractionRecord) -> None:
        """A hop's steps are a range of its run's (load_steps finds none of its own)."""
        if record.steps or record.last_seq < record.first_seq:
            return
        if await self.store.run_of(record.project_id, record.id) is None:
            return
        rows = await self.service.db.fetchall(
            "SELECT data FROM steps WHERE chain_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
            record.chain_id,
            record.first_seq,
            record.last_seq,
        )
        record.steps = [jsonutil.loads(r["data"]) for r in rows]
