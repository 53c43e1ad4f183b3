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
    page,
    project_of,
    services,
)
from junction.api.errors import error_response
from junction.api.spec import Raw, json_body, operation, query
from junction.errors import ApiError, BadRequest, Conflict, NotFound
from junction.runtime.uploads import UploadSession, extract_archive, file_chunks
from junction.sandbox.base import Sandbox
from junction.sandbox.errors import FileNotFoundInSandbox, SandboxError
from junction.sandbox.types import FileEntry
from junction.schema import answers
from junction.schema.bodies import CreateEnvironment
from junction.schema.guards import check_path
from junction.schema.params import GetFiles, ListEnvironments, StartUpload, UploadChunk

BYTES = {"type": "string", "format": "binary"}
UPLOAD_HEADERS = {
    "X-Goog-Upload-Command": "start (PUT); upload, finalize or 'upload, finalize' (POST)",
    "X-Goog-Upload-Offset": "the byte offset of this chunk",
    "X-Goog-Upload-Header-Content-Length": "the file's total size (start)",
    "X-Goog-Upload-Header-Content-Type": "the file's type (start)",
}


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


@operation(
    summary="Create an environment (a sandboxed workspace)",
    tag="environments",
    body=CreateEnvironment,
    responses={200: answers.Environment},
)
async def create_environment(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, CreateEnvironment)
    return JSONResponse(await services(request).environments.create(project_id, body))


@operation(
    summary="List the project's environments",
    tag="environments",
    query=ListEnvironments,
    responses={200: answers.EnvironmentList},
)
async def list_environments(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, ListEnvironments)
    size = params.page_size
    envs = services(request).environments
    rows = await envs.rows.page(project_id, params.mode, size + 1, params.page_token)
    return JSONResponse(page([envs.to_wire(r) for r in rows], size, "environments"))


@operation(summary="Get an environment", tag="environments", responses={200: answers.Environment})
async def get_environment(request: Request) -> Response:
    project_id = await project_of(request)
    envs = services(request).environments
    return JSONResponse(await envs.describe(project_id, request.path_params["env_id"]))


@operation(
    summary="Delete an environment and its workspace",
    tag="environments",
    responses={200: answers.Empty},
)
async def delete_environment(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request)
    await svc.environments.delete(project_id, request.path_params["env_id"])
    svc.uploads.discard_environment(request.path_params["env_id"])
    return Response(jsonutil.dumpb({}), media_type="application/json")


@operation(
    summary="List a folder's files, or download a file (alt=media)",
    tag="files",
    query=GetFiles,
    path={"path": "a file or folder in the workspace (may hold '/')"},
    responses={
        200: (
            Raw("application/json", "the listing", answers.FileList),
            Raw("application/octet-stream", "with alt=media: the file's bytes", BYTES),
        )
    },
)
async def get_files(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, GetFiles)
    path = check_path(request.path_params.get("path", ""), "the file path").strip("/")
    box = await services(request).environments.sandbox(project_id, request.path_params["env_id"])
    entry = await stat(box, path) if path else None
    if path and entry is None:
        raise NotFound(f"'{path}' does not exist in environment {request.path_params['env_id']}")
    if params.alt == "media":
        if entry is None or entry.type != "file":
            raise BadRequest(f"'{path or '/'}' is not a file: only files can be downloaded")
        media = entry.mime_type or mimetypes.guess_type(path)[0]
        return StreamingResponse(
            box.read_file(path),
            media_type=media or "application/octet-stream",
            headers={"Content-Length": str(entry.size)},
        )
    size = params.page_size
    if entry is not None and entry.type != "directory":
        entries = [entry]
    else:
        entries = await box.list_files(path or ".", recursive=params.recursive)
    start = int(params.page_token or 0)
    body: dict[str, Any] = {"files": [file_to_wire(e) for e in entries[start : start + size]]}
    if start + size < len(entries):
        body["next_page_token"] = str(start + size)
    return JSONResponse(body)


@operation(
    summary="Start a resumable upload of a file (or an archive to unpack)",
    tag="files",
    query=StartUpload,
    headers=UPLOAD_HEADERS,
    path={"path": "where the file goes in the workspace (may hold '/')"},
    responses={
        200: Raw(
            "application/json",
            "the session: send the bytes to X-Goog-Upload-URL",
            answers.Empty,
            {"X-Goog-Upload-URL": "where the chunks go", "X-Goog-Upload-Status": "active"},
        )
    },
)
async def start_upload(request: Request) -> Response:
    project_id = await project_of(request)
    svc = services(request)
    params = query(request, StartUpload)
    if request.headers.get("x-goog-upload-command", "").lower() != "start":
        raise BadRequest("start an upload with X-Goog-Upload-Command: start")
    path = check_path(request.path_params.get("path", ""), "the file path").strip("/")
    if not path:
        raise BadRequest("name the file to upload in the path")
    env_id = request.path_params["env_id"]
    box = await svc.environments.sandbox(project_id, env_id)
    overwrite, extract = params.overwrite, params.extract
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


@operation(
    summary="Send an upload's bytes (upload) and finish it (finalize)",
    tag="files",
    query=UploadChunk,
    headers=UPLOAD_HEADERS,
    body=Raw("application/octet-stream", "the chunk's bytes", BYTES),
    body_required=False,
    path={"path": "where the file goes in the workspace (may hold '/')"},
    responses={
        200: Raw(
            "application/json",
            "active: more expected; final: the file (or an archive's files)",
            answers.Uploaded,
            {"X-Goog-Upload-Status": "active or final"},
        )
    },
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
    session = svc.uploads.load(query(request, UploadChunk).upload_id, project_id)
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
