"""A bubblewrap start that fails or is cancelled before Junction has read which process
is the sandbox's child (bwrap's ``--info-fd``) leaves nothing behind and runs nothing:
the child is found and killed, and it is never released to run the command. Killing
only the bwrap monitor left the child running under init when the monitor died before
the child had armed ``--die-with-parent`` (bubblewrap issue 633), and releasing it let
the command run there."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import pytest

from junction.sandbox.bwrap_exec import BwrapExecution
from junction.sandbox.local import LocalSandbox
from tests.sandbox.conftest import Boxes


class StartFailed(Exception):
    pass


def processes_naming(token: str) -> list[str]:
    """Live processes whose command line holds ``token`` (a bwrap monitor or child of
    ours, wherever it was reparented: the `secure` fixture only sees descendants)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token in cmd and state != "Z" and int(pid) != os.getpid():
            found.append(f"{pid}: {cmd[:60]}…")
    return found


async def none_naming(token: str) -> None:
    for _ in range(40):
        if not processes_naming(token):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"sandbox processes outlived their start: {processes_naming(token)}")


async def test_a_start_failing_before_the_child_is_known_leaves_nothing(
    secure: Boxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = await secure.new()
    assert isinstance(box, LocalSandbox)
    marker = "ran-" + secrets.token_hex(4)

    async def fails(self: BwrapExecution) -> None:
        await asyncio.sleep(0)
        raise StartFailed("cancelled before bwrap named its child")

    monkeypatch.setattr(BwrapExecution, "_read_info", fails)
    for _ in range(8):
        with pytest.raises(StartFailed):
            await box.run(["sh", "-c", f"touch /workspace/{marker}"])
    monkeypatch.undo()
    await none_naming(marker)
    await asyncio.sleep(0.5)  # a released child would have run the command by now
    assert not (Path(box.workspace.root) / marker).exists()
    done = await box.run(["sh", "-c", "echo ok"])  # the sandbox still works
    assert done.exit_code == 0 and done.stdout == b"ok\n"
    # the `secure` fixture then checks that no sandbox process outlived its start


async def test_a_start_cancelled_at_any_moment_leaves_nothing(secure: Boxes) -> None:
    box = await secure.new()
    token = "start-" + secrets.token_hex(4)
    for delay in (0.0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032):
        task = asyncio.ensure_future(box.run(["sh", "-c", f"sleep 30; : {token}"]))
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await none_naming(token)
