"""Helpers shared by the route modules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from junction import jsonutil
from junction.agents.service import AgentService
from junction.api.auth import Authenticator
from junction.errors import BadRequest, NotFound, PayloadTooLarge
from junction.paging import page as page  # re-exported for the route modules
from junction.retention.service import RetentionService
from junction.runtime.credentials import CredentialService
from junction.runtime.environments import EnvironmentService
from junction.runtime.service import InteractionService
from junction.runtime.uploads import UploadStore
from junction.schema.guards import check_depth

_VERSION = re.compile(r"^v\d+(?:(?:alpha|beta)\d*)?$")
MAX_BODY = 64 * 1024 * 1024


@dataclass
class Services:
    auth: Authenticator
    interactions: InteractionService
    credentials: CredentialService
    agents: AgentService
    environments: EnvironmentService
    uploads: UploadStore
    retention: RetentionService


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsonutil.dumpb(content)


async def project_of(request: Request) -> str:
    """Check the version segment and the key; the caller's project id."""
    check_version(request)
    return await services(request).auth.project_for(request)


def check_version(request: Request) -> None:
    version = request.path_params.get("version", "")
    if not _VERSION.match(version):
        raise NotFound(f"no route for {request.url.path} (expected /v1/, /v1beta/, /v1alpha/…)")


async def read_json(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise PayloadTooLarge(f"request body larger than {MAX_BODY} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"request body larger than {MAX_BODY} bytes")
    if not raw:
        raise BadRequest("the request needs a JSON body")
    try:
        body = jsonutil.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    limit = services(request).interactions.settings.max_json_depth
    check_depth(body, limit, "the request body", "max_json_depth")
    return body
