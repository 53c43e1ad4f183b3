"""Turning an agent interaction into a run: the model it uses, its instructions (with
``AGENTS.md`` and the skills found in its environment), its tools and its budget."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from junction.agents.research_options import ResearchOptions, research_options
from junction.agents.service import AgentService, ResolvedAgent
from junction.config import Settings
from junction.errors import BadRequest
from junction.sandbox.base import Sandbox
from junction.sandbox.errors import SandboxError
from junction.schema.requests import CreateInteraction, format_validation_error
from junction.tools.base import tool_class

MAX_SKILLS = 50
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---", re.S)


def _budget(value: Any) -> int | None:
    if value is None:
        return None
    try:
        budget = int(value)
    except (TypeError, ValueError):
        raise BadRequest("agent_config.max_total_tokens must be a whole number") from None
    if budget <= 0:
        raise BadRequest("agent_config.max_total_tokens must be positive")
    return budget


def _limit(config: dict[str, Any], key: str) -> float | None:
    value = config.get(key)
    if value is None:
        return None
    try:
        limit = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"agent_config.{key} must be a number") from None
    if limit <= 0:
        raise BadRequest(f"agent_config.{key} must be positive")
    return limit


def options_of(req: CreateInteraction, agent: ResolvedAgent) -> ResearchOptions:
    """The research agent's options of this run (checked; none for a general agent)."""
    own = req.agent_config or {}
    config = {**agent.config, **own}
    return research_options(agent.kind, agent.id, config, own.get("type"))


def run_limits(req: CreateInteraction, agent: ResolvedAgent) -> tuple[float | None, float | None]:
    """Junction's extension: ``agent_config.max_steps`` (model calls) and
    ``max_seconds`` per run, within the server's own caps."""
    config = {**agent.config, **(req.agent_config or {})}
    return _limit(config, "max_steps"), _limit(config, "max_seconds")


async def agent_request(
    req: CreateInteraction, project_id: str, agents: AgentService, settings: Settings
) -> tuple[CreateInteraction, ResolvedAgent, int | None]:
    """The request as a model request for the agent's run, the agent, and its budget."""
    assert req.agent is not None
    agent = await agents.resolve(project_id, req.agent)
    config = {**agent.config, **(req.agent_config or {})}
    model = config.get("model") or settings.default_agent_model
    if not model:
        raise BadRequest(
            f"agent '{req.agent}' has no model: pass agent_config.model, give the agent one, "
            "or set JUNCTION_AGENT_MODEL"
        )
    search_ready = bool(settings.search.get("backend"))

    def usable(tool: dict[str, Any]) -> bool:
        # An agent's web search is offered only where a search backend is configured.
        if tool["type"] == "function":
            return True
        if tool["type"] == "google_search" and not search_ready:
            return False
        return tool_class(tool["type"]) is not None

    options = options_of(req, agent)
    tools = [t for t in agent.tools if usable(t)]
    tools += [t.model_dump(mode="json", exclude_none=True) for t in req.tools or []]
    tools = options.tools(req.agent, tools)
    system = agent.system_instruction
    if options.instruction():
        system += "\n\n" + options.instruction()
    if req.system_instruction:
        system += "\n\n" + req.system_instruction
    base = req.model_dump(
        mode="json",
        exclude_none=True,
        by_alias=True,
        exclude={"agent", "agent_config", "generation_config", "tools", "system_instruction"},
    )
    try:
        as_model = CreateInteraction.model_validate(
            {
                **base,
                "model": str(model),
                "tools": tools,
                "system_instruction": system,
                "generation_config": options.generation() or None,
            }
        )
    except ValidationError as exc:
        raise BadRequest(f"agent '{req.agent}': {format_validation_error(exc)}") from None
    return as_model, agent, _budget(config.get("max_total_tokens"))


def _front_matter(text: str) -> dict[str, str]:
    match = _FRONT.match(text)
    if not match:
        return {}
    fields = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip().strip("'\"")
    return fields


async def _read(box: Sandbox, path: str, limit: int = 64 * 1024) -> str:
    chunks = []
    size = 0
    async for chunk in box.read_file(path):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit].decode("utf-8", "replace")


async def workspace_instructions(box: Sandbox) -> str:
    """``AGENTS.md`` at the workspace root, and the skills (``SKILL.md`` files with a
    front-matter name and description) offered by description only."""
    parts: list[str] = []
    try:
        entries = await box.list_files(".", recursive=True)
    except SandboxError:
        return ""
    paths = {e.path for e in entries if e.type == "file"}
    if "AGENTS.md" in paths:
        parts.append(
            "Instructions from AGENTS.md in the workspace:\n" + await _read(box, "AGENTS.md")
        )
    skills = []
    for path in sorted(p for p in paths if p.rsplit("/", 1)[-1] == "SKILL.md")[:MAX_SKILLS]:
        meta = _front_matter(await _read(box, path, 4096))
        if meta.get("name") and meta.get("description"):
            skills.append(f"- {meta['name']}: {meta['description']} (read {path} to use it)")
    if skills:
        parts.append(
            "Skills in your workspace. When one fits the task, read its SKILL.md in full "
            "with code_execution (e.g. `cat <path>`) and follow it:\n" + "\n".join(skills)
        )
    return "\n\n".join(parts)
