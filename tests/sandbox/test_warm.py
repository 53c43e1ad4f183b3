"""Warm execution (a pre-started interpreter per sandbox) against the real bubblewrap sandbox.

Each test makes sure the command it checks really ran warm (the pool's ``used`` counter
moves), then that it kept what a cold start gives: a fresh process, the limits, the
network policy, the kill of the whole command; and that the pool falls back and reaps.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import select
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from junction.config import load_settings
from junction.sandbox import (
    CompletedExec,
    EgressRule,
    Limits,
    NetworkPolicy,
    Sandbox,
    SandboxBackend,
    SandboxSettings,
    create_backend,
)
from junction.sandbox.bubblewrap import BubblewrapBackend
from junction.sandbox.bwrap_warm import WarmPool
from tests.sandbox.conftest import FAST, Boxes, EchoServer, assert_host_healthy, sandbox_processes

MiB = 2**20


def pool_of(backend: SandboxBackend) -> WarmPool:
    assert isinstance(backend, BubblewrapBackend)
    assert backend.warm is not None, "warm execution is on by default"
    return backend.warm


async def warm_run(
    backend: SandboxBackend,
    box: Sandbox,
    command: str | Sequence[str],
    timeout: float | None = None,
) -> CompletedExec:
    """Run ``command`` and check it ran in the sandbox's warm interpreter."""
    pool = pool_of(backend)
    assert await pool.wait_ready(box.id), "the sandbox's warm interpreter did not start"
    used = pool.used
    done = await box.run(command, timeout=timeout)
    assert pool.used == used + 1, "the command did not run warm"
    return done


@pytest.fixture
async def warm_boxes(secure: Boxes) -> AsyncIterator[Boxes]:
    yield secure


