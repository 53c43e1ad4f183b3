"""Resumable uploads (the protocol the SDK speaks, REFERENCE 8.3) and archive extraction.

An upload session lives on disk under ``<data-dir>/uploads/<id>/`` (its metadata and the
bytes received so far), outside every workspace, so chunks may arrive over several
requests; the finished file is then streamed into the workspace through the sandbox's
file API, which enforces paths and the disk quota. Archives are extracted member by
member through the same API, with limits against zip bombs.

Sessions are bounded: the bytes of all open sessions of an environment may not pass
the environment's free quota (its disk quota less what the workspace uses), an
environment has at most ``MAX_SESSIONS_PER_ENV`` open sessions, a session unused for
``idle_seconds`` is removed with its bytes, and deleting the environment removes its
sessions. Only the project that started a session can continue or cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import tarfile
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from junction.errors import BadRequest, NotFound, PayloadTooLarge
from junction.sandbox.base import Sandbox

log = logging.getLogger("junction.runtime.uploads")

MAX_UPLOAD = 8 * 1024 * 1024 * 1024
MAX_SESSIONS_PER_ENV = 16
MAX_MEMBERS = 10_000
MAX_RATIO = 100  # uncompressed / compressed, per archive
CHUNK = 1024 * 1024


@dataclass
class UploadSession:
    id: str
    project_id: str
    env_id: str
    path: str
    declared_size: int | None
    content_type: str | None
    overwrite: bool
    extract: bool
    received: int = 0
    #: bytes this session may hold: the environment's free quota when it started, less
    #: what its other open sessions may hold
    limit: int = MAX_UPLOAD


class UploadStore:
    def __init__(self, root: Path, idle_seconds: float = 3600.0) -> None:
        self.root = root
        self.idle_seconds = idle_seconds

    def sessions(self) -> list[UploadSession]:
        """Every open session (unreadable leftovers are removed)."""
        found = []
        with contextlib.suppress(FileNotFoundError):
            for folder in self.root.iterdir():
                try:
                    found.append(UploadSession(**json.loads((folder / "meta.json").read_text())))
                except (OSError, ValueError, TypeError):
                    shutil.rmtree(folder, ignore_errors=True)
        return found

    def sweep(self) -> int:
        """Remove sessions unused for ``idle_seconds``; returns how many."""
        cutoff = time.time() - self.idle_seconds
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for folder in self.root.iterdir():
                try:
                    used = max(p.stat().st_mtime for p in (folder, *folder.iterdir()))
                except (OSError, ValueError):
                    used = 0.0
                if used < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
        return removed

    async def sweep_loop(self) -> None:
        interval = min(60.0, max(1.0, self.idle_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await asyncio.to_thread(self.sweep)
                if removed:
                    log.info("removed %d idle upload sessions", removed)
            except Exception:
                log.exception("removing idle upload sessions failed")

    def discard_environment(self, env_id: str) -> None:
        """Remove every session of ``env_id`` (the environment is being deleted)."""
        for session in self.sessions():
            if session.env_id == env_id:
                self.discard(session.id)

    def budget(self, env_id: str, free: int) -> int:
        """What a new session of ``env_id`` may hold, given the workspace's free bytes."""
        others = [s for s in self.sessions() if s.env_id == env_id]
        if len(others) >= MAX_SESSIONS_PER_ENV:
            raise BadRequest(
                f"environment {env_id} has {MAX_SESSIONS_PER_ENV} uploads in progress: "
                "finish or cancel one first"
            )
        held = sum(s.declared_size if s.declared_size is not None else s.received for s in others)
        return min(MAX_UPLOAD, free - held)

    def _dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise NotFound("unknown upload session")
        return self.root / upload_id

    def start(self, session: UploadSession) -> UploadSession:
        if session.declared_size is not None and session.declared_size > MAX_UPLOAD:
            raise PayloadTooLarge(f"uploads are limited to {MAX_UPLOAD} bytes")
        if session.limit <= 0 or (
            session.declared_size is not None and session.declared_size > session.limit
        ):
            raise PayloadTooLarge(
                f"the upload ({session.declared_size} bytes) does not fit in the environment's "
                f"free quota ({max(session.limit, 0)} bytes, less uploads in progress)"
            )
        if session.declared_size is not None:
            session.limit = session.declared_size
        session.id = secrets.token_hex(16)
        folder = self._dir(session.id)
        folder.mkdir(parents=True, mode=0o700)
        (folder / "data").touch(mode=0o600)
        self._save(session)
        return session

    def _save(self, session: UploadSession) -> None:
        (self._dir(session.id) / "meta.json").write_text(json.dumps(asdict(session)))

    def load(self, upload_id: str, project_id: str) -> UploadSession:
        meta = self._dir(upload_id) / "meta.json"
        if not meta.exists():
            raise NotFound("unknown or finished upload session: start the upload again")
        session = UploadSession(**json.loads(meta.read_text()))
        if session.project_id != project_id:
            raise NotFound("unknown or finished upload session: start the upload again")
        return session

    async def append(self, session: UploadSession, offset: int, body: AsyncIterator[bytes]) -> None:
        if offset != session.received:
            raise BadRequest(
                f"X-Goog-Upload-Offset is {offset} but {session.received} bytes "
                "were received: resume from there"
            )
        limit = session.limit
        with (self._dir(session.id) / "data").open("ab") as handle:
            async for chunk in body:
                session.received += len(chunk)
                if session.received > limit:
                    self.discard(session.id)
                    raise PayloadTooLarge(
                        f"the upload is larger than the {limit} bytes it announced or the "
                        "environment's free quota allows"
                    )
                handle.write(chunk)
        self._save(session)

    def data_path(self, session: UploadSession) -> Path:
        return self._dir(session.id) / "data"

    def discard(self, upload_id: str) -> None:
        shutil.rmtree(self._dir(upload_id), ignore_errors=True)


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


