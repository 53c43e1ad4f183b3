"""Opening and closing everything a Junction process runs: database (migrated),
projects and keys, provider router, the interactions service and its workers. Used by
the HTTP app (``junction serve``) and by ``junction worker`` alike."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import partial

from junction.agents.mender import CodeMender
from junction.agents.service import AgentService
from junction.config import Settings
from junction.media.retention import MediaRetention
from junction.media.service import MediaService
from junction.media.setup import open_blob_store
from junction.notify import outbox
from junction.notify.setup import Notify, open_notify
from junction.observe.telemetry import Telemetry
from junction.providers.registry import ProviderRouter
from junction.retention.service import RetentionService
from junction.runtime.credentials import CredentialService, load_key
from junction.runtime.environments import EnvironmentService
from junction.runtime.service import InteractionService
from junction.runtime.voices import VoiceService
from junction.schedule.clock import clock_from
from junction.schedule.executor import Executor, OnExecutionFinished, event_of, no_events
from junction.schedule.records import ExecutionRecord
from junction.schedule.scheduler import Scheduler
from junction.schedule.service import TriggerService
from junction.schedule.store import TriggerStore
from junction.store.db import Conn, Database, connect
from junction.store.migrate import migrate
from junction.store.projects import ProjectStore

DEFAULT_PROJECT = "default"


@dataclass
class System:
    db: Database
    projects: ProjectStore
    router: ProviderRouter
    interactions: InteractionService
    credentials: CredentialService
    agents: AgentService
    environments: EnvironmentService
    triggers: TriggerService
    retention: RetentionService
    notify: Notify | None = None
    telemetry: Telemetry = field(default_factory=Telemetry)

    async def close(self) -> None:
        await self.triggers.scheduler.stop()
        if self.notify is not None:
            await self.notify.close()
        await self.retention.aclose()
        await self.interactions.close()
        await self.environments.aclose()
        await self.credentials.aclose()
        await self.router.aclose()
        await self.db.close()


async def bootstrap_keys(projects: ProjectStore, settings: Settings) -> str | None:
    """Make sure the default project can be reached; return a key generated now, if any
    (it is shown once and only its hash is kept)."""
    project_id = await projects.ensure_project(DEFAULT_PROJECT)
    if settings.api_key:
        if not await projects.has_key(settings.api_key):
            await projects.create_key(project_id, "JUNCTION_API_KEY", key=settings.api_key)
        return None
    if await projects.count_keys() == 0:
        _, key = await projects.create_key(project_id, "generated at first start")
        return key
    return None


async def open_system(
    settings: Settings, *, api: bool = True, telemetry: Telemetry | None = None
) -> System:
    """``api``: this process serves HTTP, so it makes sure a key exists (workers never
    generate or print keys). ``telemetry``: metrics and tracing (off when not given)."""
    telemetry = telemetry or Telemetry()
    db = await connect(settings.resolved_database_url)
    try:
        await migrate(db)
        projects = ProjectStore(db)
        generated = await bootstrap_keys(projects, settings) if api else None
        if generated:
            print(
                f"\n  Junction generated an API key for the default project (shown once):\n"
                f"    {generated}\n  Use it as x-goog-api-key, or set JUNCTION_API_KEY.\n",
                file=sys.stderr,
                flush=True,
            )
        router = ProviderRouter(settings)
        credentials = CredentialService(db, settings)
        service = InteractionService(db, settings, router)
        service.telemetry = telemetry
        service.tools.extras["credentials"] = credentials
        agents = AgentService(db, sealer=credentials)
        service.agents = agents
        environments = EnvironmentService(db, settings, credentials)
        environments.metrics = telemetry.metrics
        service.tools.extras["environments"] = environments
        service.environments = environments
        service.mender = CodeMender(db, environments.sandbox, settings.max_model_calls)
        service.media = MediaService(db, open_blob_store(settings))
        service.voices = VoiceService(db, settings)
        if api:
            environments.start()
        await service.start(api=api)
        notify = await open_notify(db, settings, load_key(settings), dispatch=settings.workers > 0)
        service.check_webhook_config = notify.service.check_request_config
        if notify.dispatcher is not None and telemetry.metrics is not None:
            notify.dispatcher.on_attempt = telemetry.metrics.webhook_delivery
        triggers = open_triggers(
            db, settings, service, environments, on_execution_finished=trigger_events(db)
        )
        retention = RetentionService(db, settings, environments)
        retention.hooks.append(MediaRetention(service.media))
        if api:
            retention.start()
    except BaseException:
        await db.close()
        raise
    system = System(
        db,
        projects,
        router,
        service,
        credentials,
        agents,
        environments,
        triggers,
        retention,
        notify,
    )
    system.telemetry = telemetry
    return system


def open_triggers(
    db: Database,
    settings: Settings,
    interactions: InteractionService,
    environments: EnvironmentService,
    on_execution_finished: OnExecutionFinished = no_events,
) -> TriggerService:
    """The triggers service, and its scheduler started unless the settings turn it off.
    ``on_execution_finished(tx, execution)`` runs in the transaction that records each
    execution outcome (completed, failed, timed_out, skipped): webhook events go there."""
    store = TriggerStore(db)
    clock = clock_from(settings.trigger_clock_file)
    executor = Executor(
        store, interactions, clock, on_execution_finished, environments.credentials.unseal
    )
    scheduler = Scheduler(store, executor, settings)
    if settings.trigger_scheduler:
        scheduler.start()
    return TriggerService(store, executor, scheduler, settings, interactions, environments)


def trigger_events(db: Database) -> OnExecutionFinished:
    """Trigger execution outcomes become webhook events (``trigger.execution.<status>``),
    queued in the transaction that records the outcome; the dispatcher is woken when that
    transaction commits."""

    async def hook(tx: Conn, execution: ExecutionRecord) -> None:
        event_type, data = event_of(execution)
        if await outbox.enqueue(
            tx, project_id=execution.project_id, event_type=event_type, data=data
        ):
            tx.after_commit(partial(outbox.wake, db))

    return hook
