"""Opening and closing everything a Junction process runs: database (migrated),
projects and keys, provider router, the interactions service and its workers. Used by
the HTTP app (``junction serve``) and by ``junction worker`` alike."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from junction.agents.service import AgentService
from junction.config import Settings
from junction.providers.registry import ProviderRouter
from junction.retention.service import RetentionService
from junction.runtime.credentials import CredentialService
from junction.runtime.environments import EnvironmentService
from junction.runtime.service import InteractionService
from junction.store.db import Database, connect
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
    retention: RetentionService

    async def close(self) -> None:
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


async def open_system(settings: Settings, *, api: bool = True) -> System:
    """``api``: this process serves HTTP, so it makes sure a key exists (workers never
    generate or print keys)."""
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
        service.tools.extras["credentials"] = credentials
        agents = AgentService(db)
        service.agents = agents
        environments = EnvironmentService(db, settings, credentials)
        service.tools.extras["environments"] = environments
        service.environments = environments
        if api:
            environments.start()
        await service.start(api=api)
        retention = RetentionService(db, settings, environments)
        if api:
            retention.start()
    except BaseException:
        await db.close()
        raise
    return System(db, projects, router, service, credentials, agents, environments, retention)
