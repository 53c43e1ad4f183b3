"""The triggers service: create, get, list, update (pause/resume), delete, run now, and
the executions list. Every check happens before anything is written."""

from __future__ import annotations

from typing import Any

from junction import ids
from junction.config import Settings
from junction.errors import BadRequest, NotFound
from junction.paging import page
from junction.runtime.context import EMPTY
from junction.runtime.env_vars import seal_spec
from junction.runtime.environments import EnvironmentService
from junction.runtime.service import InteractionService
from junction.schedule import cron, filters
from junction.schedule.executor import Executor
from junction.schedule.records import (
    CATCH_UP,
    CONCURRENCY,
    EXECUTION_STATUSES,
    TRIGGER_STATUSES,
    TriggerRecord,
)
from junction.schedule.scheduler import Scheduler
from junction.schedule.store import TriggerStore
from junction.schema.requests import normalize_input, parse_create

CREATE_FIELDS = frozenset(
    {
        "schedule",
        "time_zone",
        "interaction",
        "display_name",
        "environment_id",
        "execution_timeout_seconds",
        "max_consecutive_failures",
        "concurrency",
        "catch_up",
    }
)
MAX_DISPLAY_NAME = 512
MAX_FAILURES = 1000


def _int_field(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():  # int64 fields may arrive as strings
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}")
    return value


def _choice(body: dict[str, Any], name: str, allowed: frozenset[str], default: str) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(sorted(allowed))}")
    return str(value)


def _page_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return ids.decode_token(token)
    except ValueError:
        raise BadRequest("page_token is not one this server issued") from None


