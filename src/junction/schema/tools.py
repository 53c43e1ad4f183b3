"""Tool declarations (REFERENCE 4) and tool choice."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TOOL_CHOICE_MODES = ("auto", "any", "none", "validated")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionTool(_Open):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or len(value) > 128 or not all(c.isalnum() or c in "_-.:" for c in value):
            raise ValueError(
                "function names must be 1-128 characters of letters, digits, '_', '-', '.', ':'"
            )
        return value


class BuiltinTool(_Open):
    type: Literal[
        "code_execution",
        "google_search",
        "url_context",
        "google_maps",
        "mcp_server",
        "file_search",
        "computer_use",
        "retrieval",
        "tool_search",
    ]


Tool = Annotated[FunctionTool | BuiltinTool, Field(discriminator="type")]


class AllowedTools(BaseModel):
    mode: Literal["auto", "any", "none", "validated"] = "auto"
    tools: list[str] = Field(default_factory=list)


class AllowedToolsChoice(BaseModel):
    allowed_tools: AllowedTools


ToolChoice = Literal["auto", "any", "none", "validated"] | AllowedToolsChoice
