"""Server-tool steps as the function calls and results a chat model understands.

Models see every server tool as functions (``url_context``, ``google_search``,
``code_execution``, ``mcp__<server>__<tool>``). The steps Junction records keep their
typed form (``url_context_call`` …); before the conversation goes to a provider they
are lowered to ``function_call`` / ``function_result`` steps, so providers need to know
nothing about server tools.
"""

from __future__ import annotations

import re
from typing import Any

from junction import jsonutil

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def mcp_function_name(server: str, tool: str) -> str:
    return f"mcp__{_UNSAFE.sub('_', server)}__{_UNSAFE.sub('_', tool)}"[:64]


def _name(step: dict[str, Any], suffix: str) -> str:
    if step["type"].startswith("mcp_server_tool"):
        return mcp_function_name(str(step.get("server_name", "")), str(step.get("name", "")))
    return str(step["type"][: -len(suffix)])


def lower(step: dict[str, Any]) -> dict[str, Any]:
    kind = step.get("type", "")
    if kind.endswith("_call") and kind != "function_call":
        return {
            "type": "function_call",
            "id": step.get("id", ""),
            "name": _name(step, "_call"),
            "arguments": step.get("arguments") or {},
        }
    if kind.endswith("_result") and kind != "function_result":
        result = step.get("result")
        lowered = {
            "type": "function_result",
            "call_id": step.get("call_id", ""),
            "name": _name(step, "_result"),
            "result": result if isinstance(result, str | dict) else jsonutil.dumps(result),
        }
        if step.get("is_error"):
            lowered["is_error"] = True
        return lowered
    return step


SUMMARY_HEADING = "[Context compacted] Summary of the earlier tool calls and their results:\n"


def compacted_ids(steps: list[dict[str, Any]]) -> set[str]:
    return {
        str(cid)
        for s in steps
        if s.get("type") == "context_compaction"
        for cid in s.get("compacted") or ()
    }


def lower_all(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lower every step for a provider. Calls and results covered by a
    ``context_compaction`` step are left out, and only the latest compaction's summary
    (which includes the earlier ones) is shown, as a user message where it was made."""
    if not any(s.get("type", "").endswith(("_call", "_result", "_compaction")) for s in steps):
        return steps
    compacted = compacted_ids(steps)
    latest = max(
        (i for i, s in enumerate(steps) if s.get("type") == "context_compaction"), default=-1
    )
    out = []
    for index, step in enumerate(steps):
        kind = step.get("type", "")
        if kind == "context_compaction":
            if index == latest:
                out.append(
                    {
                        "type": "user_input",
                        "content": [
                            {
                                "type": "text",
                                "text": SUMMARY_HEADING + str(step.get("summary", "")),
                            }
                        ],
                    }
                )
            continue
        if compacted and (
            (kind.endswith("_call") and step.get("id") in compacted)
            or (kind.endswith("_result") and step.get("call_id") in compacted)
        ):
            continue
        out.append(lower(step))
    return out
