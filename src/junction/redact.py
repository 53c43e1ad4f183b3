"""What never leaves Junction in a response: inline ``mcp_server`` headers.

An interaction's echoed ``tools`` (GET, list, the stream's ``interaction.created``) and a
stored agent's ``tools`` keep their ``headers`` for the run, but replies show a copy
without them: header values are secrets as often as not (API keys, bearer tokens).
"""

from __future__ import annotations

from typing import Any


def public_tools(tools: Any) -> Any:
    """``tools`` without the ``headers`` of any ``mcp_server`` entry (others unchanged)."""
    if not isinstance(tools, list):
        return tools
    return [
        {k: v for k, v in tool.items() if k != "headers"}
        if isinstance(tool, dict) and tool.get("type") == "mcp_server"
        else tool
        for tool in tools
    ]


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """An echoed request (or agent definition) as it may be shown."""
    if "tools" not in config:
        return config
    return {**config, "tools": public_tools(config["tools"])}
