"""The tool seam.

A server-side tool (``url_context``, ``google_search``, ``code_execution``,
``mcp_server``, …) is declared in a request's ``tools``; Junction shows the model one
or more functions for it, and when the model calls one, the run writes a typed
``<tool>_call`` step, executes the tool, writes the matching ``<tool>_result`` step and
goes back to the model — without the client. A tool failure becomes an error result the
model can see (``is_error``), never a failed run.

A tool class registers under its wire type (``@register_tool("url_context")``) and is
instantiated per request from the declaration, with the process's shared
:class:`ToolServices`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from junction.config import Settings
from junction.errors import BadRequest


@dataclass
class ToolServices:
    """What tools share across a process (HTTP sessions, backends, stores). Fields are
    filled in by the parts of the system that provide them."""

    settings: Settings
    extras: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        try:
            return self.extras[name]
        except KeyError:
            raise BadRequest(f"this server is not configured for {name}") from None


@dataclass
class ToolContext:
    project_id: str
    interaction_id: str
    #: the environment the run uses; a tool may create one on demand and set it
    environment_id: str | None = None
    #: while a tool runs: publish a delta of its result step (live output)
    emit: Callable[[dict[str, Any]], None] | None = None


@dataclass
class ToolResult:
    result: Any
    is_error: bool = False
    #: more fields for the result step (e.g. the files code execution created)
    extra: dict[str, Any] = field(default_factory=dict)
    #: seconds of sandbox time the call used (reported in usage)
    sandbox_seconds: float = 0.0


class ServerTool(abc.ABC):
    kind: ClassVar[str]

    def __init__(self, declaration: dict[str, Any], services: ToolServices) -> None:
        self.declaration = declaration
        self.services = services

    @property
    def call_type(self) -> str:
        return f"{self.kind}_call"

    @property
    def result_type(self) -> str:
        return f"{self.kind}_result"

    async def prepare(self, ctx: ToolContext) -> None:
        """Work before the first model call (e.g. list an MCP server's tools)."""

    @abc.abstractmethod
    def functions(self) -> list[dict[str, Any]]:
        """The function declarations the model sees for this tool."""

    def owns(self, call: dict[str, Any]) -> bool:
        """Whether this instance handles ``call`` (several MCP servers share a type)."""
        return True

    def call_step(self, call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"type": self.call_type, "id": call_id, "arguments": arguments}

    def result_step(self, call: dict[str, Any], outcome: ToolResult) -> dict[str, Any]:
        step = {"type": self.result_type, "call_id": call["id"], "result": outcome.result}
        if outcome.is_error:
            step["is_error"] = True
        step.update(outcome.extra)
        return step

    @abc.abstractmethod
    async def run(self, call: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Execute one call step; raise nothing the model should not see."""


_TOOLS: dict[str, type[ServerTool]] = {}
T = TypeVar("T", bound=type[ServerTool])


def register_tool(kind: str) -> Callable[[T], T]:
    def decorate(cls: T) -> T:
        cls.kind = kind
        _TOOLS[kind] = cls
        return cls

    return decorate


def tool_class(kind: str) -> type[ServerTool] | None:
    return _TOOLS.get(kind)


def available_kinds() -> list[str]:
    return sorted(_TOOLS)
