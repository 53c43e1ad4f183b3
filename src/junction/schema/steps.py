"""Steps (REFERENCE 3.6): the ordered record of an interaction."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from junction.schema.content import Content


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class UserInputStep(_Open):
    type: Literal["user_input"]
    content: list[Content]


class ModelOutputStep(_Open):
    type: Literal["model_output"]
    content: list[Content] = Field(default_factory=list)
    error: dict[str, Any] | None = None


class ThoughtStep(_Open):
    type: Literal["thought"]
    signature: str | None = None
    summary: list[Content] | None = None
    # Not an SDK field, but typed so a stray value cannot reach code reading "content".
    content: list[Content] | None = None


class FunctionCallStep(_Open):
    type: Literal["function_call"]
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class FunctionResultStep(_Open):
    type: Literal["function_result"]
    call_id: str
    result: Any
    is_error: bool | None = None
    name: str | None = None


SERVER_TOOLS = (
    "code_execution",
    "google_search",
    "url_context",
    "mcp_server_tool",
    "file_search",
    "google_maps",
    "retrieval",
    "tool_search",
    "processing",
)


class ServerToolCallStep(_Open):
    """A built-in tool call (code_execution_call, url_context_call, …): its ``id`` is
    what the result answers; the other fields are checked by the tool that owns it."""

    type: Literal[
        "code_execution_call",
        "google_search_call",
        "url_context_call",
        "mcp_server_tool_call",
        "file_search_call",
        "google_maps_call",
        "retrieval_call",
        "tool_search_call",
        "processing_call",
    ]
    id: str
    arguments: dict[str, Any] | None = None
    name: str | None = None
    server_name: str | None = None


class ServerToolResultStep(_Open):
    """A built-in tool result: ``call_id`` names the call it answers."""

    type: Literal[
        "code_execution_result",
        "google_search_result",
        "url_context_result",
        "mcp_server_tool_result",
        "file_search_result",
        "google_maps_result",
        "retrieval_result",
        "tool_search_result",
        "processing_result",
    ]
    call_id: str
    is_error: bool | None = None
    name: str | None = None
    server_name: str | None = None


Step = Annotated[
    UserInputStep
    | ModelOutputStep
    | ThoughtStep
    | FunctionCallStep
    | FunctionResultStep
    | ServerToolCallStep
    | ServerToolResultStep,
    Field(discriminator="type"),
]

STEP_TYPES = (
    "user_input",
    "model_output",
    "thought",
    "function_call",
    "function_result",
    *(f"{tool}_call" for tool in SERVER_TOOLS),
    *(f"{tool}_result" for tool in SERVER_TOOLS),
)
