"""The code-mender agent's ``agent_config`` (REFERENCE 7: ``CodeMenderAgentConfig``),
checked before anything is created: every refusal is a 400 that names the field.

One interaction is one task: a ``find_request`` (``mode`` ``scan`` looks for problems,
``verify`` checks one earlier finding by running code) or a ``fix_request`` (edit the
workspace, answer with the patch). ``session_id`` groups interactions: the session keeps
the model, the environment and the findings so far; ``session_config.max_rounds`` caps
the model calls ("rounds") of each of its interactions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from junction.errors import BadRequest
from junction.schema.guards import check_path

#: model calls an interaction of the agent may make, unless ``session_config.max_rounds``
DEFAULT_ROUNDS = 30
MAX_SOURCE_FILES = 100
MAX_SOURCE_BYTES = 4 * 1024 * 1024
MAX_DESCRIPTION = 20_000
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
FINDING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MODES = ("scan", "verify")
#: Junction's own agent_config keys every agent takes (agents/run.py)
_JUNCTION_KEYS = {"max_total_tokens", "max_steps", "max_seconds"}
_KEYS = {"type", "model", "session_id", "session_config", "find_request", "fix_request"}
_REQUEST_KEYS = {
    "find_request": {"description", "finding_id", "mode", "source_files"},
    "fix_request": {"description", "finding_id", "source_files"},
}


@dataclass
class MenderTask:
    kind: str  # find | fix
    mode: str  # scan | verify | fix
    description: str | None = None
    finding_id: str | None = None
    source_files: list[tuple[str, str]] = field(default_factory=list)
    session_id: str | None = None
    max_rounds: int | None = None
    model: str | None = None

    @property
    def field(self) -> str:
        return f"agent_config.{self.kind}_request"


def _source_files(value: Any, where: str) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{where} must be a list of {{path, content}} objects")
    if len(value) > MAX_SOURCE_FILES:
        raise BadRequest(f"{where}: at most {MAX_SOURCE_FILES} files, not {len(value)}")
    files: list[tuple[str, str]] = []
    total = 0
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{at} must be an object with 'path' and 'content'")
        path = check_path(item.get("path"), f"{at}.path")
        parts = path.split("/")
        if not path or path.startswith("/") or ".." in parts or ".code-mender" in parts:
            raise BadRequest(
                f"{at}.path must be a relative path inside the workspace (no leading '/', "
                "no '..', not under .code-mender)"
            )
        content = item.get("content")
        if not isinstance(content, str):
            raise BadRequest(f"{at}.content must be the file's text")
        total += len(content.encode())
        if total > MAX_SOURCE_BYTES:
            raise BadRequest(f"{where}: more than {MAX_SOURCE_BYTES} bytes of content in all")
        files.append((path, content))
    return files


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise BadRequest(f"{where} must be a string of at most {MAX_DESCRIPTION} characters")
    return value or None


def _finding_id(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not FINDING_ID.match(value):
        raise BadRequest(f"{where} must be a finding id: 1-64 letters, digits, '_', '.', ':', '-'")
    return value


def _rounds(config: dict[str, Any], cap: int) -> int | None:
    session_config = config.get("session_config")
    if session_config is None:
        return None
    if not isinstance(session_config, dict):
        raise BadRequest("agent_config.session_config must be an object")
    unknown = sorted(set(session_config) - {"max_rounds"})
    if unknown:
        raise BadRequest(f"agent_config.session_config.{unknown[0]} is not a session option")
    value = session_config.get("max_rounds")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
        raise BadRequest(f"agent_config.session_config.max_rounds must be a whole number 1-{cap}")
    return value


def parse_task(config: dict[str, Any], *, max_rounds_cap: int) -> MenderTask:
    """The task an interaction of the code-mender agent asks for, or a 400."""
    kind = config.get("type")
    if kind is not None and kind != "code-mender":
        raise BadRequest(
            f"agent_config.type must be 'code-mender' for the code-mender agent, not '{kind}'"
        )
    unknown = sorted(set(config) - _KEYS - _JUNCTION_KEYS)
    if unknown:
        raise BadRequest(f"agent_config.{unknown[0]} is not a code-mender option")
    find, fix = config.get("find_request"), config.get("fix_request")
    if find is not None and fix is not None:
        raise BadRequest(
            "agent_config.find_request and agent_config.fix_request exclude each other: "
            "one interaction either finds or fixes"
        )
    if find is None and fix is None:
        raise BadRequest(
            "agent_config.find_request or agent_config.fix_request is required: say whether "
            "the agent looks for problems or fixes one"
        )
    name = "find_request" if find is not None else "fix_request"
    body = find if find is not None else fix
    where = f"agent_config.{name}"
    if not isinstance(body, dict):
        raise BadRequest(f"{where} must be an object")
    extra = sorted(set(body) - _REQUEST_KEYS[name])
    if extra:
        raise BadRequest(f"{where}.{extra[0]} is not a {name} option")
    task = MenderTask(
        kind=name.removesuffix("_request"),
        mode="fix",
        description=_text(body.get("description"), f"{where}.description"),
        finding_id=_finding_id(body.get("finding_id"), f"{where}.finding_id"),
        source_files=_source_files(body.get("source_files"), f"{where}.source_files"),
        max_rounds=_rounds(config, max_rounds_cap),
    )
    if find is not None:
        mode = body.get("mode") or "scan"
        if mode not in MODES:
            raise BadRequest(f"{where}.mode must be 'scan' or 'verify', not {mode!r}")
        task.mode = mode
        if mode == "verify" and task.finding_id is None:
            raise BadRequest(f"{where}.finding_id is required with mode 'verify'")
        if mode == "scan" and task.finding_id is not None:
            raise BadRequest(f"{where}.finding_id applies to mode 'verify', not 'scan'")
    session_id = config.get("session_id")
    if session_id is not None and (
        not isinstance(session_id, str) or not SESSION_ID.match(session_id)
    ):
        raise BadRequest(
            "agent_config.session_id must be 1-128 letters, digits, '_', '.', ':' or '-'"
        )
    task.session_id = session_id
    if task.finding_id is not None and session_id is None:
        raise BadRequest(
            f"{where}.finding_id names a finding of a session: send agent_config.session_id with it"
        )
    model = config.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise BadRequest("agent_config.model must be a model id string")
    task.model = model
    return task