class TriggerService:
    def __init__(
        self,
        store: TriggerStore,
        executor: Executor,
        scheduler: Scheduler,
        settings: Settings,
        interactions: InteractionService,
        environments: EnvironmentService,
    ) -> None:
        self.store = store
        self.executor = executor
        self.scheduler = scheduler
        self.settings = settings
        self.interactions = interactions
        self.environments = environments

    async def _get(self, project_id: str, trigger_id: str) -> TriggerRecord:
        record = await self.store.get(project_id, trigger_id.removeprefix("triggers/"))
        if record is None:
            raise NotFound(f"trigger '{trigger_id}' not found")
        return record

    # -- validation -------------------------------------------------------------------------
    async def _check_template(
        self, project_id: str, template: Any, environment_id: str | None
    ) -> None:
        """The template must be a valid agent interaction: parsed and resolved exactly as
        a create request is (agent, model, tools), without running anything."""
        if not isinstance(template, dict):
            raise BadRequest("interaction must be an object: a full agent interaction request")
        if not template.get("agent"):
            raise BadRequest("interaction must name an 'agent' (a trigger runs an agent)")
        if template.get("store") is False:
            raise BadRequest("interaction.store must not be false: executions are stored")
        if environment_id is not None and template.get("environment") is not None:
            raise BadRequest(
                "set environment_id on the trigger or interaction.environment, not both"
            )
        body = {**template, "background": True}
        body.pop("stream", None)
        try:
            req = parse_create(body)
            turn = normalize_input(req.input)
            await self.interactions.spec_for(req, project_id, EMPTY, turn)
            if req.previous_interaction_id and not await self.interactions.store.get(
                project_id, req.previous_interaction_id
            ):
                raise NotFound(f"interaction '{req.previous_interaction_id}' not found")
        except (BadRequest, NotFound) as exc:
            raise BadRequest(f"interaction: {exc.message}") from None

    def _sealed(self, template: dict[str, Any]) -> dict[str, Any]:
        """The template as kept: an environment object's ``env`` values sealed."""
        if not isinstance(template.get("environment"), dict):
            return template
        seal = self.environments.credentials.seal
        environment = seal_spec(template["environment"], seal, "interaction.environment")
        return {**template, "environment": environment}

    async def _check_environment(self, project_id: str, environment_id: Any) -> str | None:
        if environment_id is None:
            return None
        if not isinstance(environment_id, str) or not environment_id:
            raise BadRequest("environment_id must be an environment id")
        try:
            row = await self.environments.get_row(project_id, environment_id)
        except NotFound:
            raise BadRequest(f"environment_id: environment '{environment_id}' not found") from None
        return str(row["id"])

    def _check_schedule(self, schedule: Any, time_zone: Any, now_ms: int) -> None:
        cron.check(schedule, time_zone)
        minimum = self.settings.trigger_min_interval_seconds
        if cron.shortest_interval(schedule, time_zone, now_ms) < minimum:
            raise BadRequest(
                f"schedule '{schedule}' fires more often than every {minimum:g} seconds, "
                "the minimum interval this server allows"
            )

    # -- operations -------------------------------------------------------------------------
    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        unknown = sorted(set(body) - CREATE_FIELDS)
        if unknown:
            raise BadRequest(
                f"unknown trigger field '{unknown[0]}': allowed are "
                + ", ".join(sorted(CREATE_FIELDS))
            )
        for name in ("schedule", "time_zone", "interaction"):
            if body.get(name) in (None, ""):
                raise BadRequest(f"'{name}' is required")
        now_ms, now = self.executor.now()
        self._check_schedule(body["schedule"], body["time_zone"], now_ms)
        display_name = body.get("display_name")
        if display_name is not None and (
            not isinstance(display_name, str) or len(display_name) > MAX_DISPLAY_NAME
        ):
            raise BadRequest(
                f"display_name must be a string of at most {MAX_DISPLAY_NAME} characters"
            )
        environment_id = await self._check_environment(project_id, body.get("environment_id"))
        await self._check_template(project_id, body["interaction"], environment_id)
        limit = int(self.settings.max_run_seconds)
        record = TriggerRecord(
            id=ids.sortable_id("trg_"),
            project_id=project_id,
            display_name=display_name,
            schedule=" ".join(body["schedule"].split()),
            time_zone=body["time_zone"],
            interaction=self._sealed(body["interaction"]),
            environment_id=environment_id,
            execution_timeout_seconds=_int_field(body, "execution_timeout_seconds", 1, limit),
            max_consecutive_failures=_int_field(body, "max_consecutive_failures", 1, MAX_FAILURES),
            concurrency=_choice(body, "concurrency", CONCURRENCY, "forbid"),
            catch_up=_choice(body, "catch_up", CATCH_UP, self.settings.trigger_catch_up),
            status="active",
            consecutive_failure_count=0,
            next_run_ms=cron.next_after(body["schedule"], body["time_zone"], now_ms),
            last_run_time=None,
            last_pause_time=None,
            last_resume_time=None,
            previous_interaction_id=None,
            created=now,
            updated=now,
        )
        async with self.store.db.transaction() as tx:
            most = self.settings.trigger_max_per_project
            if await self.store.count(tx, project_id) >= most:
                raise BadRequest(
                    f"this project has {most} triggers, the most allowed "
                    "(JUNCTION_TRIGGER_MAX_PER_PROJECT): delete one first"
                )
            await self.store.insert(tx, record)
        self.scheduler.wake()
        return record.to_wire()

    async def get(self, project_id: str, trigger_id: str) -> dict[str, Any]:
        return (await self._get(project_id, trigger_id)).to_wire()

    async def list(
        self, project_id: str, filter_text: str | None, size: int, token: str | None
    ) -> dict[str, Any]:
        wanted = filters.parse(filter_text, {"status": TRIGGER_STATUSES})
        rows = await self.store.page(
            project_id, wanted.get("status", []), size + 1, _page_token(token)
        )
        wire, encode = (lambda r: r.to_wire()), (lambda r: ids.encode_token(r.id))
        return page(rows, size, "triggers", wire=wire, encode=encode)

    async def update(self, project_id: str, trigger_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        unknown = sorted(set(body) - {"display_name", "status"})
        if unknown:
            raise BadRequest(
                f"'{unknown[0]}' cannot be updated: only display_name and status can "
                "(create a new trigger to change anything else)"
            )
        record = await self._get(project_id, trigger_id)
        now_ms, now = self.executor.now()
        fields: dict[str, Any] = {}
        if "display_name" in body:
            name = body["display_name"]
            if name is not None and (not isinstance(name, str) or len(name) > MAX_DISPLAY_NAME):
                raise BadRequest(
                    f"display_name must be a string of at most {MAX_DISPLAY_NAME} characters"
                )
            fields["display_name"] = name
        status = body.get("status")
        if status is not None and status != record.status:
            if status not in TRIGGER_STATUSES:
                raise BadRequest("status must be active (resume) or paused (pause)")
            if status == "error":
                raise BadRequest("status 'error' is set by the server: use active or paused")
            if status == "paused":
                fields.update(status="paused", next_run_ms=None, last_pause_time=now)
            else:
                fields.update(
                    status="active",
                    next_run_ms=cron.next_after(record.schedule, record.time_zone, now_ms),
                    last_resume_time=now,
                    consecutive_failure_count=0,
                )
        if fields:
            fields["updated"] = now
            async with self.store.db.transaction() as tx:
                await self.store.update(tx, record.id, **fields)
            self.scheduler.wake()
        return (await self._get(project_id, record.id)).to_wire()

    async def delete(self, project_id: str, trigger_id: str) -> None:
        if not await self.store.delete(project_id, trigger_id.removeprefix("triggers/")):
            raise NotFound(f"trigger '{trigger_id}' not found")

    async def run_now(self, project_id: str, trigger_id: str) -> dict[str, Any]:
        """One execution now, whatever the trigger's status and schedule; skipped like
        a scheduled one while another execution runs (unless concurrency=allow)."""
        record = await self._get(project_id, trigger_id)
        now_ms, _ = self.executor.now()
        async with self.store.db.transaction() as tx:
            execution = await self.executor.begin(tx, record, now_ms, manual=True)
            await self.store.prune(tx, record.id, self.settings.trigger_execution_retention)
        if execution.status == "in_progress":
            await self.executor.start(execution, record)
            execution = await self.store.get_execution(execution.id) or execution
        return execution.to_wire()

    async def list_executions(
        self,
        project_id: str,
        trigger_id: str,
        filter_text: str | None,
        size: int,
        token: str | None,
    ) -> dict[str, Any]:
        record = await self._get(project_id, trigger_id)
        wanted = filters.parse(filter_text, {"status": EXECUTION_STATUSES})
        rows = await self.store.page_executions(
            project_id, record.id, wanted.get("status", []), size + 1, _page_token(token)
        )
        body: dict[str, Any] = {"trigger_executions": [r.to_wire() for r in rows[:size]]}
        if len(rows) > size:
            body["next_page_token"] = ids.encode_token(rows[size - 1].id)
        return body
