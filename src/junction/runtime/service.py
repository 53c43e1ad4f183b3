"""The interactions service: create, get, follow, cancel, delete, list.

This is the one place that ties the store, the provider router and the run registry
together; the HTTP layer only parses and renders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from junction import ids
from junction.agents.charts import charts_for
from junction.agents.mender import CodeMender
from junction.agents.research import PLAN_ONLY, cite
from junction.agents.run import agent_request, options_of, run_limits
from junction.agents.service import AgentService, ResolvedAgent
from junction.config import Settings
from junction.errors import BadRequest, Conflict, NotFound, TooManyRequests
from junction.media.by_uri import KINDS as BY_URI_KINDS
from junction.media.by_uri import MediaByUri
from junction.media.service import MediaService, refs_in
from junction.observe.prices import PriceTable
from junction.observe.telemetry import Telemetry
from junction.providers.registry import ProviderRouter
from junction.runtime.budget import ProjectBudget
from junction.runtime.context import EMPTY, Context, ContextCache
from junction.runtime.continuation import Continuations, Hop
from junction.runtime.env_vars import redact as redact_env
from junction.runtime.environments import EnvironmentService
from junction.runtime.follow import Follower
from junction.runtime.journal import Journal
from junction.runtime.output import voice_names
from junction.runtime.prepare import build_spec, check_function_results
from junction.runtime.registry import RunRegistry, new_owner_id, now_ms, owner_is_dead
from junction.runtime.resume import end_unowned, resume_run
from junction.runtime.run_workspace import add_workspace_instructions, environment_for
from junction.runtime.runner import Run, RunSpec
from junction.runtime.worker import WorkerPool
from junction.schema.requests import ECHOED_FIELDS, CreateInteraction, normalize_input, parse_create
from junction.store.db import CANCEL_CHANNEL, Conn, Database, UniqueViolation
from junction.store.interactions import InteractionStore, ListFilters
from junction.store.records import RUNNING, InteractionRecord
from junction.tools.fetch import UrlFetcher
from junction.tools.registry import build_services, close_services

log = logging.getLogger("junction.service")


class VoiceLookup(Protocol):
    async def lookup(self, project_id: str, names: list[str]) -> dict[str, dict[str, Any]]:
        """The project's custom voices among ``names`` (id → voice)."""
        ...


@dataclass
class Created:
    record: InteractionRecord
    journal: Journal | None  # set while the run is live in this process
    stream: bool
    run: Run | None = None
    #: set for a continuation hop (it runs nothing: it follows the run it continues)
    hop: Hop | None = None


