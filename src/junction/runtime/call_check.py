"""Tool choice ``validated`` on dialects that do not validate calls themselves (OpenAI,
Anthropic, offline): the model is free to answer or to call (``auto``), and Junction
checks every call's arguments against the declared JSON schema before the call becomes a
step.

A model pass's calls are held back (the assembler's ``hold_calls``) until the pass has
ended. If they are all valid they are published as usual. Otherwise none of them
becomes a step: the calls go back to the model once, each answered by an error result
that quotes the problem (the structured-output repair round, for calls); a second
invalid attempt ends the interaction ``failed`` with ``invalid_function_call``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from junction import jsonutil


@dataclass
class HeldCall:
    id: str
    name: str
    arguments: dict[str, Any]


def wanted(tool_choice: str | dict[str, Any] | None) -> bool:
    """Whether the tool choice asks for validated calls."""
    if isinstance(tool_choice, dict):
        allowed = tool_choice.get("allowed_tools") or {}
        return isinstance(allowed, dict) and allowed.get("mode") == "validated"
    return tool_choice == "validated"


def problem(call: HeldCall, tools: list[dict[str, Any]]) -> str | None:
    """What is wrong with ``call`` (None when its arguments satisfy its schema)."""
    declared = {t["name"]: t for t in tools if t.get("name")}
    tool = declared.get(call.name)
    if tool is None:
        return f"no function named '{call.name}' is declared (declared: {', '.join(declared)})"
    if "_raw" in call.arguments and len(call.arguments) == 1:
        return "the arguments are not a JSON object"
    schema = tool.get("parameters")
    if not schema:
        return None
    validator = validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(call.arguments))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"


def problems(calls: list[HeldCall], tools: list[dict[str, Any]]) -> dict[str, str]:
    """Call id → problem, for the invalid calls among ``calls``."""
    found = {call.id: problem(call, tools) for call in calls}
    return {cid: text for cid, text in found.items() if text is not None}


def repair_steps(calls: list[HeldCall], bad: dict[str, str]) -> list[dict[str, Any]]:
    """The pass's calls and an error result for each, sent to the model (not stored)."""
    steps: list[dict[str, Any]] = [
        {"type": "function_call", "id": c.id, "name": c.name, "arguments": c.arguments}
        for c in calls
    ]
    for call in calls:
        text = (
            f"Not run: the arguments do not match the function's JSON schema {bad[call.id]}. "
            "Call it again with corrected arguments."
            if call.id in bad
            else "Not run: another call of this turn had invalid arguments. Make all the "
            "calls again."
        )
        steps.append(
            {
                "type": "function_result",
                "call_id": call.id,
                "name": call.name,
                "result": text,
                "is_error": True,
            }
        )
    return steps


def failure(bad: dict[str, str], calls: list[HeldCall], attempts: int) -> dict[str, str]:
    names = {c.id: c.name for c in calls}
    detail = "; ".join(f"{names[cid]}: {text}" for cid, text in bad.items())
    return {
        "code": "invalid_function_call",
        "message": f"the model's function call arguments do not match the declared schema "
        f"after {attempts} attempts (tool_choice 'validated'): {detail}",
    }


def arguments_json(call: HeldCall) -> str:
    return jsonutil.dumps(call.arguments)
