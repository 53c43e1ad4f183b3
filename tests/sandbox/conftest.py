"""Fixtures for the sandbox suite: real backends, throwaway sandboxes, local HTTP targets.

The bubblewrap backend is real (no doubles). Where ``bwrap`` cannot run, its tests skip
with the reason; with ``JUNCTION_REQUIRE_SANDBOX=1`` they fail instead. The
``unsafe-local`` backend only takes part in the functional contract, never in security
tests.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from junction.sandbox import (
    Limits,
    NetworkPolicy,
    Sandbox,
    SandboxBackend,
    SandboxSettings,
    SandboxUnavailable,
    create_backend,
)

REQUIRE = os.environ.get("JUNCTION_REQUIRE_SANDBOX") == "1"
SECRET = "sk-test-" + secrets.token_hex(12)
FAST = Limits(wall_seconds=20, cpu_seconds=10, memory_bytes=512 * 2**20, max_processes=64)


def _backend(name: str, root: Path, **settings: object) -> SandboxBackend:
    try:
        return create_backend(name, SandboxSettings(root_dir=root, **settings))  # type: ignore[arg-type]
    except SandboxUnavailable as exc:
        if REQUIRE:
            pytest.fail(f"sandbox backend required (JUNCTION_REQUIRE_SANDBOX=1): {exc}")
        pytest.skip(str(exc))


async def _credential(credential_id: str) -> tuple[str, str]:
    if credential_id != "test-cred":
        raise KeyError(credential_id)
    return "Authorization", f"Bearer {SECRET}"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    """Stands in for Junction's data dir: it holds a secret no sandbox may read.

    Made with mode 0711 directly under /tmp: when the suite runs as root, bwrap runs as
    the unprivileged sandbox user and must be able to traverse down to the workspaces
    (pytest's own tmp_path lives below a 0700 directory).
    """
    path = Path(tempfile.mkdtemp(prefix="junction-sandbox-test-"))
    path.chmod(0o711)
    (path / "junction.db").write_text(f"secret={SECRET}\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
async def bwrap(data_dir: Path) -> AsyncIterator[SandboxBackend]:
    backend = _backend("bubblewrap", data_dir / "sandboxes")
    yield backend
    await backend.aclose()


@pytest.fixture(scope="session")
async def bwrap_private(data_dir: Path) -> AsyncIterator[SandboxBackend]:
    """A second bubblewrap backend whose proxy may reach private addresses (tests only)."""
    backend = _backend(
        "bubblewrap",
        data_dir / "sandboxes-private",
        allow_private_egress=True,
        resolve_credential=_credential,
    )
    yield backend
    await backend.aclose()


@pytest.fixture(scope="session")
def unsafe(data_dir: Path) -> SandboxBackend:
    return _backend("unsafe-local", data_dir / "unsafe", allow_unsafe=True)


@pytest.fixture(params=["bubblewrap", "unsafe-local"])
def backend(request: pytest.FixtureRequest) -> SandboxBackend:
    """Every available backend, for the functional contract."""
    fixture = "bwrap" if request.param == "bubblewrap" else "unsafe"
    result: SandboxBackend = request.getfixturevalue(fixture)
    return result


@dataclass
class Boxes:
    backend: SandboxBackend
    made: list[Sandbox] = field(default_factory=list)

    async def new(self, limits: Limits = FAST, network: NetworkPolicy | None = None) -> Sandbox:
        box = await self.backend.create("t-" + secrets.token_hex(5), limits, network)
        self.made.append(box)
        return box


@pytest.fixture
async def boxes(backend: SandboxBackend) -> AsyncIterator[Boxes]:
    made = Boxes(backend)
    yield made
    for box in made.made:
        await box.destroy()


@pytest.fixture
async def box(boxes: Boxes) -> Sandbox:
    return await boxes.new()


@pytest.fixture(scope="session")
async def bwrap_rlimits(data_dir: Path) -> AsyncIterator[SandboxBackend]:
    """bubblewrap without cgroups: only the rlimits (what most unprivileged hosts get)."""
    backend = _backend("bubblewrap", data_dir / "sandboxes-rlimits", cgroups=False)
    yield backend
    await backend.aclose()


@pytest.fixture(params=["auto", "rlimits"])
def secure_backend(
    request: pytest.FixtureRequest, bwrap: SandboxBackend, bwrap_rlimits: SandboxBackend
) -> SandboxBackend:
    """bubblewrap with cgroups where this host allows them, and with rlimits only."""
    return bwrap if request.param == "auto" else bwrap_rlimits


@pytest.fixture
async def secure(secure_backend: SandboxBackend) -> AsyncIterator[Boxes]:
    """Sandboxes for security tests; afterwards the host must be healthy."""
    backend = secure_backend
    before = set(sandbox_processes())
    made = Boxes(backend)
    yield made
    for box in made.made:
        await box.destroy()
    await assert_host_healthy(before)


async def assert_host_healthy(before: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """The test process can still fork, allocate and do I/O; no sandbox process lingers."""
    proc = await asyncio.create_subprocess_exec("true")
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    blob = bytearray(32 * 2**20)
    assert len(blob) == 32 * 2**20
    for _ in range(50):
        left = set(sandbox_processes()) - before
        if not left:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"sandbox processes outlived their exec: {left}")


def sandbox_processes() -> list[str]:
    """Processes in a user namespace other than ours (i.e. sandboxed) that are still alive."""
    own = os.readlink("/proc/self/ns/user")
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{pid}/ns/user") == own:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(f"{pid}: {cmd[:80]}")
    return found


@dataclass
class EchoServer:
    """A local HTTP server; records every request's headers."""

    host: str
    port: int
    seen: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
async def echo_server() -> AsyncIterator[EchoServer]:
    # 127.0.0.2 is loopback too, but unlike 127.0.0.1 it is not in the sandbox's NO_PROXY,
    # so clients inside send it through the egress proxy as they would a public host.
    server = EchoServer("127.0.0.2", 0)

    async def handle(request: web.Request) -> web.Response:
        server.seen.append(dict(request.headers))
        body = await request.read()
        return web.json_response(
            {"path": request.path_qs, "headers": dict(request.headers), "body": body.decode()}
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, server.host, 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()
