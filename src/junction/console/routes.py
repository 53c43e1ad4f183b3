"""``/console``: the console's static files, read once from the package and served with a
strict Content-Security-Policy."""

from __future__ import annotations

import hashlib
import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from junction.api.spec import Raw, operation
from junction.errors import NotFound

#: no inline script or style, nothing from elsewhere, no framing
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


class StaticFiles:
    """Every file under ``static/``, read into memory on first use (they are small)."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str, str]] | None = None

    def _load(self) -> dict[str, tuple[bytes, str, str]]:
        files: dict[str, tuple[bytes, str, str]] = {}

        def walk(folder: Traversable, prefix: str) -> None:
            for entry in folder.iterdir():
                if entry.is_dir():
                    walk(entry, f"{prefix}{entry.name}/")
                else:
                    data = entry.read_bytes()
                    suffix = "." + entry.name.rsplit(".", 1)[-1]
                    media = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0]
                    etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                    files[prefix + entry.name] = (data, media or "application/octet-stream", etag)

        walk(resources.files("junction.console") / "static", "")
        return files

    def response(self, request: Request, name: str) -> Response:
        if self._files is None:
            self._files = self._load()
        found = self._files.get(name)
        if found is None:
            raise NotFound(f"no console file '{name}'")
        data, media, etag = found
        headers = {
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
            "ETag": etag,
        }
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=media, headers=headers)


_static = StaticFiles()


HTML = Raw("text/html", "the console's page", {"type": "string"})


@operation(
    summary="The web console (redirects to /console/)",
    tag="console",
    public=True,
    responses={308: Raw("text/plain", "to /console/", headers={"Location": "/console/"})},
)
async def console_root(request: Request) -> Response:
    return RedirectResponse("/console/", status_code=308)


@operation(summary="The web console's page", tag="console", public=True, responses={200: HTML})
async def console_page(request: Request) -> Response:
    return _static.response(request, "index.html")


@operation(
    summary="The console's static files (scripts, styles, images)",
    tag="console",
    public=True,
    responses={200: Raw("*/*", "the file", {"type": "string"})},
)
async def console_file(request: Request) -> Response:
    return _static.response(request, request.path_params["path"])


routes = [
    Route("/console", console_root, methods=["GET"]),
    Route("/console/", console_page, methods=["GET"]),
    Route("/console/static/{path:path}", console_file, methods=["GET"]),
]
