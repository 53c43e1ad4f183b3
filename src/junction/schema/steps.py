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


class ServerToolStep(_Open):
    """Built-in tool calls/results (code_execution_call, url_context_result, …): kept as
    given; their fields are checked by the tool that owns them."""

    type: Literal[
        "code_execution_call",
        "code_execution_result",
        "google_search_call",
        "google_search_result",
        "url_context_call",
        "url_context_result",
        "mcp_server_tool_call",
        "mcp_server_tool_result",
        "file_search_call",
        "file_search_result",
        "google_maps_call",
        "google_maps_result",
        "retrieval_call",
        "retrieval_result",
        "tool_search_call",
        "tool_search_result",
        "processing_call",
        "processing_result",
    ]


Step = Annotated[
    UserInputStep
    | ModelOutputStep
    | ThoughtStep
    | FunctionCallStep
    | FunctionResultStep
    | ServerToolStep,
    Field(discriminator="type"),
]

STEP_TYPES = (
    "user_input",
    "model_output",
    "thought",
    "function_call",
    "function_result",
    *ServerToolStep.model_fields["type"].annotation.__args__,  # type: ignore[union-attr]
)
