"""Sources that fill a new environment's workspace (REFERENCE 8.1 ``sources``):

* ``inline`` — ``content`` written at ``target`` (``encoding: base64`` for bytes);
* ``repository`` — a git repository cloned (shallow) into ``target``: an ``https``/``http``
  URL the server can reach (private addresses only when the server allows them), or a
  local path inside one of the directories the operator listed in
  ``JUNCTION_ENVIRONMENT_SOURCE_DIRS`` (a plain directory there is copied as is).

Other source types (``gcs``, ``skill_registry``) are refused with a 400.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import os
import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from junction.config import Settings
from junction.errors import BadRequest
from junction.sandbox.base import Sandbox
from junction.schema.guards import check_path

MAX_INLINE = 64 * 1024 * 1024


def _kind(source: dict[str, Any]) -> str:
    return str(source.get("type", "")).lower()


def _local_dir(path: str, settings: Settings) -> Path | None:
    candidate = Path(path.removeprefix("file://")).resolve()
    for allowed in settings.environment_source_dirs:
        root = Path(allowed).resolve()
        if candidate == root or root in candidate.parents:
            return candidate
    return None


def _check_remote(url: str, settings: Settings) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadRequest(f"repository source '{url}' must be an http(s) URL or an allowed path")
    if settings.url_fetch_allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443)
    except OSError:
        raise BadRequest(f"repository host '{parts.hostname}' cannot be resolved") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise BadRequest(f"repository host '{parts.hostname}' is a private address")


def check_sources(sources: Any, settings: Settings) -> None:
    if not isinstance(sources, list):
        raise BadRequest("'sources' must be a list")
    for index, source in enumerate(sources):
        if not isinstance(source, dict):
            raise BadRequest(f"sources[{index}] must be an object")
        kind = _kind(source)
        if source.get("target") is not None:
            check_path(source["target"], f"sources[{index}].target")
        if kind == "inline":
            if not isinstance(source.get("content"), str) or not source.get("target"):
                raise BadRequest(f"sources[{index}]: an inline source needs 'content' and 'target'")
            if len(source["content"]) > MAX_INLINE:
                raise BadRequest(f"sources[{index}]: inline content over {MAX_INLINE} bytes")
            if str(source.get("encoding", "")).lower() == "base64":
                try:
                    base64.b64decode(source["content"], validate=True)
                except (binascii.Error, ValueError):
                    raise BadRequest(f"sources[{index}]: content is not valid base64") from None
        elif kind == "repository":
            origin = source.get("source")
            if not isinstance(origin, str) or not origin:
                raise BadRequest(f"sources[{index}]: a repository source needs 'source'")
            check_path(origin, f"sources[{index}].source")
            if "://" not in origin or origin.startswith("file://"):
                if _local_dir(origin, settings) is None:
                    raise BadRequest(
                        f"sources[{index}]: local path '{origin}' is not inside a directory "
                        "allowed by JUNCTION_ENVIRONMENT_SOURCE_DIRS"
                    )
            else:
                _check_remote(origin, settings)
        else:
            raise BadRequest(
                f"sources[{index}]: source type '{source.get('type')}' is not "
                "supported here (use inline or repository)"
            )


async def _write_tree(box: Sandbox, root: Path, target: str) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            relative = path.relative_to(root).as_posix()
            await box.write_file(
                f"{target.rstrip('/')}/{relative}".lstrip("/") or relative, path.read_bytes()
            )


async def apply_sources(box: Sandbox, sources: list[dict[str, Any]], settings: Settings) -> None:
    for source in sources:
        kind = _kind(source)
        target = str(source.get("target") or ".").lstrip("/")
        if kind == "inline":
            content = source["content"]
            data = (
                base64.b64decode(content)
                if str(source.get("encoding", "")).lower() == "base64"
                else content.encode()
            )
            await box.write_file(target, data)
            continue
        origin = str(source["source"])
        local = (
            _local_dir(origin, settings)
            if "://" not in origin or origin.startswith("file://")
            else None
        )
        if local is not None and not (local / ".git").exists():
            await _write_tree(box, local, target)
            continue
        with tempfile.TemporaryDirectory(prefix="junction-src-") as tmp:
            proc = await asyncio.create_subprocess_exec(
                "git",
                "clone",
                "--depth",
                "1",
                "--quiet",
                "--",
                str(local or origin),
                tmp,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={"GIT_TERMINAL_PROMPT": "0", "PATH": os.environ.get("PATH", "")},
            )
            try:
                _, err = await asyncio.wait_for(proc.communicate(), 300)
            except TimeoutError:
                proc.kill()
                raise BadRequest(f"cloning '{origin}' took longer than 300 s") from None
            if proc.returncode != 0:
                raise BadRequest(f"cloning '{origin}' failed: {err.decode()[-300:].strip()}")
            await _write_tree(box, Path(tmp), target)
