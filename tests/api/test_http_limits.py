"""HTTP limits on a real uvicorn server on loopback, driven with raw sockets: header
size (431), header and body read timeouts (slowloris), connection caps (in all and per
client address), body caps per route (413 in the SDK's error shape), and keep-alive
connections that stay usable after an error reply. Pure HTTP: no storage involved, so
one database (SQLite) is enough."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from junction.config import load_settings
from junction.testing.server import JunctionThread

KEY = "http-limits-key"
LIMITS = {
    "http_max_header_bytes": 4096,
    "http_header_timeout": 1.0,
    "http_body_timeout": 1.0,
    "http_max_connections": 24,
    "http_max_connections_per_client": 6,
    "http_max_json_bytes": 64 * 1024,
    "http_max_upload_bytes": 256 * 1024,
    "key_requests_per_second": 0.0,
}
# Generous bounds for "was closed": far above the 1 s timeouts, far below "never".
CLOSED_WITHIN = 15.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JunctionThread]:
    tmp: Path = tmp_path_factory.mktemp("http-limits")
    settings = load_settings(
        env={"JUNCTION_API_KEY": KEY},
        overrides={
            "database_url": f"sqlite:///{tmp / 'j.db'}",
            "data_dir": tmp,
            "access_log": False,
            "workers": 2,
            **LIMITS,
        },
    )
    thread = JunctionThread(settings).start()
    yield thread
    thread.stop()


def connect(server: JunctionThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=CLOSED_WITHIN)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body (all Junction errors have one)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def is_closed(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset), reading any
    final reply first."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def get(path: str, extra: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: t\r\nx-goog-api-key: {KEY}\r\n{extra}\r\n").encode()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nx-goog-api-key: {KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def error_of(body: bytes) -> dict[str, str]:
    error: dict[str, str] = json.loads(body)["error"]
    assert set(error) >= {"code", "message", "status"}
    return error


def test_oversized_headers_get_431_and_the_server_stays_up(server: JunctionThread) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nx-big: " + b"a" * 4000)
        sock.sendall(b"b" * 100_000)  # never ends its headers
        status, headers, body = read_response(sock)
        assert status == 431
        assert headers["connection"] == "close"
        assert "4096 bytes" in error_of(body)["message"]
        assert is_closed(sock)
    with connect(server) as sock:  # a request within the limit still works
        sock.sendall(get("/healthz", "x-ok: " + "a" * 3000 + "\r\n"))
        assert read_response(sock)[0] == 200


def test_headers_split_across_many_packets_within_the_limit_pass(
    server: JunctionThread,
) -> None:
    request = get("/healthz", "x-pad: " + "p" * 3500 + "\r\n")
    assert len(request) < 4096
    with connect(server) as sock:
        for start in range(0, len(request), 700):
            sock.sendall(request[start : start + 700])
        assert read_response(sock)[0] == 200
        sock.sendall(request)  # the count starts again for the next request
        assert read_response(sock)[0] == 200


def test_slowloris_headers_that_never_end_are_closed(server: JunctionThread) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        started = time.monotonic()
        try:
            while time.monotonic() - started < CLOSED_WITHIN:
                sock.sendall(b"x-slow: 1\r\n")  # a header line every 0.2 s, never the end
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(2)
        assert is_closed(sock), "a client that never finishes its headers must be closed"


def test_a_connection_that_sends_nothing_is_closed(server: JunctionThread) -> None:
    with connect(server) as sock:
        assert is_closed(sock)


def test_a_body_that_stops_arriving_is_closed_with_408(server: JunctionThread) -> None:
    with connect(server) as sock:
        # Content-Length announces 24 bytes; 19 are sent, the rest never comes.
        sock.sendall(post("/v1beta/interactions", b'{"model": "offline/echo"')[:-5])
        status, _, body = read_response(sock)
        assert status == 408
        assert "request body" in error_of(body)["message"]
        assert is_closed(sock)


def test_connections_per_client_address_are_capped(server: JunctionThread) -> None:
    held = [connect(server) for _ in range(6)]
    try:
        for sock in held:  # each of them works
            sock.sendall(get("/healthz"))
            assert read_response(sock)[0] == 200
        with connect(server) as extra:
            status, headers, body = read_response(extra)
            assert status == 429
            assert headers["retry-after"] == "1"
            assert "open connections" in error_of(body)["message"]
            assert is_closed(extra)
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + CLOSED_WITHIN
    while True:  # the slots are free again once the server has seen the closes
        with connect(server) as sock:
            sock.sendall(get("/healthz"))
            try:
                if read_response(sock)[0] == 200:
                    break
            except ConnectionError:
                pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_total_connections_are_capped(server: JunctionThread) -> None:
    # Different client addresses on loopback (127.0.0.x), so the per-client cap of 6 is
    # not what refuses them.
    held: list[socket.socket] = []
    try:
        for n in range(24):
            sock = socket.socket()
            sock.settimeout(CLOSED_WITHIN)
            sock.bind((f"127.0.0.{2 + n // 5}", 0))
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(get("/healthz"))
            assert read_response(sock)[0] == 200
            held.append(sock)
        extra = socket.socket()
        extra.settimeout(CLOSED_WITHIN)
        extra.bind(("127.0.0.200", 0))
        extra.connect(("127.0.0.1", server.port))
        with extra:
            status, _, body = read_response(extra)
            assert status == 503
            assert "too many open connections" in error_of(body)["message"]
            assert is_closed(extra)
    finally:
        for sock in held:
            sock.close()


def test_json_bodies_over_the_cap_get_413_and_the_connection_stays_usable(
    server: JunctionThread,
) -> None:
    big = json.dumps({"model": "offline/echo", "input": "x" * 70_000}).encode()
    with connect(server) as sock:
        sock.sendall(post("/v1beta/interactions", big))
        status, headers, body = read_response(sock)
        assert status == 413
        error = error_of(body)
        assert error["status"] == "PAYLOAD_TOO_LARGE"
        assert "http_max_json_bytes" in error["message"]
        assert headers.get("connection") != "close"
        # the same connection answers the next request
        small = json.dumps({"model": "offline/echo", "input": "hi"}).encode()
        sock.sendall(post("/v1beta/interactions", small))
        status, _, body = read_response(sock)
        assert status == 200, body
        assert json.loads(body)["status"] == "completed"


def test_a_chunked_body_is_cut_off_at_the_cap(server: JunctionThread) -> None:
    with connect(server) as sock:
        sock.sendall(
            f"POST /v1beta/interactions HTTP/1.1\r\nHost: t\r\nx-goog-api-key: {KEY}\r\n"
            "content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"x" * 16384
        status = None
        try:
            for _ in range(1000):  # 16 MB if nobody stopped it
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, body = read_response(sock)
        assert status == 413
        assert headers["connection"] == "close"
        assert error_of(body)["status"] == "PAYLOAD_TOO_LARGE"


def test_uploads_have_their_own_larger_cap(server: JunctionThread) -> None:
    # Past the JSON cap but within the upload cap: the upload route does not answer 413
    # (its own answer here is 404, for an environment that does not exist).
    body = b"u" * 100_000
    path = "/upload/v1beta/environments/env_missing/files/a.bin?upload_id=x"
    with connect(server) as sock:
        sock.sendall(post(path, body, "x-goog-upload-command: upload, finalize\r\n"))
        status, _, _ = read_response(sock)
        assert status not in (413, 500)
        sock.sendall(post(path, b"u" * 300_000, "x-goog-upload-command: upload\r\n"))
        status, _, body = read_response(sock)
        assert status == 413
        assert "http_max_upload_bytes" in error_of(body)["message"]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get("/v1beta/interactions/nope"), 404),
        (get("/nowhere"), 404),
        (post("/v1beta/interactions", b"{oops"), 400),
        (b"GET /v1beta/interactions/x HTTP/1.1\r\nHost: t\r\nx-goog-api-key: bad\r\n\r\n", 401),
    ],
)
def test_keep_alive_survives_error_replies(
    server: JunctionThread, request_bytes: bytes, status: int
) -> None:
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(request_bytes)
            got, headers, body = read_response(sock)
            assert got == status
            assert headers.get("connection") != "close"
            error_of(body)
        sock.sendall(get("/healthz"))
        assert read_response(sock)[0] == 200
