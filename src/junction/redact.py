"""What never leaves Junction in a response: inline ``mcp_server`` headers and the
values of an environment's ``env`` variables.

An interaction's echoed ``tools`` (GET, list, the stream's ``interaction.created``), a
stored agent's ``tools`` and a trigger's interaction template keep their ``headers`` for
the run, but replies show a copy without them: header values are secrets as often as not
(API keys, bearer tokens). Likewise an ``environment`` (or an agent's
``base_environment``) is shown with its variables' names and ``[redacted]`` for each
value, and never with the sealed copy kept at rest (``runtime/env_vars.py``).
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


REDACTED = "[redacted]"
#: the key under which an environment object kept at rest holds its sealed ``env``
SEALED_ENV = "env_sealed"
_ENVIRONMENT_KEYS = ("environment", "base_environment")


def public_environment(spec: Any) -> Any:
    """An ``environment`` object as it may be shown: each ``env`` value ``[redacted]``,
    the sealed copy left out (an environment id or anything else unchanged)."""
    if not isinstance(spec, dict):
        return spec
    out = {k: v for k, v in spec.items() if k != SEALED_ENV}
    if isinstance(out.get("env"), dict):
        out["env"] = dict.fromkeys(out["env"], REDACTED)
    return out


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """An echoed request, agent definition or trigger template as it may be shown."""
    if not any(key in config for key in ("tools", *_ENVIRONMENT_KEYS)):
        return config
    out = dict(config)
    if "tools" in out:
        out["tools"] = public_tools(out["tools"])
    for key in _ENVIRONMENT_KEYS:
        if key in out:
            out[key] = public_environment(out[key])
    return out
