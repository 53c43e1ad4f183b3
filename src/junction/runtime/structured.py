"""Structured output: every JSON answer is checked against the requested schema."""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from junction import jsonutil
from junction.errors import BadRequest


def check_schema(schema: dict[str, Any]) -> None:
    """Reject a schema that is not itself valid JSON Schema (400 before anything runs)."""
    try:
        validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise BadRequest(
            f"response_format.schema is not a valid JSON Schema: {exc.message}"
        ) from None


def strip_fences(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        if body.rstrip().endswith("```"):
            body = body.rstrip()[:-3]
    return body.strip()


def validate(text: str, schema: dict[str, Any]) -> tuple[str, str | None]:
    """Return ``(clean_json_text, problem)``; ``problem`` is None when the answer is valid."""
    body = strip_fences(text)
    try:
        value = jsonutil.loads(body)
    except ValueError as exc:
        return body, f"the answer is not valid JSON ({exc})"
    if not schema:
        return body, None
    validator = validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return body, None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return body, f"at {where}: {error.message}"


def instruction(schema: dict[str, Any]) -> str:
    """Added to the system instruction for providers without native structured output."""
    if not schema:
        return "Answer with a single JSON value only: no prose, no code fences."
    return (
        "Answer with a single JSON value only (no prose, no code fences) that satisfies this "
        f"JSON Schema:\n{jsonutil.dumps(schema)}"
    )


def repair_prompt(problem: str) -> str:
    return (
        f"Your previous answer did not satisfy the required JSON schema: {problem}. "
        "Answer again with only the corrected JSON."
    )
