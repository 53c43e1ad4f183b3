"""/{version}/voices routes (REFERENCE 9.6)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction import jsonutil
from junction.api.common import JSONResponse, int_param, project_of, read_json, services
from junction.errors import BadRequest, Unavailable
from junction.runtime.voices import FILTERS, VoiceService


def _voices(request: Request) -> VoiceService:
    voices = services(request).interactions.voices
    if not isinstance(voices, VoiceService):
        raise Unavailable("voices are not available in this process")
    return voices


async def list_voices(request: Request) -> Response:
    project_id = await project_of(request)
    size = int_param(request, "page_size", default=50, low=1, high=1000)
    token = request.query_params.get("page_token") or "0"
    if not token.isdigit():
        raise BadRequest("page_token is not one this server issued")
    filters = {name: request.query_params.getlist(name) for name in FILTERS}
    voices, following = await _voices(request).page(
        project_id, filters, request.query_params.get("search") or None, int(token), size
    )
    body: dict[str, Any] = {"voices": voices}
    if following is not None:
        body["next_page_token"] = str(following)
    return JSONResponse(body)


async def create_voice(request: Request) -> Response:
    project_id = await project_of(request)
    return JSONResponse(await _voices(request).create(project_id, await read_json(request)))


async def get_voice(request: Request) -> Response:
    project_id = await project_of(request)
    return JSONResponse(await _voices(request).get(project_id, request.path_params["voice_id"]))


async def delete_voice(request: Request) -> Response:
    project_id = await project_of(request)
    await _voices(request).delete(project_id, request.path_params["voice_id"])
    return Response(jsonutil.dumpb({}), media_type="application/json")


routes = [
    Route("/{version}/voices", list_voices, methods=["GET"]),
    Route("/{version}/voices", create_voice, methods=["POST"]),
    Route("/{version}/voices/{voice_id}", get_voice, methods=["GET"]),
    Route("/{version}/voices/{voice_id}", delete_voice, methods=["DELETE"]),
]
