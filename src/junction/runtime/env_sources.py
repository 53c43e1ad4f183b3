"""Sources that fill a new environment's workspace (REFERENCE 8.1 ``sources``):

* ``inline`` — ``content`` written at ``target`` (``encoding: base64`` for bytes);
* ``repository`` — a git repository cloned (shallow) into ``target``: an ``https``/``http``
  URL the server can reach (checked like every tenant-chosen URL, by
  :class:`junction.addresses.AddressPolicy`: private addresses only when the server
  allows them), or a local path inside one of the directories the operator listed in
  ``JUNCTION_ENVIRONMENT_SOURCE_DIRS`` (a plain directory there is copied as is).
  The clone resolves the host once, checks every address and pins git to them
  (``http.curloptResolve``), follows no redirect (``http.followRedirects=false``), speaks
  only http(s) (no ``file``, ``ext`` or ``ssh`` transport, no submodules) and reads no
  system or user git configuration.

Other source types (``gcs``, ``skill_registry``) are refused with a 400.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from junction.addresses import AddressPolicy, IPAddress, UnsafeAddress, numeric_host
from junction.config import Settings
from junction.errors import BadRequest
from junction.sandbox.base import Sandbox
from junction.schema.guards import check_path
from junction.tools.fetch import system_lookup

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


def _remote(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadRequest(f"repository source '{url}' is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadRequest(f"repository source '{url}' must be an http(s) URL or an allowed path")
    if parts.username or parts.password:
        raise BadRequest(f"repository source '{url}': credentials in the URL are not accepted")
    return parts.hostname, port


async def resolve_remote(url: str, settings: Settings) -> tuple[str, int, list[IPAddress]]:
    """(host, port, addresses) of a repository URL, every address checked."""
    host, port = _remote(url)
    try:
        numeric = numeric_host(host)
        if numeric is not None:
            addresses = [numeric]
        else:
            found = await system_lookup(host, port)
            addresses = list(dict.fromkeys(ipaddress.ip_address(a.split("%")[0]) for a in found))
    except UnsafeAddress as exc:
        raise BadRequest(f"repository source '{url}': {exc}") from None
    except OSError:
        raise BadRequest(f"repository host '{host}' cannot be resolved") from None
    if not addresses:
        raise BadRequest(f"repository host '{host}' cannot be resolved")
    try:
        AddressPolicy(settings.url_fetch_allow_private).check(host, addresses)
    except UnsafeAddress as exc:
        raise BadRequest(f"repository source '{url}': {exc}") from None
    return host, port, addresses


async def check_sources(sources: Any, settings: Settings) -> None:
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
                await resolve_remote(origin, settings)
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
        options = ["-c", "protocol.allow=never", "-c", "protocol.file.allow=always"]
        if local is None:
            host, port, addresses = await resolve_remote(origin, settings)
            pinned = ",".join(f"[{a}]" if a.version == 6 else str(a) for a in addresses)
            options = [
                *("-c", "protocol.allow=never", "-c", "protocol.http.allow=always"),
                *("-c", "protocol.https.allow=always", "-c", "http.followRedirects=false"),
                *("-c", f"http.curloptResolve={host}:{port}:{pinned}"),
            ]
        with tempfile.TemporaryDirectory(prefix="junction-src-") as tmp:
            proc = await asyncio.create_subprocess_exec(
                "git",
                *options,
                "clone",
                "--depth",
                "1",
                "--quiet",
                "--no-recurse-submodules",
                "--",
                str(local or origin),
                tmp,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={
                    "GIT_TERMINAL_PROMPT": "0",
                    "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": os.devnull,
                    "PATH": os.environ.get("PATH", ""),
                },
            )
            try:
                _, err = await asyncio.wait_for(proc.communicate(), 300)
            except TimeoutError:
                proc.kill()
                raise BadRequest(f"cloning '{origin}' took longer than 300 s") from None
            if proc.returncode != 0:
                raise BadRequest(f"cloning '{origin}' failed: {err.decode()[-300:].strip()}")
            await _write_tree(box, Path(tmp), target)