async def extract_archive(box: Sandbox, archive: Path, target: str, budget: int) -> list[str]:
    """Unpack a zip or tar archive under ``target`` through the sandbox's file API.
    Refuses links, special files, more than ``MAX_MEMBERS`` members and more than
    ``budget`` (or ``MAX_RATIO`` × the archive's size) bytes in total."""
    limit = min(budget, max(archive.stat().st_size, 1) * MAX_RATIO)
    written: list[str] = []
    total = 0
    base = target.strip("/")

    def dest(name: str) -> str:
        return f"{base}/{name}".strip("/") if base else name

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_MEMBERS:
                raise BadRequest(f"the archive has more than {MAX_MEMBERS} entries")
            for info in members:
                if info.is_dir():
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode and mode != 0o100000:
                    raise BadRequest(f"the archive entry '{info.filename}' is not a plain file")
                total += info.file_size
                if total > limit:
                    raise PayloadTooLarge(
                        "the archive expands past the allowed size (zip bomb protection)"
                    )
                with zf.open(info) as member:
                    data = member.read(info.file_size + 1)
                if len(data) > info.file_size:
                    raise BadRequest(f"the archive entry '{info.filename}' lies about its size")
                await box.write_file(dest(info.filename), data)
                written.append(dest(info.filename))
        return written
    try:
        tar = tarfile.open(archive)
    except tarfile.TarError:
        raise BadRequest("extract=true needs a zip or tar archive") from None
    with tar:
        count = 0
        for item in tar:
            entry: tarfile.TarInfo = item
            count += 1
            if count > MAX_MEMBERS:
                raise BadRequest(f"the archive has more than {MAX_MEMBERS} entries")
            if entry.isdir():
                continue
            if not entry.isfile():
                raise BadRequest(f"the archive entry '{entry.name}' is not a plain file")
            total += entry.size
            if total > limit:
                raise PayloadTooLarge(
                    "the archive expands past the allowed size (zip bomb protection)"
                )
            handle = tar.extractfile(entry)
            if handle is None:
                continue
            await box.write_file(dest(entry.name), handle.read(entry.size))
            written.append(dest(entry.name))
    return written
