"""/{version}/voices routes (REFERENCE 9.6)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction import jsonutil
from junction.api.common import JSONResponse, project_of, services
from junction.api.spec import json_body, operation, query
from junction.errors import Unavailable
from junction.runtime.voices import FILTERS, VoiceService
from junction.schema import answers
from junction.schema.bodies import CreateVoice
from junction.schema.params import ListVoices


def _voices(request: Request) -> VoiceService:
    voices = services(request).interactions.voices
    if not isinstance(voices, VoiceService):
        raise Unavailable("voices are not available in this process")
    return voices


@operation(
    summary="List prebuilt and the project's voices",
    tag="voices",
    query=ListVoices,
    responses={200: answers.VoiceList},
)
async def list_voices(request: Request) -> Response:
    project_id = await project_of(request)
    params = query(request, ListVoices)
    filters = {name: getattr(params, name) or [] for name in FILTERS}
    voices, following = await _voices(request).page(
        project_id, filters, params.search, int(params.page_token or 0), params.page_size
    )
    body: dict[str, Any] = {"voices": voices}
    if following is not None:
        body["next_page_token"] = str(following)
    return JSONResponse(body)


@operation(
    summary="Create a prompted voice (validated by CreateVoice in the service)",
    tag="voices",
    body=CreateVoice,
    responses={200: answers.Voice},
)
async def create_voice(request: Request) -> Response:
    project_id = await project_of(request)
    body = await json_body(request, CreateVoice)
    return JSONResponse(await _voices(request).create(project_id, body))


@operation(summary="Get a voice", tag="voices", responses={200: answers.Voice})
async def get_voice(request: Request) -> Response:
    project_id = await project_of(request)
    return JSONResponse(await _voices(request).get(project_id, request.path_params["voice_id"]))


@operation(summary="Delete a voice", tag="voices", responses={200: answers.Empty})
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
