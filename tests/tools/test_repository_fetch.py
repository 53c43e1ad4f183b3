"""Repository sources over HTTP (issue 8): cloned from the checked address, and a
redirect (to anywhere) is not followed. A real git repository served over git's smart
HTTP protocol (``git http-backend``) on 127.0.0.1, a real clone, the real sandbox."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from aiohttp import web

from junction.testing.fakeserver import FakeProviderServer
from tests.conftest import Junction

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "PATH": "/usr/bin:/bin",
}


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True, env=GIT_ENV)


class GitHost(FakeProviderServer):
    """Serves the bare repositories below ``root`` through ``git http-backend`` (CGI);
    /moved/… answers 302 to /repo.git/…."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.paths: list[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/moved/{tail:.*}", self.moved)
        app.router.add_route("*", "/repo.git/{tail:.*}", self.serve)

    async def moved(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        raise web.HTTPFound(f"/repo.git/{request.match_info['tail']}?{request.query_string}")

    async def serve(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={
                **GIT_ENV,
                "GIT_PROJECT_ROOT": str(self.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": request.path,
                "QUERY_STRING": request.query_string,
                "REQUEST_METHOD": request.method,
                "CONTENT_TYPE": request.headers.get("Content-Type", ""),
                "HTTP_GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            },
        )
        out, _ = await proc.communicate(await request.read())
        head, _, body = out.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name] = value
        return web.Response(status=status, body=body, headers=headers)


@pytest.fixture
def git_host(tmp_path: Path) -> Iterator[GitHost]:
    work, bare = tmp_path / "work", tmp_path / "repo.git"
    work.mkdir()
    _git("-C", str(work), "init", "-q")
    (work / "hello.py").write_text("print('cloned over http')\n")
    _git("-C", str(work), "add", ".")
    _git("-C", str(work), "commit", "-q", "-m", "init")
    _git("clone", "-q", "--bare", str(work), str(bare))
    server = GitHost(tmp_path.resolve()).start()
    yield server
    server.stop()


def _create(junction: Junction, url: str) -> httpx.Response:
    return httpx.post(
        f"{junction.url}/v1beta/environments",
        json={"sources": [{"type": "repository", "source": url, "target": "code"}]},
        headers={"x-goog-api-key": junction.api_key},
        timeout=120,
    )


def test_a_repository_is_cloned_but_a_redirect_is_not_followed(
    tools_junction: Junction, git_host: GitHost
) -> None:
    direct = _create(tools_junction, f"http://127.0.0.1:{git_host.port}/repo.git")
    assert direct.status_code == 200, direct.text
    client = tools_junction.client()
    assert (
        client.environments.files.download(environment=direct.json()["id"], path="code/hello.py")
        == b"print('cloned over http')\n"
    )
    git_host.paths.clear()
    moved = _create(tools_junction, f"http://127.0.0.1:{git_host.port}/moved")
    assert moved.status_code == 400, moved.text
    assert "cloning" in moved.json()["error"]["message"]
    assert git_host.paths and all(p.startswith("/moved/") for p in git_host.paths)
