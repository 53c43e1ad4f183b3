"""Junction additions for the caller's own project: export its interactions as JSON
Lines, read its retention policy, and delete all of its data (docs/retention.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from junction.api.common import JSONResponse, project_of, services
from junction.api.spec import Raw, operation, query
from junction.errors import BadRequest
from junction.retention.export import export_lines
from junction.retention.service import RetentionService
from junction.schema import answers
from junction.schema.params import Confirm


def _retention(request: Request) -> RetentionService:
    return services(request).retention


@operation(
    summary="Export the project's interactions as JSON Lines",
    tag="project",
    responses={200: Raw("application/jsonl", "one interaction per line", {"type": "string"})},
)
async def export_interactions(request: Request) -> Response:
    project_id = await project_of(request)
    db = _retention(request).db
    return StreamingResponse(
        export_lines(db, project_id),
        media_type="application/jsonl",
        headers={"Content-Disposition": 'attachment; filename="interactions.jsonl"'},
    )


@operation(
    summary="The project's retention policy",
    tag="project",
    responses={200: answers.RetentionPolicy},
)
async def get_retention(request: Request) -> Response:
    project_id = await project_of(request)
    policy = await _retention(request).policy(project_id)
    return JSONResponse(policy.to_dict())


@operation(
    summary="Delete every interaction, environment, agent and credential of the project",
    tag="project",
    query=Confirm,
    responses={200: answers.Deleted},
)
async def delete_project_data(request: Request) -> Response:
    project_id = await project_of(request)
    if not query(request, Confirm).confirm:
        raise BadRequest(
            "this deletes every interaction, environment, agent and credential of your "
            "project: repeat the request with ?confirm=true"
        )
    deleted = await _retention(request).delete_project_data(project_id)
    return JSONResponse({"deleted": deleted})


routes = [
    Route("/{version}/interactions:export", export_interactions, methods=["GET"]),
    Route("/{version}/project/retention", get_retention, methods=["GET"]),
    Route("/{version}/project/data", delete_project_data, methods=["DELETE"]),
]