class InteractionService:
    def __init__(self, db: Database, settings: Settings, router: ProviderRouter) -> None:
        self.db = db
        self.settings = settings
        self.router = router
        self.store = InteractionStore(db)
        self.hops = Continuations(self)
        self.runs = RunRegistry(
            self.store, owner=new_owner_id(), lease_seconds=settings.lease_seconds
        )
        self.contexts = ContextCache()
        self.tools = build_services(settings)
        # media by uri shares url_context's fetcher (one policy, one session)
        shared = self.tools.extras.get("url_fetcher")
        fetcher = shared if isinstance(shared, UrlFetcher) else None
        self._own_fetcher: UrlFetcher | None = None
        if fetcher is None:
            fetcher = self._own_fetcher = UrlFetcher(allow_private=settings.url_fetch_allow_private)
        self.by_uri = MediaByUri(
            fetcher, settings.media_uri_max_bytes, settings.media_uri_max_items
        )
        self.budget = ProjectBudget(
            db, settings.project_daily_tokens, settings.project_daily_cost, settings.price_currency
        )
        self.prices = PriceTable(settings.prices, settings.price_currency)
        self.telemetry = Telemetry()  # set by the system
        self._sampler: asyncio.Task[None] | None = None
        self.agents: AgentService | None = None  # set by the system (agent interactions)
        self.environments: EnvironmentService | None = None  # set by the system
        self.mender: CodeMender | None = None  # set by the system (code-mender agent)
        #: validates a request's webhook_config (set by the system; notify/service.py)
        self.check_webhook_config: Callable[[Any], Awaitable[None]] | None = None
        #: generated media (set by the system) and custom voices (voice id → voice)
        self.media: MediaService | None = None
        self.voices: VoiceLookup | None = None
        self.follow = Follower(self.store, self.runs)
        self.workers = WorkerPool(
            self.store,
            self.runs,
            self.resume,
            capacity=settings.workers,
            max_running=settings.project_max_running_runs,
            weights=settings.project_weights,
        )

    async def start(self, *, api: bool = True) -> None:
        """Reconcile runs left by dead processes of this host, then start the workers and
        the cross-process listeners."""
        dead = [o for o in await self.store.lease_owners() if owner_is_dead(o)]
        if dead:
            count = await self.store.expire_leases_of(dead)
            log.warning("%d interrupted runs of stopped processes will be resumed", count)
        await self.db.add_listener(CANCEL_CHANNEL, self._cancel_notified)
        if api:
            await self.follow.start()  # only API processes have stream followers
        if self.settings.workers > 0:
            await self.workers.start()

    def equip(self, run: Run) -> None:
        """Give a new run the project budget, the media store and its model's price."""
        run.budget = self.budget
        run.media = self.media
        spec = run.spec
        run.usage.prices = self.prices
        run.usage.price = self.prices.lookup(spec.model_id, spec.provider.name, spec.model)
        if self.telemetry.metrics is not None or self.telemetry.tracing is not None:
            run.telemetry = self.telemetry

    async def sample_queue_depth(self) -> None:
        """Refresh the gauges read from the database: queue depth and live sandboxes."""
        metrics = self.telemetry.metrics
        if metrics is not None:
            metrics.queue_depth.set(await self.store.count_queued())
            row = await self.db.fetchone(
                "SELECT COUNT(*) AS n FROM environments WHERE status = 'active'"
            )
            metrics.sandboxes_live.set(int(row["n"]) if row else 0)

    def start_queue_sampler(self, interval: float = 10.0) -> None:
        """Keep the queue depth gauge fresh (metrics served on their own port)."""

        async def sample() -> None:
            while True:
                try:
                    await self.sample_queue_depth()
                except Exception:
                    log.exception("sampling the queue depth failed")
                await asyncio.sleep(interval)

        self._sampler = asyncio.get_running_loop().create_task(sample())

    def _cancel_notified(self, interaction_id: str) -> None:
        self.runs.cancel_local(interaction_id)

    async def resume(self, record: InteractionRecord) -> None:
        """Run (or resume) an interaction this process has just claimed."""
        await resume_run(self, record)

    # -- create ---------------------------------------------------------------------------
    async def create(
        self,
        project_id: str,
        body: Any,
        idempotency_key: str | None = None,
        *,
        api_key_id: str | None = None,
    ) -> Created:
        req = parse_create(body)
        if idempotency_key:
            existing = await self.store.get_by_idempotency_key(project_id, idempotency_key)
            if existing is not None:
                return await self._replay_created(existing, req.stream)
        if req.continuation_token:
            hop = await self.hops.start_hop(project_id, req)
            now = ids.now_iso()
            shell = InteractionRecord(
                id=hop.id,
                project_id=project_id,
                status="in_progress",
                model=req.model,
                agent=None,
                previous_interaction_id=hop.issuer_id,
                chain_id="",
                first_seq=0,
                last_seq=-1,
                config={},
                created=now,
                updated=now,
            )
            return Created(shell, None, req.stream, hop=hop)
        if req.webhook_config is not None and self.check_webhook_config is not None:
            await self.check_webhook_config(req.webhook_config)
        turn = normalize_input(req.input)
        if refs_in(turn):
            raise BadRequest(
                "input names a 'junction-media:' uri: send the media itself as 'data' (base64)"
            )
        previous: InteractionRecord | None = None
        history = EMPTY
        if not req.store:
            if req.previous_interaction_id:
                raise BadRequest(
                    "store=false cannot be combined with previous_interaction_id: send the "
                    "whole conversation as a list of steps in 'input'"
                )
            if req.background:
                raise BadRequest("background=true needs store=true (the result must be kept)")
        elif req.previous_interaction_id:
            previous = await self.store.get(project_id, req.previous_interaction_id)
            if previous is None:
                raise NotFound(f"interaction '{req.previous_interaction_id}' not found")
            if previous.status in RUNNING:
                raise Conflict(
                    f"interaction '{previous.id}' is still {previous.status}: wait for it to "
                    "finish (or cancel it) before continuing the conversation"
                )
            history = await self._context_of(previous)
        own = previous.last_seq - previous.first_seq + 1 if previous else 0
        check_function_results(
            history.steps[len(history.steps) - own :], turn, previous.status if previous else None
        )
        # Before anything is created for it (an environment): a full queue refuses.
        queued = req.background and await self._must_queue(project_id)
        if not req.background:
            self._check_foreground(project_id)
        spec, agent = await self.spec_for(req, project_id, history, turn)
        if spec.output.media:
            await self._check_media_bytes(project_id)
        environment_id = await environment_for(
            self.environments, self.mender, req, agent, project_id
        )
        if environment_id is not None:
            await add_workspace_instructions(
                self.environments, spec, project_id, environment_id, agent=agent is not None
            )
        interaction_id = ids.interaction_id()
        if environment_id and agent is not None and agent.task is not None and self.mender:
            await self.mender.start(
                spec, agent.task, project_id, environment_id, True, interaction_id
            )
        now = ids.now_iso()
        first_seq = previous.last_seq + 1 if previous else 0
        record = InteractionRecord(
            id=interaction_id,
            project_id=project_id,
            status="in_progress",
            model=req.model,
            agent=req.agent,
            previous_interaction_id=previous.id if previous else None,
            chain_id="",
            first_seq=first_seq,
            last_seq=first_seq - 1,
            config=self._echo(req),
            created=now,
            updated=now,
            background=req.background,
            idempotency_key=idempotency_key,
            environment_id=environment_id,
            api_key_id=api_key_id,
        )
        if self.telemetry.tracing is not None:
            record.trace_context = self.telemetry.tracing.inject()
        if queued:
            record.status = "queued"
        else:
            record.lease_owner = self.runs.owner
            record.lease_expires = self.runs.lease_until()
            record.fence = 1
            record.attempts = 1
        journal = Journal(self.store if req.store else None, record)
        self._start_events(journal, turn)
        if req.store:

            async def insert(tx: Conn, snap: InteractionRecord) -> None:
                await self._insert(tx, snap, previous)

            # A plain synchronous call is written once, when it ends: nobody can know
            # its id before the reply. Anything observable earlier is written now.
            journal.insert_hook = insert
            journal.fresh_chain = previous is None
            journal.notify_jobs = queued
            if req.stream or req.background or idempotency_key:
                try:
                    await journal.persist()
                except UniqueViolation:
                    # The same Idempotency-Key won a race in another request.
                    assert idempotency_key is not None
                    existing = await self.store.get_by_idempotency_key(project_id, idempotency_key)
                    if existing is None:
                        raise
                    return await self._replay_created(existing, req.stream)
        if queued:
            # No capacity here: a worker of any process picks it up (notified at commit).
            self.workers.wake()
            return Created(record, None, req.stream, None)
        run = Run(spec, journal, self.settings)
        self.equip(run)
        if req.store:
            run.on_done = self.remember_context
        self.runs.start(run)
        return Created(record, journal, req.stream, run)

    async def _must_queue(self, project_id: str) -> bool:
        """Whether a new background run waits in the queue rather than starting here now:
        no free slot here, runs already waiting their turn (fair claiming), or the
        project at its cap of runs at once. Refused (429) when the project already has
        ``project_max_queued_runs`` runs waiting."""
        settings = self.settings
        if not (settings.project_max_queued_runs or settings.project_max_running_runs):
            return self.workers.free <= 0 or self.workers.backlog
        load = await self.store.project_load(project_id, now_ms())
        if settings.project_max_queued_runs and load.waiting >= settings.project_max_queued_runs:
            raise TooManyRequests(
                f"this project has {load.waiting} background interactions waiting to run, "
                f"its limit (project_max_queued_runs); retry once some have started",
                retry_after=5,
            )
        at_cap = bool(settings.project_max_running_runs) and (
            load.running >= settings.project_max_running_runs
        )
        return self.workers.free <= 0 or self.workers.backlog or at_cap

    def _check_foreground(self, project_id: str) -> None:
        cap = self.settings.project_max_foreground_runs
        if cap and self.runs.foreground[project_id] >= cap:
            raise TooManyRequests(
                f"this project has {cap} synchronous or streaming interactions running on "
                "this server, its limit (project_max_foreground_runs); retry when one has "
                "finished, or use background=true"
            )

    async def _check_media_bytes(self, project_id: str) -> None:
        """A request for image or audio output is refused while the project's stored media
        is at its cap (``project_max_media_bytes``): nothing is created for it."""
        cap = self.settings.project_max_media_bytes
        if not cap or self.media is None:
            return
        used = await self.media.project_bytes(project_id)
        if used >= cap:
            raise TooManyRequests(
                f"this project's generated media takes {used} bytes, its limit "
                "(project_max_media_bytes): delete interactions whose media it no longer "
                "needs, or shorten its retention (media_days)"
            )

    async def spec_for(
        self,
        req: CreateInteraction,
        project_id: str,
        history: Context,
        turn: list[dict[str, Any]],
    ) -> tuple[RunSpec, ResolvedAgent | None]:
        """The run of a model request, or of an agent request (as the model request it
        amounts to: the agent's model, instructions, tools and budget)."""
        names = voice_names(req)
        voices = await self.voices.lookup(project_id, names) if names and self.voices else {}
        earlier = history.steps if history.modalities.intersection(BY_URI_KINDS) else []
        fetched = await self.by_uri.resolve(project_id, earlier, turn, self.media)
        if not req.agent:
            spec = build_spec(req, self.router, history, turn, self.tools, voices, fetched)
            return spec, None
        if self.agents is None:
            raise BadRequest("agents are not available in this process")
        as_model, agent, budget = await agent_request(req, project_id, self.agents, self.settings)
        config = {**agent.config, **(req.agent_config or {})}
        if agent.kind == "mender" and self.mender is not None:
            as_model, agent.task = await self.mender.for_request(req, project_id, config, as_model)
        elif config.get("type") == "code-mender":
            raise BadRequest(
                f"agent_config.type 'code-mender' configures the code-mender agent "
                f"(agent 'code-mender'), not '{req.agent}'"
            )
        spec = build_spec(as_model, self.router, history, turn, self.tools, fetched=fetched)
        spec.max_total_tokens = budget
        spec.max_model_calls, spec.max_seconds = run_limits(req, agent)
        if agent.task is not None and self.mender is not None:
            self.mender.configure(spec, agent.task)
        if agent.kind == "research":
            spec.annotate = cite
            options = options_of(req, agent)
            if options.visualization:
                spec.after_answer = charts_for(self.environments)
            if options.collaborative_planning and not req.previous_interaction_id:
                spec.plan_only = True
                spec.server_tool_list = []
                spec.tools = [t for t in spec.tools if t["type"] == "function"]
                spec.system_instruction = (spec.system_instruction or "") + "\n\n" + PLAN_ONLY
        return spec, agent

    async def _context_of(self, previous: InteractionRecord) -> Context:
        cached = self.contexts.get(previous.id)
        if cached is not None:
            return cached
        steps = await self.store.history(previous)
        context = Context.of(steps, previous.chain_id, previous.last_seq)
        self.contexts.put(previous.id, context)
        return context

    def remember_context(self, run: Run) -> None:
        journal, spec = run.journal, run.spec
        if journal.final_persisted:
            record = journal.record
            context = Context(spec.history, spec.history_modalities, "", -1, spec.history_media)
            self.contexts.put(
                record.id, context.extend(journal.steps, record.chain_id, record.last_seq)
            )

    def _echo(self, req: CreateInteraction) -> dict[str, Any]:
        dumped = req.model_dump(
            mode="json", exclude_none=True, by_alias=True, include={*ECHOED_FIELDS, "input"}
        )
        if "environment" in dumped:
            dumped["environment"] = redact_env(dumped["environment"])
        return dumped

    def _start_events(self, journal: Journal, turn: list[dict[str, Any]]) -> None:
        for step in turn:
            journal.add_step(step)
        journal.event({"event_type": "interaction.created", "interaction": journal.summary()})
        journal.status_event()

    async def _insert(
        self, tx: Conn, record: InteractionRecord, previous: InteractionRecord | None
    ) -> None:
        """Insert the interaction row, extending the previous interaction's chain when it
        is still the chain's head, else starting a new chain with a copy of the prefix."""
        if previous is not None and await self.store.take_head(tx, previous, record.id):
            record.chain_id = previous.chain_id
        else:
            record.chain_id = ids.sortable_id("ch_")
            await self.store.new_chain(
                tx, record.chain_id, record.project_id, record.id, record.created
            )
            if previous is not None:
                await self.store.copy_prefix(tx, previous, record.chain_id)
        await self.store.insert(tx, record)

    async def _replay_created(self, existing: InteractionRecord, stream: bool) -> Created:
        run = self.runs.get(existing.id)
        return Created(existing, run.journal if run else None, stream)

    async def finish(self, created: Created, *, hops: bool = True) -> InteractionRecord:
        """Wait for a synchronous run and return the final record (or, past the
        continuation limit, the record of this hop: requires_continuation; ``hops``:
        the client can continue, i.e. speaks the current schema)."""
        if created.hop is not None:
            return await self.hops.finish_hop(created.hop)
        if hops and self.hops.applies(created):
            cut = await self.hops.finish_first(created)
            if cut is not None:
                return cut
        record = created.record
        if record.background:
            if not record.steps:  # an Idempotency-Key replay: the row, without its steps
                await self.store.load_steps(record)
            return record
        if self.runs.get(record.id) is not None:
            await self.runs.wait(record.id)
        elif record.status in RUNNING:
            # A retried request for a run in another process: wait for its end.
            await self._await_terminal(record.project_id, record.id, timeout=None)
        if created.journal is not None and created.journal.record is record:
            return record
        fresh = await self.store.get(record.project_id, record.id)
        if fresh is None:
            raise NotFound(f"interaction '{record.id}' not found")
        await self.store.load_steps(fresh)
        return fresh

    # -- read -----------------------------------------------------------------------------
    async def token_target(self, project_id: str, body: Any) -> str | None:
        """The interaction a create continues, as an auth token's scope sees it: the
        ``previous_interaction_id``; for a continuation hop, the interaction the hop's
        run continued (a token holder's own slow turn may be continued)."""
        if not isinstance(body, dict):
            return None
        previous = body.get("previous_interaction_id")
        if not isinstance(previous, str) or not body.get("continuation_token"):
            return previous if isinstance(previous, str) else None
        run_id = await self.hops.store.run_of(project_id, previous) or previous
        run = await self.store.get(project_id, run_id)
        return run.previous_interaction_id if run is not None else None

    async def get(self, project_id: str, interaction_id: str) -> InteractionRecord:
        record = await self.store.get(project_id, interaction_id)
        if record is None:
            raise NotFound(f"interaction '{interaction_id}' not found")
        await self.store.load_steps(record)
        await self.hops.fill_steps(record)
        return record

    def stream_events(
        self, created: Created, *, hops: bool = True
    ) -> AsyncIterator[tuple[int, str]]:
        """The SSE events of a streamed create (cut into hops past the limit)."""
        if created.hop is not None:
            return self.hops.stream_hop(created.hop)
        events = self.follow.events(created.record, 0, created.journal)
        if hops and self.hops.applies(created):
            return self.hops.stream_first(created, events)
        return events

    async def list_page(
        self,
        project_id: str,
        page_size: int,
        page_token: str | None,
        filters: ListFilters | None = None,
    ) -> tuple[list[InteractionRecord], str | None]:
        before = None
        if page_token:
            try:
                before = ids.decode_token(page_token)
            except ValueError:
                raise BadRequest("page_token is not one this server issued") from None
        records = await self.store.list_page(project_id, page_size + 1, before, filters)
        token = ids.encode_token(records[page_size - 1].id) if len(records) > page_size else None
        return records[:page_size], token

    # -- cancel / delete --------------------------------------------------------------------
    async def cancel(self, project_id: str, interaction_id: str) -> InteractionRecord:
        record = await self.store.get(project_id, interaction_id)
        if record is None:
            raise NotFound(f"interaction '{interaction_id}' not found")
        if record.status not in RUNNING:
            raise BadRequest(
                f"interaction '{interaction_id}' is already {record.status}: only a queued or "
                "in-progress interaction can be cancelled"
            )
        await self._stop(record)
        return await self.get(project_id, interaction_id)

    async def _stop(self, record: InteractionRecord) -> None:
        """Cancel a queued or running interaction wherever it runs, and wait for it."""
        await self.store.request_cancel(record.project_id, record.id)
        if self.runs.cancel_local(record.id):
            await self.runs.wait(record.id, timeout=5)
            return
        if await end_unowned(self.store, record, "cancelled"):
            return
        await self.db.notify(CANCEL_CHANNEL, record.id)
        await self._await_terminal(record.project_id, record.id, timeout=5)

    async def _await_terminal(
        self, project_id: str, interaction_id: str, timeout: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else None
        while deadline is None or loop.time() < deadline:
            state = await self.store.status_of(interaction_id)
            if state is None or state[0] not in RUNNING:
                return
            await asyncio.sleep(0.05)

    async def delete(self, project_id: str, interaction_id: str) -> None:
        record = await self.store.get(project_id, interaction_id)
        if record is None:
            raise NotFound(f"interaction '{interaction_id}' not found")
        if record.status in RUNNING:
            await self._stop(record)
        await self.store.delete(project_id, interaction_id)
        if self.media is not None:
            await self.media.delete_interaction(project_id, interaction_id)
        self.contexts.clear()

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        await self.workers.stop()
        await self.runs.shutdown()
        await close_services(self.tools)
        if self._own_fetcher is not None:
            await self._own_fetcher.aclose()
