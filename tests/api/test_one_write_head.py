"""A response's head and body leave in one write (one segment, one wake-up of the
client); a head with no body in the same event-loop turn still leaves at the next turn;
everything after the first body write, a ``100 Continue`` and ``close`` pass through in
order. Checked on the transport wrapper uvicorn's response cycle writes through, and end
to end on a real server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from junction.api.http_server import _OneWriteHead
from junction.config import load_settings
from junction.testing.server import JunctionThread


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


async def test_head_and_body_leave_in_one_write() -> None:
    raw = Recorder()
    t = _OneWriteHead(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert raw.writes == []
    t.write(b"body")
    t.write(b"more")
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing held
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # other calls pass through


async def test_a_head_alone_leaves_at_the_next_turn_and_order_is_kept() -> None:
    raw = Recorder()
    t = _OneWriteHead(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # never held: the client waits for it
    assert raw.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    await asyncio.sleep(0)
    assert raw.writes[1:] == [b"HTTP/1.1 200 OK\r\n\r\n"]  # e.g. a stream's head
    t.write(b"event")
    assert raw.writes[2:] == [b"event"]


async def test_close_flushes_a_held_head_first() -> None:
    raw = Recorder()
    t = _OneWriteHead(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    t.close()
    assert raw.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"] and raw.closed
    await asyncio.sleep(0)
    assert len(raw.writes) == 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JunctionThread]:
    tmp: Path = tmp_path_factory.mktemp("one-write")
    settings = load_settings(
        env={"JUNCTION_API_KEY": "one-write-key"},
        overrides={"data_dir": tmp, "key_requests_per_second": 0.0},
    )
    thread = JunctionThread(settings, loop="uvloop").start()  # the loop `junction serve` runs
    yield thread
    thread.stop()


def test_keep_alive_responses_arrive_whole_and_in_order(server: JunctionThread) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b'{"status":"ok"}'):
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.count(b"HTTP/1.1") == 1
        # two pipelined requests: two whole responses, in order
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        data = b""
        while data.count(b'{"status":"ok"}') < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
