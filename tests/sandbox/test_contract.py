"""The functional contract every sandbox backend passes (parametrized over backends)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from junction.sandbox import (
    ExecResult,
    FileNotFoundInSandbox,
    InvalidArgument,
    InvalidPath,
    Limits,
    OutputChunk,
    PathOutsideWorkspace,
    QuotaExceeded,
    Sandbox,
    SandboxBackend,
    SandboxExists,
    SandboxNotFound,
)
from tests.sandbox.conftest import FAST, Boxes


async def collect(box: Sandbox, command: str | list[str], **kw: object) -> list[object]:
    items: list[object] = []
    async with box.exec(command, **kw) as run:  # type: ignore[arg-type]
        async for item in run:
            items.append(item)
    return items


async def test_exec_streams_output_then_result(box: Sandbox) -> None:
    items = await collect(box, "echo out; echo err >&2; exit 3")
    assert isinstance(items[-1], ExecResult)
    chunks = [i for i in items[:-1] if isinstance(i, OutputChunk)]
    assert len(chunks) == len(items) - 1
    assert b"".join(c.data for c in chunks if c.stream == "stdout") == b"out\n"
    assert b"".join(c.data for c in chunks if c.stream == "stderr") == b"err\n"
    result = items[-1]
    assert result.exit_code == 3 and not result.timed_out and result.killed_reason is None
    assert result.wall_seconds > 0 and not result.truncated


async def test_argv_stdin_env_and_isolated_environment(box: Sandbox) -> None:
    os.environ["JUNCTION_TEST_LEAK"] = "must-not-leak"
    try:
        done = await box.run(["python3", "-c", "import sys; print(sys.argv[1:])", "a b", "'c'"])
        assert done.stdout == b"['a b', \"'c'\"]\n"
        done = await box.run("cat; echo $FOO", stdin=b"piped\n", env={"FOO": "bar"})
        assert done.stdout == b"piped\nbar\n"
        done = await box.run("env")
        assert b"JUNCTION_TEST_LEAK" not in done.stdout
        assert b"HOME=" + box.workspace_path.encode() in done.stdout
    finally:
        del os.environ["JUNCTION_TEST_LEAK"]


async def test_large_stdin(box: Sandbox) -> None:
    data = os.urandom(3 * 2**20)
    script = "import sys; print(len(sys.stdin.buffer.read()))"
    done = await box.run(["python3", "-c", script], stdin=data)
    assert done.stdout == b"3145728\n"


async def test_cwd_and_workspace_persistence(box: Sandbox) -> None:
    await box.write_file("sub/dir/keep.txt", b"kept")
    done = await box.run("pwd; cat keep.txt; echo made > new.txt", cwd="sub/dir")
    assert done.stdout == f"{box.workspace_path}/sub/dir\nkept".encode()
    assert b"".join([c async for c in box.read_file("sub/dir/new.txt")]) == b"made\n"
    with pytest.raises(FileNotFoundInSandbox):
        box.exec("true", cwd="nope")
    with pytest.raises(PathOutsideWorkspace):
        box.exec("true", cwd="../..")
    with pytest.raises(InvalidArgument):
        box.exec("true", env={"A=B": "x"})


async def test_timeout_kills(box: Sandbox) -> None:
    start = time.monotonic()
    done = await box.run("echo started; sleep 30", timeout=0.5)
    assert time.monotonic() - start < 3
    assert done.stdout == b"started\n"
    assert done.result.timed_out and done.result.killed_reason == "timeout"
    assert done.result.signal == 9


async def test_output_limit_truncates(boxes: Boxes) -> None:
    box = await boxes.new(Limits(wall_seconds=20, max_output_bytes=10_000))
    done = await box.run("yes")
    assert len(done.stdout) == 10_000
    assert done.result.truncated and done.result.killed_reason == "output_limit"


async def test_cancel_kills_tree_within_a_second(box: Sandbox) -> None:
    script = "(while true; do date +%s%N > tick; sleep 0.05; done) & echo up; wait"
    run = box.exec(script)

    async def consume() -> None:
        async for _item in run:
            pass

    task = asyncio.create_task(consume())
    for _ in range(500):
        if "tick" in {e.name for e in await box.list_files()}:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(1.0)
    first = b"".join([c async for c in box.read_file("tick")])
    await asyncio.sleep(0.3)
    assert b"".join([c async for c in box.read_file("tick")]) == first, "the loop survived"
    await run.aclose()


async def test_leaving_async_with_early_kills(box: Sandbox) -> None:
    async with box.exec("echo go; sleep 30") as run:
        async for item in run:
            assert isinstance(item, OutputChunk)
            break
    start = time.monotonic()
    await run.aclose()
    assert time.monotonic() - start < 1
    assert run.result is not None and run.result.killed_reason == "cancelled"


async def _stream(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_write_read_roundtrip_streamed(box: Sandbox) -> None:
    data = os.urandom(5 * 2**20 + 17)
    assert await box.write_file("data/blob.bin", _stream(data, 300_001)) == len(data)
    chunks = [c async for c in box.read_file("data/blob.bin")]
    assert len(chunks) > 1 and b"".join(chunks) == data
    await box.write_file("data/blob.bin", b"short")
    assert b"".join([c async for c in box.read_file("data/blob.bin")]) == b"short"
    done = await box.run("cat data/blob.bin")
    assert done.stdout == b"short"


async def test_list_files(box: Sandbox) -> None:
    await box.write_file("a.txt", b"hello")
    await box.write_file("d/b.json", b"{}")
    await box.run("mkdir -p d/e && printf 12345678 > d/e/c.png && ln -s a.txt link")
    top = {e.name: e for e in await box.list_files()}
    assert set(top) == {"a.txt", "d", "link"}
    assert top["a.txt"].type == "file" and top["a.txt"].size == 5
    assert top["a.txt"].mime_type == "text/plain" and top["d"].type == "directory"
    assert top["link"].type == "symlink"
    assert top["a.txt"].modified.tzinfo is not None
    deep = {e.path: e for e in await box.list_files(".", recursive=True)}
    assert set(deep) == {"a.txt", "d", "link", "d/b.json", "d/e", "d/e/c.png"}
    assert deep["d/e/c.png"].size == 8 and deep["d/e/c.png"].mime_type == "image/png"
    assert {e.path for e in await box.list_files("d")} == {"d/b.json", "d/e"}
    with pytest.raises(FileNotFoundInSandbox):
        await box.list_files("missing")


async def test_delete(box: Sandbox) -> None:
    await box.write_file("x/y/z.txt", b"1")
    await box.write_file("f.txt", b"1")
    await box.delete_file("f.txt")
    with pytest.raises(InvalidPath):
        await box.delete_file("x")
    await box.delete_file("x", recursive=True)
    assert await box.list_files() == []
    with pytest.raises(FileNotFoundInSandbox):
        await box.delete_file("f.txt")


async def test_read_errors(box: Sandbox) -> None:
    await box.write_file("dir/f", b"1")
    with pytest.raises(FileNotFoundInSandbox):
        [c async for c in box.read_file("nope.txt")]
    with pytest.raises(FileNotFoundInSandbox):
        [c async for c in box.read_file("dir")]
    with pytest.raises(FileNotFoundInSandbox):
        [c async for c in box.read_file("dir/f/g")]
    for bad in ("/etc/passwd", "../x", "dir/../../x"):
        with pytest.raises(PathOutsideWorkspace):
            [c async for c in box.read_file(bad)]
    for bad in ("", ".", "a\x00b"):
        with pytest.raises(InvalidPath):
            await box.write_file(bad, b"x")


async def test_disk_usage_and_write_quota(boxes: Boxes) -> None:
    box = await boxes.new(Limits(wall_seconds=20, disk_bytes=2 * 2**20))
    base = await box.disk_usage()
    await box.write_file("one.bin", os.urandom(2**20))
    assert await box.disk_usage() >= base + 2**20
    with pytest.raises(QuotaExceeded):
        await box.write_file("two.bin", os.urandom(2 * 2**20))
    assert {e.name for e in await box.list_files()} == {"one.bin"}  # no partial file left
    await box.write_file("one.bin", os.urandom(2**20 + 1000))  # replacing counts the old size


async def test_snapshot_and_copy_from(boxes: Boxes, backend: SandboxBackend) -> None:
    source = await boxes.new()
    await source.write_file("src/main.py", b"print('hi')\n")
    await source.run("chmod +x src/main.py && mkdir empty && ln -s src/main.py entry")
    copy = await source.snapshot(source.id + "-snap")
    boxes.made.append(copy)
    assert (await copy.run("python3 entry; test -x src/main.py && test -d empty")).stdout == b"hi\n"
    await copy.write_file("src/main.py", b"print('changed')\n")
    assert (await source.run("python3 src/main.py")).stdout == b"hi\n"
    other = await boxes.new()
    await other.write_file("old.txt", b"gone soon")
    await other.copy_from(copy)
    assert {e.name for e in await other.list_files()} == {"src", "empty", "entry"}


async def test_lifecycle(backend: SandboxBackend) -> None:
    box = await backend.create("life-" + os.urandom(4).hex(), FAST)
    with pytest.raises(SandboxExists):
        await backend.create(box.id)
    again = await backend.get(box.id)
    assert again.limits == FAST and again.network == box.network
    await box.destroy()
    await box.destroy()  # idempotent
    with pytest.raises(SandboxNotFound):
        await backend.get(box.id)
    for bad in ("", "../x", "a/b", "x" * 200):
        with pytest.raises(InvalidArgument):
            await backend.create(bad)


async def test_runtimes_available(box: Sandbox) -> None:
    done = await box.run(
        "python3 -c 'import numpy, pandas, scipy, matplotlib; print(numpy.arange(3).sum())' "
        "&& node -e 'console.log(1 + 1)' && bash -c 'echo $((2 * 3))'"
    )
    assert done.stdout == b"3\n2\n6\n", done.stderr
