"""The code-mender agent (``agent_config.type: code-mender``): finds problems in the code
of its environment and fixes them, answering in JSON.

* ``find_request`` — the agent reads files, greps and runs the tests in the sandbox,
  changes nothing, and answers ``{"summary", "findings": [{"id", "title", "severity",
  "file", "line", "description", "verified"}]}``;
* ``fix_request`` — it edits the workspace and answers ``{"summary", "finding_id",
  "files_changed", "patch"}``; Junction computes ``patch`` and ``files_changed`` itself
  from the workspace (``git diff`` in the sandbox, :mod:`junction.agents.mender_patch`),
  whatever the model says;
* ``session_id`` — a session keeps, per project, the model (one per session), the
  environment, ``max_rounds`` and the findings, so later interactions verify or fix a
  finding by id in the same workspace. At most :data:`MAX_SESSIONS` per project: starting
  one more drops the least recently used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from junction import ids, jsonutil
from junction.agents.mender_config import DEFAULT_ROUNDS, MenderTask, parse_task
from junction.agents.mender_patch import PatchError, collect, snapshot
from junction.errors import BadRequest, Conflict
from junction.sandbox.base import Sandbox
from junction.schema.requests import CreateInteraction
from junction.store.db import Database, UniqueViolation
from junction.store.mender_sessions import MenderSession, MenderSessionRows

MAX_SESSIONS = 100
#: a session taken by a create whose interaction was never written is free again after this
STALE_TAKE_SECONDS = 120
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"  # as ids.now_iso
MAX_FINDINGS = 200
SandboxOf = Callable[[str, str], Awaitable[Sandbox]]

_FINDING = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"},
        "title": {"type": "string"},
        "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
        "file": {"type": "string"},
        "line": {"type": "integer"},
        "description": {"type": "string"},
        "verified": {"type": "boolean"},
    },
    "required": ["id", "title", "severity", "file", "description"],
}
FIND_SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "findings": {"type": "array", "items": _FINDING, "maxItems": 50},
    },
    "required": ["summary", "findings"],
}
FIX_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "finding_id": {"type": "string"}},
    "required": ["summary"],
}
_TASKS = {
    "scan": "Task: FIND. Inspect the code in the workspace for bugs and security "
    "vulnerabilities: list and read files, grep, run the tests (a failing test is evidence). "
    "Do not change any file. Give every finding a short stable id (e.g. F1, F2).",
    "verify": "Task: VERIFY one finding by executing code: reproduce it (a test, a script) "
    "and report that finding alone, with `verified` true when you reproduced it and false "
    "when you could not. Do not change project files.",
    "fix": "Task: FIX. Edit the files in the workspace to fix the problem with the smallest "
    "correct change, then run the tests to check it. Do not commit: Junction collects your "
    "changes as a patch.",
}


@dataclass
class MenderPlan:
    task: MenderTask
    session: MenderSession | None
    #: the model the request names explicitly (agent_config.model), if any
    explicit_model: str | None


def _finding_text(finding: dict[str, Any]) -> str:
    return jsonutil.dumps({k: v for k, v in finding.items() if k != "found_by"})


class CodeMender:
    def __init__(
        self,
        db: Database,
        sandbox_of: SandboxOf,
        max_rounds_cap: int,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.rows = MenderSessionRows(db)
        self.sandbox_of = sandbox_of
        self.max_rounds_cap = max_rounds_cap
        self.max_sessions = max_sessions

    async def plan(
        self, project_id: str, config: dict[str, Any], requested: dict[str, Any]
    ) -> MenderPlan:
        """Check the request's ``agent_config`` against its session (400 naming the field)."""
        task = parse_task(config, max_rounds_cap=self.max_rounds_cap)
        session = None
        if task.session_id is not None:
            session = await self.rows.get(project_id, task.session_id)
        if task.finding_id is not None:
            known = session.findings if session is not None else {}
            if task.finding_id not in known:
                raise BadRequest(
                    f"{task.field}.finding_id '{task.finding_id}' is not a finding of session "
                    f"'{task.session_id}': run a find_request in that session first"
                )
        explicit = requested.get("model") if isinstance(requested.get("model"), str) else None
        if session is not None and explicit is not None and explicit != session.model:
            raise BadRequest(
                f"agent_config.model '{explicit}' differs from the model of session "
                f"'{session.id}' ('{session.model}'): one session uses one model"
            )
        return MenderPlan(task, session, explicit)

    async def for_request(
        self, req: CreateInteraction, project_id: str, config: dict[str, Any], as_model: Any
    ) -> tuple[Any, MenderPlan]:
        """The plan of an interaction of the agent, and its model request with the
        session's model (a session keeps the model it started with)."""
        if req.response_format is not None or req.response_mime_type is not None:
            raise BadRequest(
                "'response_format': the code-mender agent answers in its own JSON format "
                "(docs/code-mender.md); send no response_format"
            )
        plan = await self.plan(project_id, config, req.agent_config or {})
        if plan.session is not None and as_model.model != plan.session.model:
            as_model = as_model.model_copy(update={"model": plan.session.model})
        return as_model, plan

    def environment(self, plan: MenderPlan, named: Any, has_base: bool = False) -> Any:
        """The environment the run works in: the one named, the session's, the agent's
        base environment (``None`` here: the caller copies it) or, with
        ``source_files``, a new one; without any of them, a 400."""
        session = plan.session
        if session is not None:
            if named is not None:
                named_id = named if isinstance(named, str) else named.get("environment_id")
                if str(named_id or "").removeprefix("environments/") != session.environment_id:
                    raise BadRequest(
                        f"'environment': session '{session.id}' works in environment "
                        f"'{session.environment_id}': name that one or none"
                    )
            return {"environment_id": session.environment_id}
        if named is not None or has_base:
            return named
        if plan.task.source_files:
            return {"network": "disabled"}
        raise BadRequest(
            "'environment' is required: the code-mender agent works on a repository (name "
            "an environment, e.g. one with a repository source), or continue a session "
            f"(agent_config.session_id), or send {plan.task.field}.source_files"
        )

    def configure(self, spec: Any, plan: MenderPlan) -> None:
        """The task's instructions, answer schema and round limit on the run's spec."""
        task, session = plan.task, plan.session
        parts = [_TASKS[task.mode]]
        findings = session.findings if session is not None else {}
        if task.finding_id is not None:
            parts.append(f"The finding: {_finding_text(findings[task.finding_id])}")
        elif findings and task.kind == "fix":
            listed = "\n".join(f"- {_finding_text(f)}" for f in list(findings.values())[-20:])
            parts.append("Findings of this session so far:\n" + listed)
        if task.source_files:
            names = ", ".join(path for path, _ in task.source_files)
            parts.append(f"Files the user pointed at (written to the workspace): {names}")
        if task.description:
            parts.append("The user's instructions:\n" + task.description)
        spec.system_instruction = (spec.system_instruction or "") + "\n\n" + "\n\n".join(parts)
        spec.response_schema = FIND_SCHEMA if task.kind == "find" else FIX_SCHEMA
        rounds = task.max_rounds or (session.max_rounds if session else DEFAULT_ROUNDS)
        limit = spec.max_model_calls
        spec.max_model_calls = min(rounds, limit) if limit else rounds

    async def start(
        self,
        spec: Any,
        plan: MenderPlan,
        project_id: str,
        environment_id: str,
        fresh: bool,
        interaction_id: str = "",
    ) -> None:
        """Take the session for ``interaction_id`` and prepare the workspace (``fresh``:
        the run starts now, not a resumed one), and set the hook that completes the
        answer. The session is taken first: a refused request changes nothing in the
        workspace (a snapshot would move the running fix's baseline)."""
        task = plan.task
        if fresh:
            await self.begin(plan, project_id, environment_id, spec.model_id, interaction_id)
            try:
                box = await self.sandbox_of(project_id, environment_id)
                for path, content in task.source_files:
                    await box.write_file(path, content.encode())
                if task.kind == "fix":
                    try:
                        await snapshot(box)
                    except PatchError as exc:
                        raise BadRequest(f"'environment': {exc}") from None
            except BaseException:
                if task.session_id is not None:
                    await self.rows.release(project_id, task.session_id, interaction_id)
                raise

        async def finalize(text: str, interaction_id: str) -> str:
            return await self._finalize(text, plan, project_id, environment_id, interaction_id)

        spec.finalize = finalize

    async def begin(
        self,
        plan: MenderPlan,
        project_id: str,
        environment_id: str,
        model: str,
        interaction_id: str,
    ) -> None:
        """Start the plan's session, or take it for one more interaction: 409 while
        another interaction of the session runs (two at once would mix their patches)."""
        task = plan.task
        if task.session_id is None:
            return
        now = ids.now_iso()
        session = plan.session
        if session is None:
            if await self.rows.count(project_id) >= self.max_sessions:
                await self.rows.drop_least_recent(project_id, self.max_sessions - 1)
            session = MenderSession(
                project_id,
                task.session_id,
                model,
                environment_id,
                task.max_rounds or DEFAULT_ROUNDS,
                {},
                1,
                now,
                now,
                interaction_id,
            )
            try:
                await self.rows.insert(session)
            except UniqueViolation:  # started by a concurrent request just now
                raise self._busy(task.session_id, None) from None
            plan.session = session
            return
        session.max_rounds = task.max_rounds or session.max_rounds
        session.updated = now
        stale = (datetime.now(UTC) - timedelta(seconds=STALE_TAKE_SECONDS)).strftime(ISO)
        if not await self.rows.take(session, interaction_id, stale):
            current = await self.rows.get(project_id, task.session_id)
            raise self._busy(task.session_id, current.running_interaction if current else None)
        session.interactions += 1
        session.running_interaction = interaction_id

    @staticmethod
    def _busy(session_id: str, running: str | None) -> Conflict:
        which = f"interaction '{running}'" if running else "another interaction"
        return Conflict(
            f"agent_config.session_id '{session_id}': {which} of this session is still "
            "running in its environment; send this one when it has ended (two at once "
            "would mix their patches)"
        )

    async def _finalize(
        self,
        text: str,
        plan: MenderPlan,
        project_id: str,
        environment_id: str,
        interaction_id: str,
    ) -> str:
        answer = jsonutil.loads(text)
        if not isinstance(answer, dict):
            return text
        task = plan.task
        if task.kind == "fix":
            answer.pop("patch", None)
            answer.pop("patch_error", None)
            if task.finding_id is not None:
                answer["finding_id"] = task.finding_id
            try:
                box = await self.sandbox_of(project_id, environment_id)
                answer["patch"], answer["files_changed"] = await collect(box)
            except PatchError as exc:
                answer["patch_error"] = str(exc)
        await self._record(plan, project_id, answer, interaction_id)
        return jsonutil.dumps(answer)

    async def _record(
        self, plan: MenderPlan, project_id: str, answer: dict[str, Any], interaction_id: str
    ) -> None:
        """Keep what the interaction learnt in its session: findings (and whether they
        were verified), and which interaction fixed one."""
        task = plan.task
        if task.session_id is None:
            return
        session = await self.rows.get(project_id, task.session_id)
        if session is None:  # dropped meanwhile (the project's least recently used)
            return
        if task.kind == "find":
            for finding in answer.get("findings") or []:
                fid = str(finding["id"] if task.mode == "scan" else task.finding_id)
                merged = {**session.findings.pop(fid, {}), **finding, "id": fid}
                merged.setdefault("found_by", interaction_id)
                session.findings[fid] = merged
            while len(session.findings) > MAX_FINDINGS:
                session.findings.pop(next(iter(session.findings)))
        elif task.finding_id is not None and task.finding_id in session.findings:
            session.findings[task.finding_id]["fixed_by"] = interaction_id
        session.updated = ids.now_iso()
        await self.rows.update(session)