async def test_no_state_leaks_between_executions(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new()
    first = await warm_run(
        backend,
        box,
        [
            "python3",
            "-c",
            "import json, os, sys\n"
            "json.LEAK = 1; sys.modules['os'].LEAK = 2; SECRET = 3\n"
            "os.environ['LEAKED'] = '1'; os.chdir('/tmp'); open('/tmp/t', 'w').write('x')\n"
            "fd = os.open('/etc/hostname' if os.path.exists('/etc/hostname') else '/etc/passwd',"
            " os.O_RDONLY)\n"
            "os.set_inheritable(fd, True)\n"
            "open('/workspace/kept.txt', 'w').write('persisted')\n"
            "print(os.getpid(), fd)",
        ],
    )
    assert first.exit_code == 0, first.stderr
    second = await warm_run(
        backend,
        box,
        [
            "python3",
            "-c",
            "import json, os, sys\n"
            "print(hasattr(json, 'LEAK'), hasattr(os, 'LEAK'), 'SECRET' in globals())\n"
            "print(os.environ.get('LEAKED'), os.getcwd(), os.path.exists('/tmp/t'))\n"
            "print(sorted(os.listdir('/proc/self/fd')), sys.argv, __name__)\n"
            "print(open('kept.txt').read(), os.getpid())",
        ],
    )
    assert second.exit_code == 0, second.stderr
    lines = second.stdout.decode().splitlines()
    assert lines[0] == "False False False"
    assert lines[1] == "None /workspace False"
    # 0-2 and the fd listdir itself opens; nothing of the previous command or of ours.
    assert lines[2] == "['0', '1', '2', '3'] ['-c'] __main__"
    assert lines[3] == "persisted 1"  # a fresh process: pid 1 of a fresh pid namespace


async def test_python_errors_and_exit_codes_as_cold(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new()
    failed = await warm_run(backend, box, ["python3", "-c", "x = 1\n1 / 0"])
    assert failed.exit_code == 1
    assert failed.stderr.decode() == (
        "Traceback (most recent call last):\n"
        '  File "<string>", line 2, in <module>\n'
        "ZeroDivisionError: division by zero\n"
    )
    bad = await warm_run(backend, box, ["python3", "-c", "1 +"])
    assert bad.exit_code == 1 and b"SyntaxError" in bad.stderr and b"Traceback" not in bad.stderr
    code = await warm_run(backend, box, ["python3", "-c", "import sys; sys.exit(7)"])
    assert code.exit_code == 7
    args = await warm_run(backend, box, ["python3", "-c", "import sys; print(sys.argv)", "a"])
    assert args.stdout == b"['-c', 'a']\n"


async def test_workspace_module_shadows_a_preloaded_one(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new()
    await box.write_file("json.py", b"MINE = True\n")
    done = await warm_run(backend, box, ["python3", "-c", "import json; print(json.MINE)"])
    assert done.stdout == b"True\n", done.stderr


async def test_waiting_interpreter_imports_nothing_from_the_workspace(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new()
    marker = "open('/workspace/imported-by-' + str(__import__('os').getpid()), 'w')\n"
    for name in ("re", "json", "random", "pathlib", "subprocess", "site", "sitecustomize"):
        await box.write_file(f"{name}.py", marker.encode())
    await warm_run(backend, box, ["true"])  # the next interpreter starts with them present
    await asyncio.sleep(0.5)  # give it time to preload (the check holds without it too)
    done = await warm_run(backend, box, ["bash", "-c", "ls"])
    assert "imported-by" not in done.stdout.decode()
    shadowed = await warm_run(backend, box, ["python3", "-c", "import re; print(re.__file__)"])
    assert shadowed.stdout == b"/workspace/re.py\n", shadowed.stderr


async def test_other_commands_and_environment(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new()
    await box.write_file("sub/f.txt", b"hi\n")
    pool = pool_of(backend)
    assert await pool.wait_ready(box.id)
    used = pool.used
    done = await box.run("yes | head -2; cat f.txt; echo $A; trap -p", env={"A": "b"}, cwd="sub")
    assert pool.used == used + 1
    assert done.stdout == b"y\ny\nhi\nb\n" and done.exit_code == 0, done.stderr
    missing = await warm_run(backend, box, ["no-such-program"])
    assert missing.exit_code != 0 and b"no-such-program" in missing.stderr
    encoding = await warm_run(
        backend, box, ["python3", "-c", "import os; print(os.environ['LANG'])"]
    )
    assert encoding.stdout == b"C.UTF-8\n"


async def test_limits_hold_in_a_warm_execution(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new(
        Limits(wall_seconds=20, cpu_seconds=10, memory_bytes=256 * MiB, max_processes=32,
               disk_bytes=2 * MiB)
    )  # fmt: skip
    memory = await warm_run(
        backend, box, ["python3", "-c", "x = bytearray(1024**3); print('allocated')"]
    )
    assert b"allocated" not in memory.stdout and b"MemoryError" in memory.stderr
    procs = await warm_run(
        backend,
        box,
        [
            "python3",
            "-c",
            "import os, time\nn = 0\ntry:\n    while n < 200:\n        if os.fork() == 0:\n"
            "            time.sleep(30); os._exit(0)\n        n += 1\n"
            "except OSError:\n    print('limited', n)",
        ],
    )
    out = procs.stdout.decode().split()
    assert out[0] == "limited" and int(out[1]) < 32, procs
    size = await warm_run(
        backend,
        box,
        ["python3", "-c", "open('big', 'wb').write(b'x' * (3 * 2**20))"],
    )
    assert size.exit_code != 0 and b"File too large" in size.stderr
    assert (await box.disk_usage()) <= 2 * MiB
    slow = await warm_run(backend, box, ["python3", "-c", "while True: pass"], timeout=1)
    assert slow.result.timed_out and slow.result.killed_reason == "timeout"


async def test_network_policy_in_a_warm_execution(
    warm_boxes: Boxes, bwrap_private: SandboxBackend, echo_server: EchoServer
) -> None:
    offline = await warm_boxes.new()
    code = (
        "import os, socket\nprint(os.environ.get('HTTPS_PROXY'))\n"
        "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n    print('connected')\n"
        "except OSError as e:\n    print('refused')"
    )
    done = await warm_run(warm_boxes.backend, offline, ["python3", "-c", code])
    assert done.stdout == b"None\nrefused\n"
    rule = EgressRule("127.0.0.2", headers={"X-Project": "p1"})
    box = await bwrap_private.create("warm-" + secrets.token_hex(4), FAST, NetworkPolicy((rule,)))
    try:
        fetch = (
            "import os, urllib.request as u\nprint(os.environ['HTTP_PROXY'])\n"
            f"print(u.urlopen('{echo_server.url}/warm').read().decode())\n"
            "try:\n    u.urlopen('http://127.0.0.3:1/', timeout=5)\nexcept Exception as e:\n"
            "    print('blocked', e)"
        )
        got = await warm_run(bwrap_private, box, ["python3", "-c", fetch])
        out = got.stdout.decode()
        assert out.startswith("http://127.0.0.1:3128\n"), got.stderr
        assert '"path": "/warm"' in out and "blocked" in out
        assert echo_server.seen and echo_server.seen[-1]["X-Project"] == "p1"
    finally:
        await box.destroy()


async def test_timeout_and_cancel_kill_the_whole_warm_command(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new()
    host = Path(box.workspace.root)
    ticker = (
        "import os, subprocess, time\n"
        "subprocess.Popen(['setsid', 'bash', '-c', 'while :; do date +%s%N >> tick; "
        "sleep 0.05; done'], start_new_session=True)\n"
        "print('started', flush=True)\ntime.sleep(60)"
    )
    done = await warm_run(backend, box, ["python3", "-c", ticker], timeout=1)
    assert done.result.timed_out
    size = (host / "tick").stat().st_size
    await asyncio.sleep(0.5)
    assert (host / "tick").stat().st_size == size, "a process of the command survived"
    pool = pool_of(backend)
    assert await pool.wait_ready(box.id)
    used = pool.used
    run = box.exec(["python3", "-c", ticker])
    await run.__anext__()  # 'started'
    assert pool.used == used + 1
    run.kill()
    result = [item async for item in run][-1]
    assert getattr(result, "killed_reason", None) == "cancelled"
    size = (host / "tick").stat().st_size
    await asyncio.sleep(0.5)
    assert (host / "tick").stat().st_size == size, "a process of the command survived"


async def test_falls_back_to_cold_when_the_interpreter_died(warm_boxes: Boxes) -> None:
    backend = warm_boxes.backend
    box = await warm_boxes.new()
    pool = pool_of(backend)
    assert await pool.wait_ready(box.id)
    slot = pool._slots[box.id]
    assert slot.warm is not None
    os.kill(slot.warm.child_pid, signal.SIGKILL)
    readable, _w, _x = select.select([slot.warm.child_pidfd], [], [], 10)
    assert readable and not slot.warm.alive()  # dead before the command asks for it
    used = pool.used
    done = await box.run(["python3", "-c", "print('cold')"])
    assert done.stdout == b"cold\n" and done.exit_code == 0
    assert pool.used == used  # it ran cold
    assert await pool.wait_ready(box.id)  # and a new warm interpreter was started


@pytest.fixture
async def small_pool(data_dir: Path) -> AsyncIterator[BubblewrapBackend]:
    backend = create_backend(
        "bubblewrap",
        SandboxSettings(root_dir=data_dir / f"warm-{secrets.token_hex(3)}", warm_max=2),
    )
    assert isinstance(backend, BubblewrapBackend)
    yield backend
    await backend.aclose()


async def test_reaping_idle_lru_and_pressure(small_pool: BubblewrapBackend) -> None:
    before = set(sandbox_processes())
    pool = pool_of(small_pool)
    pool.memory_available = lambda: 10 * 2**30
    boxes = []
    try:
        for i in range(3):
            box = await small_pool.create(f"reap-{i}-{secrets.token_hex(3)}", FAST)
            boxes.append(box)
            await pool.wait_ready(box.id)
        # The cap is 2: the least recently used (the first) was reaped for the third.
        assert [pool.ready(b.id) for b in boxes] == [False, True, True]
        assert pool.reap() == 0  # nothing idle long enough yet
        # Idle: a pass an idle period later reaps the rest.
        assert pool.reap(now=time.monotonic() + pool.idle_seconds + 1) == 2
        assert not any(pool.ready(b.id) for b in boxes)
        await assert_host_healthy(before)
        # Pressure: the injected signal says memory is low — reap all, start none.
        done = await boxes[0].run(["python3", "-c", "print(1)"])  # cold, then refills
        assert done.stdout == b"1\n"
        assert await pool.wait_ready(boxes[0].id)
        pool.memory_available = lambda: 1 * MiB
        assert pool.reap() == 1 and not pool.ready(boxes[0].id)
        await boxes[1].run(["true"])
        assert not pool.ready(boxes[1].id) and boxes[1].id not in pool._slots
        await assert_host_healthy(before)
    finally:
        for box in boxes:
            await box.destroy()


async def test_destroy_and_off_switch(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = create_backend("bubblewrap", SandboxSettings(root_dir=data_dir / "warm-destroy"))
    before = set(sandbox_processes())
    try:
        pool = pool_of(backend)
        box = await backend.create("d-" + secrets.token_hex(3), FAST)
        assert await pool.wait_ready(box.id)
        await box.destroy()
        assert not pool.ready(box.id)
        await assert_host_healthy(before)
    finally:
        await backend.aclose()
    off = create_backend("bubblewrap", SandboxSettings(root_dir=data_dir / "warm-off", warm=False))
    try:
        assert isinstance(off, BubblewrapBackend) and off.warm is None
        box = await off.create("o-" + secrets.token_hex(3), FAST)
        assert (await box.run(["python3", "-c", "print(2)"])).stdout == b"2\n"
        await box.destroy()
    finally:
        await off.aclose()
    monkeypatch.setenv("JUNCTION_SANDBOX_WARM", "0")
    assert load_settings().sandbox_warm is False
    monkeypatch.setenv("JUNCTION_SANDBOX_WARM", "1")
    monkeypatch.setenv("JUNCTION_SANDBOX_WARM_MAX", "5")
    settings = load_settings()
    assert settings.sandbox_warm is True and settings.sandbox_warm_max == 5


async def test_a_command_does_not_wait_for_an_interpreter_barely_started(
    small_pool: BubblewrapBackend,
) -> None:
    pool = pool_of(small_pool)
    pool.start_delay = 3600.0  # the next interpreter has not even begun to start
    box = await small_pool.create("fresh-" + secrets.token_hex(3), FAST)
    try:
        assert box.id in pool._slots and not pool.ready(box.id)
        used = pool.used
        done = await box.run(["python3", "-c", "print('cold')"])
        assert done.stdout == b"cold\n" and pool.used == used
        assert box.id in pool._slots  # the command's end scheduled the next one
    finally:
        await box.destroy()
    assert box.id not in pool._slots
