"""An environment's own options: ``system_instruction`` and ``custom_config``.

Google passes both to a self-hosted environment's poller. Junction runs every
environment itself, in either mode, so it applies them itself:

* ``system_instruction`` (a string of at most :data:`MAX_INSTRUCTION_CHARS` characters)
  reaches every run in the environment (``run_workspace.add_workspace_instructions``);
* ``custom_config`` holds the environment's sandbox limits, by the names of
  :class:`~junction.sandbox.types.Limits` (docs/sandbox.md): each a positive number no
  larger than the server's own limit, so an environment can be held tighter, never
  looser. Anything else is refused with a 400 that lists what is supported.

A copy (``from_environment``) keeps its origin's options unless it is given its own.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from junction.errors import BadRequest
from junction.sandbox.types import Limits

MAX_INSTRUCTION_CHARS = 32_768
_DEFAULTS = Limits()
LIMIT_NAMES = tuple(f.name for f in fields(Limits))


def parse_instruction(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("'system_instruction' must be a string")
    if len(value) > MAX_INSTRUCTION_CHARS:
        raise BadRequest(
            f"'system_instruction' has {len(value)} characters, more than the "
            f"{MAX_INSTRUCTION_CHARS} an environment may hold"
        )
    return value


def parse_custom_config(value: Any) -> dict[str, Any] | None:
    """``custom_config`` checked: sandbox limits no looser than the server's."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise BadRequest("'custom_config' must be an object")
    for key, number in value.items():
        if key not in LIMIT_NAMES:
            raise BadRequest(
                f"custom_config.{key} is not supported: custom_config holds this "
                f"environment's sandbox limits, one of {', '.join(LIMIT_NAMES)}"
            )
        ceiling = getattr(_DEFAULTS, key)
        whole = isinstance(ceiling, int)
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or (whole and number != int(number))
            or not 0 < number <= ceiling
        ):
            kind = "whole number" if whole else "number"
            raise BadRequest(
                f"custom_config.{key} must be a positive {kind} of at most {ceiling} "
                f"(this server's limit), not {number!r}"
            )
    return dict(value)


def inherited_config(value: Any) -> dict[str, Any] | None:
    """An origin's ``custom_config`` as its copy takes it: the valid limits only (one
    stored before ``custom_config`` was checked may hold anything)."""
    if not isinstance(value, dict):
        return None
    kept = {}
    for key, number in value.items():
        try:
            kept.update(parse_custom_config({key: number}) or {})
        except BadRequest:
            continue
    return kept or None


def limits_of(custom_config: dict[str, Any] | None) -> Limits:
    """The sandbox limits of an environment with this (checked) ``custom_config``."""
    if not custom_config:
        return Limits()
    return Limits.from_json(
        {
            k: int(v) if isinstance(getattr(_DEFAULTS, k), int) else v
            for k, v in custom_config.items()
        }
    )
