"""Custom agents (REFERENCE 7) and resolution of ``agent`` names for interactions.

A custom agent extends a base (a built-in agent, a Google alias of one, or another
custom agent of the project): instructions are layered base-first, tools are merged
(the custom agent's declaration of a type replaces the base's), and the nearest
``agent_config``/``base_environment`` wins. Agents are immutable once created, so their
base chains cannot form cycles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from junction.agents.builtin import BUILTIN_AGENTS, GOOGLE_AGENT_ALIASES
from junction.agents.research_options import research_options
from junction.errors import BadRequest, Conflict, NotFound
from junction.ids import now_iso
from junction.runtime.env_vars import open_spec, seal_spec
from junction.schema.requests import format_validation_error
from junction.schema.tools import Tool
from junction.store.agents import AgentRows
from junction.store.db import Database, UniqueViolation

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
AGENT_TOOL_TYPES = ("code_execution", "function", "google_search", "mcp_server", "url_context")
MAX_DEPTH = 16


_TOOLS: TypeAdapter[list[Tool]] = TypeAdapter(list[Tool])


def check_definition(tools: list[dict[str, Any]], config: dict[str, Any]) -> None:
    """Refuse, at creation, an agent definition that no interaction could run."""
    try:
        _TOOLS.validate_python(tools)
    except ValidationError as exc:
        raise BadRequest(f"invalid agent: {format_validation_error(exc, 'tools')}") from None
    if config.get("model") is not None and not isinstance(config["model"], str):
        raise BadRequest("agent_config.model must be a model id string")
    for key in ("max_total_tokens", "max_steps", "max_seconds"):
        value = config.get(key)
        if value is None:
            continue
        try:  # as agent runs read them (agents/run.py): numbers or numeric strings
            number = int(value) if key == "max_total_tokens" else float(value)
        except (TypeError, ValueError):
            number = 0
        if isinstance(value, bool) or number <= 0:
            raise BadRequest(f"agent_config.{key} must be a positive number")


@dataclass
class ResolvedAgent:
    id: str
    kind: str  # the built-in it ultimately extends: general | research | mender
    system_instruction: str
    tools: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    base_environment: str | dict[str, Any] | None = None
    #: this run's task, for agents that take one (the code-mender agent's MenderPlan)
    task: Any = None


class Sealer(Protocol):
    """Encryption of secrets kept at rest (the credential service)."""

    def seal(self, data: dict[str, Any]) -> str: ...

    def unseal(self, sealed: str) -> dict[str, Any]: ...


class AgentService:
    def __init__(
        self,
        db: Database,
        aliases: dict[str, str] | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.rows = AgentRows(db)
        self.aliases = {**GOOGLE_AGENT_ALIASES, **(aliases or {})}
        #: seals the ``env`` values of a ``base_environment`` object kept in the row
        self.sealer = sealer

    def builtin_id(self, name: str) -> str | None:
        name = self.aliases.get(name, name)
        return name if name in BUILTIN_AGENTS else None

    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        agent_id = body.get("id")
        if not isinstance(agent_id, str) or not _ID.match(agent_id):
            raise BadRequest("'id' must be 1-63 lowercase letters, digits, '_', '-' or '.'")
        if self.builtin_id(agent_id):
            raise Conflict(f"'{agent_id}' is the name of a built-in agent")
        base = body.get("base_agent") or "junction-general"
        if not isinstance(base, str):
            raise BadRequest("'base_agent' must be an agent id")
        if not self.builtin_id(base) and await self.rows.get(project_id, base) is None:
            raise BadRequest(
                f"base_agent '{base}' is neither a built-in nor an agent of this project"
            )
        for key in ("description", "system_instruction"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise BadRequest(f"'{key}' must be a string")
        tools = body.get("tools") or []
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise BadRequest("'tools' must be a list of tool objects")
        for tool in tools:
            if tool.get("type") not in AGENT_TOOL_TYPES:
                raise BadRequest(
                    f"agents take tools of type {', '.join(AGENT_TOOL_TYPES)}, "
                    f"not '{tool.get('type')}'"
                )
        env = body.get("base_environment")
        if env is not None and not isinstance(env, str | dict):
            raise BadRequest("'base_environment' must be an environment id or object")
        config = body.get("agent_config")
        if config is not None and not isinstance(config, dict):
            raise BadRequest("'agent_config' must be an object")
        check_definition(tools, config or {})
        base_kind = (await self.resolve(project_id, base)).kind
        research_options(base_kind, agent_id, config or {})  # research fields checked now
        known = {
            "id",
            "description",
            "system_instruction",
            "base_agent",
            "base_environment",
            "tools",
            "agent_config",
        }
        data = {k: v for k, v in body.items() if k in known and v is not None}
        data["base_agent"] = base
        if isinstance(env, dict):
            data["base_environment"] = seal_spec(env, self._seal, "base_environment")
        try:
            await self.rows.insert(project_id, agent_id, data, now_iso())
        except UniqueViolation:
            raise Conflict(f"agent '{agent_id}' already exists") from None
        return data

    def _seal(self, values: dict[str, Any]) -> str:
        if self.sealer is None:
            raise BadRequest("base_environment.env is not available in this process")
        return self.sealer.seal(values)

    def _unseal(self, sealed: str) -> dict[str, Any]:
        if self.sealer is None:
            raise BadRequest("this agent's base_environment.env cannot be read in this process")
        return self.sealer.unseal(sealed)

    async def get(self, project_id: str, agent_id: str) -> dict[str, Any]:
        builtin = self.builtin_id(agent_id)
        if builtin:
            return {**BUILTIN_AGENTS[builtin].to_wire(), "id": agent_id}
        data = await self.rows.get(project_id, agent_id)
        if data is None:
            raise NotFound(f"agent '{agent_id}' not found")
        return data

    async def delete(self, project_id: str, agent_id: str) -> None:
        if self.builtin_id(agent_id):
            raise BadRequest(f"'{agent_id}' is a built-in agent and cannot be deleted")
        if not await self.rows.delete(project_id, agent_id):
            raise NotFound(f"agent '{agent_id}' not found")

    async def resolve(self, project_id: str, name: str) -> ResolvedAgent:
        chain: list[dict[str, Any]] = []
        current = name
        while not self.builtin_id(current):
            data = await self.rows.get(project_id, current)
            if data is None:
                raise NotFound(f"agent '{current}' not found")
            chain.append(data)
            current = data.get("base_agent") or "junction-general"
            if len(chain) > MAX_DEPTH:
                raise BadRequest(f"agent '{name}' extends more than {MAX_DEPTH} agents")
        builtin = BUILTIN_AGENTS[self.builtin_id(current) or ""]
        instructions = [builtin.system_instruction]
        tools: dict[str, dict[str, Any]] = {t: {"type": t} for t in builtin.tools}
        config: dict[str, Any] = dict(builtin.config)
        environment: str | dict[str, Any] | None = None
        for data in reversed(chain):  # base first, the named agent last
            if data.get("system_instruction"):
                instructions.append(data["system_instruction"])
            for tool in data.get("tools") or []:
                key = (
                    tool["type"]
                    if tool["type"] in ("code_execution", "url_context", "google_search")
                    else (f"{tool['type']}:{tool.get('name')}")
                )
                tools[key] = tool
            config.update(data.get("agent_config") or {})
            environment = data.get("base_environment", environment)
        return ResolvedAgent(
            name,
            builtin.kind,
            "\n\n".join(instructions),
            list(tools.values()),
            config,
            open_spec(environment, self._unseal),
        )
