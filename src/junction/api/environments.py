"""/{version}/environments routes and the files API (REFERENCE 8), including the
resumable upload protocol the SDK speaks (``/upload/{version}/…``)."""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from junction import jsonutil
from junction.api.common import (
    JSONResponse,
    bool_param,
    int_param,
    page,
    project_of,
    read_json,
    services,
)
from junction.api.errors import error_response
from junction.errors import ApiError, BadRequest, Conflict, NotFound
from junction.runtime.uploads import UploadSession, extract_archive, file_chunks
from junction.sandbox.base import Sandbox
from junction.sandbox.errors import FileNotFoundInSandbox, SandboxError
from junction.sandbox.types import FileEntry
from junction.schema.guards import check_path


def file_to_wire(entry: FileEntry) -> dict[str, Any]:
    """An EnvironmentFile. ``type`` is ``file``, ``directory`` or, a value the SDK's open
    enum keeps, ``symlink`` (a link is reported as a link, never as what it points to)."""
    wire: dict[str, Any] = {
        "name": entry.name,
        "path": entry.path,
        "type": entry.type,
        "size_bytes": str(entry.size),
        "created": entry.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "modified": entry.modified.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if entry.type == "file":
        wire["mime_type"] = entry.mime_type or "application/octet-stream"
    return wire


async def stat(box: Sandbox, path: str) -> FileEntry | None:
    """The entry at ``path`` (a file or directory), or None when nothing is there."""
    parent = posixpath.dirname(path) or "."
    try:
        entries = await box.list_files(parent)
    except FileNotFoundInSandbox:
        return None
    return next((e for e in entries if e.path == path), None)


async def create_environment(request: Request) -> Response:
    project_id = await project_of(request)
    body = await read_json(request)
    return JSONResponse(await services(request).environments.create(project_id, body))


async def list_environments(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    envs = services(request).environments
    mode = request.query_params.get("mode") or None
    rows = await envs.rows.page(
        project_id, mode, size + 1, request.query_params.get("page_token") or None
    )
    return JSONResponse(page([envs.to_wire(r) for r in rows], size, "environments"))


async def get_environment(request: Request) -> Response:
    project_id = await project_of(request)
    envs = services(request).environments
    return JSONResponse(await envs.describe(project_id, request.path_params["env_id"]))


async def delete_environment(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request)
    await svc.environments.delete(project_id, request.path_params["env_id"])
    svc.uploads.discard_environment(request.path_params["env_id"])
    return Response(jsonutil.dumpb({}), media_type="application/json")


async def get_files(request: Request) -> Response:
    project_id = await project_of(request)
    path = check_path(request.path_params.get("path", ""), "the file path").strip("/")
    box = await services(request).environments.sandbox(project_id, request.path_params["env_id"])
    entry = await stat(box, path) if path else None
    if path and entry is None:
        raise NotFound(f"'{path}' does not exist in environment {request.path_params['env_id']}")
    if request.query_params.get("alt") == "media":
        if entry is None or entry.type != "file":
            raise BadRequest(f"'{path or '/'}' is not a file: only files can be downloaded")
        media = entry.mime_type or mimetypes.guess_type(path)[0]
        return StreamingResponse(
            box.read_file(path),
            media_type=media or "application/octet-stream",
            headers={"Content-Length": str(entry.size)},
        )
    size = int_param(request, "page_size", default=1000, low=1, high=10000)
    token = request.query_params.get("page_token") or "0"
    if not token.isdigit():
        raise BadRequest("page_token is not one this server issued")
    if entry is not None and entry.type != "directory":
        entries = [entry]
    else:
        entries = await box.list_files(path or ".", recursive=bool_param(request, "recursive"))
    start = int(token)
    body: dict[str, Any] = {"files": [file_to_wire(e) for e in entries[start : start + size]]}
    if start + size < len(entries):
        body["next_page_token"] = str(start + size)
    return JSONResponse(body)


async def start_upload(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request)
    if request.headers.get("x-goog-upload-command", "").lower() != "start":
        raise BadRequest("start an upload with X-Goog-Upload-Command: start")
    path = check_path(request.path_params.get("path", ""), "the file path").strip("/")
    if not path:
        raise BadRequest("name the file to upload in the path")
    env_id = request.path_params["env_id"]
    box = await svc.environments.sandbox(project_id, env_id)
    overwrite = bool_param(request, "overwrite")
    extract = bool_param(request, "extract")
    if not overwrite and not extract and await stat(box, path) is not None:
        raise Conflict(f"'{path}' exists: upload with overwrite=true to replace it")
    declared = request.headers.get("x-goog-upload-header-content-length")
    free = box.limits.disk_bytes - await box.disk_usage()
    if overwrite and not extract and (old := await stat(box, path)) is not None:
        free += old.size  # the old file is replaced
    limit = svc.uploads.budget(env_id, free)
    session = svc.uploads.start(
        UploadSession(
            "",
            project_id,
            env_id,
            path,
            int(declared) if declared and declared.isdigit() else None,
            request.headers.get("x-goog-upload-header-content-type"),
            overwrite,
            extract,
            limit=limit,
        )
    )
    # percent-encoded: a header carries Latin-1 only, and file names may be any Unicode
    url = request.url.replace(path=quote(request.scope["path"]), query=f"upload_id={session.id}")
    return JSONResponse(
        {}, headers={"X-Goog-Upload-URL": str(url), "X-Goog-Upload-Status": "active"}
    )


async def upload_chunk(request: Request) -> Response:
    """Every error here ends the session and carries ``X-Goog-Upload-Status: final``:
    without that header the SDK would resend the chunk instead of reporting the error."""
    owned: list[UploadSession] = []
    try:
        return await _upload_chunk(request, owned)
    except (ApiError, SandboxError) as exc:
        for session in owned:  # only a session the caller's project owns is ended
            services(request).uploads.discard(session.id)
        response = error_response(exc)
        response.headers["X-Goog-Upload-Status"] = "final"
        return response


async def _upload_chunk(request: Request, owned: list[UploadSession]) -> Response:
    project_id = await project_of(request)
    svc = services(request)
    upload_id = request.query_params.get("upload_id", "")
    session = svc.uploads.load(upload_id, project_id)
    owned.append(session)
    command = {c.strip() for c in request.headers.get("x-goog-upload-command", "").split(",")}
    offset = request.headers.get("x-goog-upload-offset", "0")
    if not offset.isdigit():
        raise BadRequest("X-Goog-Upload-Offset must be a byte offset")
    if "upload" in command:
        await svc.uploads.append(session, int(offset), request.stream())
    if "finalize" not in command:
        return JSONResponse(
            {},
            headers={
                "X-Goog-Upload-Status": "active",
                "X-Goog-Upload-Size-Received": str(session.received),
            },
        )
    if session.declared_size is not None and session.received != session.declared_size:
        raise BadRequest(
            f"the upload announced {session.declared_size} bytes but {session.received} arrived"
        )
    box = await svc.environments.sandbox(project_id, session.env_id)
    data = svc.uploads.data_path(session)
    try:
        if session.extract:
            budget = box.limits.disk_bytes - await box.disk_usage()
            written = await extract_archive(box, data, session.path, budget)
            entries = [e for w in written if (e := await stat(box, w)) is not None]
            body: dict[str, Any] = {"files": [file_to_wire(e) for e in entries]}
        else:
            await box.write_file(session.path, file_chunks(data))
            entry = await stat(box, session.path)
            assert entry is not None
            body = {"file": file_to_wire(entry)}
    finally:
        svc.uploads.discard(session.id)
    return JSONResponse(body, headers={"X-Goog-Upload-Status": "final"})


FILES = "/{version}/environments/{env_id}/files"
routes = [
    Route("/{version}/environments", create_environment, methods=["POST"]),
    Route("/{version}/environments", list_environments, methods=["GET"]),
    Route("/{version}/environments/{env_id}", get_environment, methods=["GET"]),
    Route("/{version}/environments/{env_id}", delete_environment, methods=["DELETE"]),
    Route(FILES, get_files, methods=["GET"]),
    Route(FILES + "/{path:path}", get_files, methods=["GET"]),
    Route("/upload" + FILES + "/{path:path}", start_upload, methods=["PUT"]),
    Route("/upload" + FILES + "/{path:path}", upload_chunk, methods=["POST"]),
]
