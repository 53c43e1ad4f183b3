"""POST /{version}/decisions (REFERENCE 9.4)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from junction.api.common import JSONResponse, project_of, read_json
from junction.api.spec import operation
from junction.decisions.schema import CreateDecision
from junction.decisions.service import DecisionService
from junction.schema import answers


@operation(
    summary="Answer questions about an input (validated by CreateDecision in the service)",
    tag="decisions",
    body=CreateDecision,
    responses={200: answers.Decision},
)
async def create_decision(request: Request) -> Response:
    await project_of(request)
    service: DecisionService = request.app.state.decisions
    return JSONResponse(await service.decide(await read_json(request)))


routes = [Route("/{version}/decisions", create_decision, methods=["POST"])]
