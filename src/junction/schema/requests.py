"""The create-interaction request body (REFERENCE 3.1) and input normalisation (3.4)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from junction.errors import BadRequest
from junction.schema.content import Content
from junction.schema.steps import STEP_TYPES, Step
from junction.schema.tools import Tool, ToolChoice

_STEPS = TypeAdapter(list[Step])
_CONTENTS = TypeAdapter(list[Content])


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    stop_sequences: list[str] | None = None
    thinking_level: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None
    thinking_summaries: Literal["auto", "none"] | None = None
    tool_choice: ToolChoice | None = None


HarmCategory = Literal[
    "hate_speech",
    "dangerous_content",
    "harassment",
    "sexually_explicit",
    "civic_integrity",
    "image_hate",
    "image_dangerous_content",
    "image_harassment",
    "image_sexually_explicit",
    "jailbreak",
]


class SafetySetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: HarmCategory
    threshold: Literal[
        "block_low_and_above", "block_medium_and_above", "block_only_high", "block_none", "off"
    ]
    method: Literal["severity", "probability"] | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "text"
    mime_type: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class CreateInteraction(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model: str | None = None
    agent: str | None = None
    input: Any = None
    previous_interaction_id: str | None = None
    system_instruction: str | None = None
    tools: list[Tool] | None = None
    response_format: ResponseFormat | list[ResponseFormat] | None = None
    response_mime_type: str | None = None
    response_modalities: list[str] | None = None
    safety_settings: list[SafetySetting] | None = None
    service_tier: Literal["flex", "standard", "priority", "deferred"] | None = None
    labels: dict[str, str] | None = None
    store: bool = True
    stream: bool = False
    background: bool = False
    continuation_token: str | None = None
    environment: str | dict[str, Any] | None = None
    webhook_config: dict[str, Any] | None = None
    generation_config: GenerationConfig | None = None
    agent_config: dict[str, Any] | None = None
    cached_content: str | None = None

    @model_validator(mode="after")
    def _target(self) -> CreateInteraction:
        if bool(self.model) == bool(self.agent):
            raise ValueError("set exactly one of 'model' or 'agent'")
        if self.agent and self.generation_config is not None:
            raise ValueError("'generation_config' applies to model interactions, not agents")
        if self.model and self.agent_config is not None:
            raise ValueError("'agent_config' applies to agent interactions, not models")
        return self

    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must satisfy, if structured output was asked for."""
        formats = self.response_format
        items = formats if isinstance(formats, list) else [formats] if formats else []
        for item in items:
            if item.type == "text" and (item.schema_ is not None):
                return item.schema_
            if item.type == "text" and item.mime_type == "application/json":
                return {}
        if self.response_mime_type == "application/json":
            return {}
        return None


# Fields echoed on the Interaction resource, as the hosted service does.
ECHOED_FIELDS = (
    "previous_interaction_id",
    "system_instruction",
    "tools",
    "generation_config",
    "agent_config",
    "response_format",
    "response_mime_type",
    "response_modalities",
    "safety_settings",
    "service_tier",
    "labels",
    "environment",
    "webhook_config",
    "cached_content",
)


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    problems = []
    for err in exc.errors()[:5]:
        loc = prefix
        for part in err["loc"]:
            if isinstance(part, int):
                loc += f"[{part}]"
            elif part in {"function-after", "tagged-union"} or str(part).startswith(
                ("function-", "union[")
            ):
                continue
            else:
                loc += ("." if loc else "") + str(part)
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{loc or 'body'}: {msg}" if loc else msg)
    return "; ".join(problems)


def parse_create(body: Any) -> CreateInteraction:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return CreateInteraction.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(f"invalid request: {format_validation_error(exc)}") from None


def normalize_input(value: Any) -> list[dict[str, Any]]:
    """Turn every input form (string, Content, Content[], Step[]) into a list of steps."""
    if value is None:
        raise BadRequest("'input' is required: a string, a content object or a list of steps")
    if isinstance(value, str):
        if not value:
            raise BadRequest("'input' must not be an empty string")
        return [{"type": "user_input", "content": [{"type": "text", "text": value}]}]
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        raise BadRequest("'input' must be a string, a content object or a non-empty list")
    if not all(isinstance(item, dict) for item in items):
        raise BadRequest("every item of 'input' must be a JSON object")
    kinds = {("step" if item.get("type") in STEP_TYPES else "content") for item in items}
    if len(kinds) > 1:
        raise BadRequest("'input' mixes steps and content items: send one kind in a list")
    try:
        if kinds == {"step"}:
            steps = _STEPS.validate_python(items)
            return [s.model_dump(mode="json", exclude_none=True, by_alias=True) for s in steps]
        fixed = [
            ({"type": "text", **item} if "type" not in item and "text" in item else item)
            for item in items
        ]
        contents = _CONTENTS.validate_python(fixed)
    except ValidationError as exc:
        raise BadRequest(f"invalid input: {format_validation_error(exc, 'input')}") from None
    return [
        {
            "type": "user_input",
            "content": [c.model_dump(mode="json", exclude_none=True) for c in contents],
        }
    ]
