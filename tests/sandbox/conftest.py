"""Fixtures for the sandbox suite: real backends, throwaway sandboxes, local HTTP targets.

The bubblewrap backend is real (no doubles). Where ``bwrap`` cannot run, its tests skip
with the reason; with ``JUNCTION_REQUIRE_SANDBOX=1`` they fail instead. The
``unsafe-local`` backend only takes part in the functional contract, never in security
tests.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import secrets
import shutil
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from junction.sandbox import (
    Limits,
    NetworkPolicy,
    Sandbox,
    SandboxBackend,
    SandboxSettings,
    SandboxUnavailable,
    create_backend,
)
from junction.sandbox.bwrap_system import sandbox_host_ids

REQUIRE = os.environ.get("JUNCTION_REQUIRE_SANDBOX") == "1"
SECRET = "sk-test-" + secrets.token_hex(12)
FAST = Limits(wall_seconds=20, cpu_seconds=10, memory_bytes=512 * 2**20, max_processes=64)


def _backend(name: str, root: Path, **settings: object) -> SandboxBackend:
    try:
        backend = create_backend(name, SandboxSettings(root_dir=root, **settings))  # type: ignore[arg-type]
        pool = getattr(backend, "warm", None)
        if pool is not None and os.environ.get("JUNCTION_TEST_WARM_ALWAYS") == "1":
            # Every bubblewrap command of the suite runs in a warm interpreter.
            pool.start_delay, pool.always_wait = 0.0, True
        return backend
    except SandboxUnavailable as exc:
        if REQUIRE:
            pytest.fail(f"sandbox backend required (JUNCTION_REQUIRE_SANDBOX=1): {exc}")
        pytest.skip(str(exc))


async def _credential(credential_id: str, host: str) -> tuple[str, str]:
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
def upstream_ca(data_dir: Path) -> UpstreamCA:
    """A CA for the local HTTPS test server; only the private backend's proxy trusts it."""
    return UpstreamCA(data_dir / "upstream-ca")


@pytest.fixture(scope="session")
async def bwrap_private(data_dir: Path, upstream_ca: UpstreamCA) -> AsyncIterator[SandboxBackend]:
    """A second bubblewrap backend whose proxy may reach private addresses (tests only)."""
    backend = _backend(
        "bubblewrap",
        data_dir / "sandboxes-private",
        allow_private_egress=True,
        resolve_credential=_credential,
        egress_extra_ca_file=upstream_ca.ca_file,
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


HOST_UID = sandbox_host_ids(None, None)[0] if os.geteuid() == 0 else os.getuid()


def sandbox_processes() -> list[str]:
    """Live sandboxed processes started by this test process: its descendants that run
    as the sandbox host uid in another user namespace (other users of the machine may
    run sandboxes at the same time; those are not ours to judge)."""
    own_ns = os.readlink("/proc/self/ns/user")
    parents: dict[int, int] = {}
    info: dict[int, tuple[str, int, str]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            ns = os.readlink(f"/proc/{pid}/ns/user")
        except OSError:
            continue
        parents[int(pid)] = int(status["PPid"])
        info[int(pid)] = (status["State"].strip(), int(status["Uid"].split()[0]), ns + cmd)
    me = os.getpid()
    found = []
    for pid, (state, uid, ns_cmd) in info.items():
        if uid != HOST_UID or ns_cmd.startswith(own_ns) or state.startswith("Z"):
            continue
        ancestor, hops = parents.get(pid, 0), 0
        while ancestor not in (0, 1, me) and hops < 64:
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        if ancestor == me:
            found.append(f"{pid}: {ns_cmd[len(own_ns) :][:80]}")
    return found


@dataclass
class EchoServer:
    """A local HTTP server; records every request's headers."""

    host: str
    port: int
    seen: list[dict[str, str]] = field(default_factory=list)
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class UpstreamCA:
    """A throwaway CA and a server certificate for 127.0.0.2, as files."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700)
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Junction test upstream CA")])
        ca = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder().subject_name(x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.2")]))
            .issuer_name(name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.2"))]), critical=False)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        pem = serialization.Encoding.PEM
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(pem))
        self.server_file = directory / "server.pem"
        self.server_file.write_bytes(
            leaf.public_bytes(pem)
            + leaf_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_file)
        return context


async def _serve(server: EchoServer, context: ssl.SSLContext | None) -> web.AppRunner:
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
    site = web.TCPSite(runner, server.host, 0, ssl_context=context)
    await site.start()
    server.port = runner.addresses[0][1]
    return runner


@pytest.fixture
async def tls_echo_server(upstream_ca: UpstreamCA) -> AsyncIterator[EchoServer]:
    """Like ``echo_server`` over HTTPS, with a certificate from ``upstream_ca``."""
    server = EchoServer("127.0.0.2", 0, scheme="https")
    runner = await _serve(server, upstream_ca.server_context())
    yield server
    await runner.cleanup()


@pytest.fixture
async def echo_server() -> AsyncIterator[EchoServer]:
    # 127.0.0.2 is loopback too, but unlike 127.0.0.1 it is not in the sandbox's NO_PROXY,
    # so clients inside send it through the egress proxy as they would a public host.
    server = EchoServer("127.0.0.2", 0)
    runner = await _serve(server, None)
    yield server
    await runner.cleanup()
