"""The built-in tool modules. Importing one registers its tool type; a module may also
define ``configure(services)`` to add what it shares across requests (an HTTP session,
a search backend, a client cache) to :class:`ToolServices`."""

from __future__ import annotations

import importlib
import logging

from junction.config import Settings
from junction.tools.base import ToolServices

log = logging.getLogger("junction.tools")

BUILTIN_MODULES = ("url_context", "search", "mcp", "code_execution")


def build_services(settings: Settings) -> ToolServices:
    services = ToolServices(settings)
    for name in BUILTIN_MODULES:
        try:
            module = importlib.import_module(f"junction.tools.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"junction.tools.{name}":
                raise
            continue
        configure = getattr(module, "configure", None)
        if configure is not None:
            configure(services)
    return services


async def close_services(services: ToolServices) -> None:
    for value in list(services.extras.values()):
        close = getattr(value, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:
                log.exception("closing a tool service failed")
