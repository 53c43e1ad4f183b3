"""The create-decision request (REFERENCE 9.4), validated before any model call."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from junction.errors import BadRequest
from junction.schema.requests import format_validation_error, normalize_input

#: questions one request may ask (each is at least one model call)
MAX_QUESTIONS = 32


def _instructions(value: Any) -> str:
    items = value if isinstance(value, list) else [value]
    texts = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif (
            isinstance(item, dict)
            and item.get("type") == "text"
            and isinstance(item.get("text"), str)
        ):
            texts.append(item["text"])
        else:
            raise ValueError("instructions must be a string, a text content, or a list of them")
    text = "\n".join(t for t in texts if t.strip())
    if not text:
        raise ValueError("instructions must not be empty")
    return text


class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instructions: Any

    @field_validator("instructions")
    @classmethod
    def _text(cls, value: Any) -> str:
        return _instructions(value)


class NoulCriteria(BaseModel):
    model_config = ConfigDict(extra="forbid")
    true_description: str | None = None
    false_description: str | None = None


class NoulQuestion(_Question):
    type: Literal["noul"]
    criteria: NoulCriteria | None = None


class ChoiceQuestion(_Question):
    type: Literal["choice"]
    criteria: dict[str, str] = Field(min_length=2, max_length=255)

    @field_validator("criteria")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key.strip() or len(key) > 64:
                raise ValueError("option ids must be 1 to 64 characters")
        return value


class ScoreQuestion(_Question):
    type: Literal["score"]
    criteria: list[str] = Field(min_length=2, max_length=255)

    @field_validator("criteria")
    @classmethod
    def _levels(cls, value: list[str]) -> list[str]:
        if sum(1 for v in value if v.strip()) < 2:
            raise ValueError("a score question needs at least 2 non-empty levels")
        return value


Question = Annotated[NoulQuestion | ChoiceQuestion | ScoreQuestion, Field(discriminator="type")]


class CreateDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    input: Any
    questions: dict[str, Question] = Field(min_length=1, max_length=MAX_QUESTIONS)


def parse(body: Any) -> tuple[CreateDecision, list[dict[str, Any]]]:
    """The request and its input as content items (text, image, audio, …)."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        req = CreateDecision.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(f"invalid request: {format_validation_error(exc)}") from None
    for qid in req.questions:
        if not qid.strip() or len(qid) > 128:
            raise BadRequest("question ids must be 1 to 128 characters")
    if isinstance(req.input, list) and any(
        isinstance(i, dict) and i.get("type") == "user_input" for i in req.input
    ):
        raise BadRequest("'input' takes content (text, image, …), not steps")
    steps = normalize_input(req.input)
    content = [c for s in steps for c in s.get("content") or ()]
    return req, content
