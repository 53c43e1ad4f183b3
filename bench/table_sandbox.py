"""bench/table.py's sandbox rows: start to first output of ``python3 -c 'print(1)'`` run
bare (an asyncio subprocess), in a warm sandbox (its pre-started interpreter ready, as
between an agent's steps) and in a cold one (warm execution off), interleaved round by
round; at concurrency 16, sixteen environments (or processes) run one command each at
once, round after round."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from junction.sandbox import Sandbox, SandboxBackend, SandboxSettings, create_backend
from sandbox import COMMAND, first_output_bare, first_output_sandboxed

BARE = "python3 (bare)"


def _row(c1: list[float], c16: list[float], c16_seconds: float) -> dict[str, float]:
    from overhead import pct

    ms1, ms16 = [x * 1000 for x in c1], [x * 1000 for x in c16]
    return {
        "c1_p50": pct(ms1, 0.5), "c1_p99": pct(ms1, 0.99), "c1_rps": len(c1) / sum(c1),
        "c16_p50": pct(ms16, 0.5), "c16_p99": pct(ms16, 0.99),
        "c16_rps": len(c16) / c16_seconds,
    }  # fmt: skip


async def _one(
    name: str, backend: SandboxBackend | None, box: Sandbox | None, scratch: str
) -> float:
    if box is None:
        return await first_output_bare(COMMAND, scratch)
    pool = getattr(backend, "warm", None)
    if pool is not None:
        await pool.wait_ready(box.id)  # not timed: the think time between an agent's steps
    return await first_output_sandboxed(box, COMMAND)


async def sandbox_rows(runs: int, tmp: Path) -> dict[str, Any]:
    root = tmp / "sandbox"
    root.mkdir()
    for each in (tmp, root):
        each.chmod(0o711)  # bwrap runs as the sandbox user when this runs as root
    scratch = tempfile.mkdtemp(prefix="junction-bench-bare-")
    try:
        backends = {
            "sandbox, warm": create_backend(
                "bubblewrap", SandboxSettings(root_dir=root / "warm", cgroups=False)
            ),
            "sandbox, cold": create_backend(
                "bubblewrap", SandboxSettings(root_dir=root / "cold", cgroups=False, warm=False)
            ),
        }
    except Exception as exc:  # no bubblewrap here: the rows say so
        print(f"[sandbox] unavailable ({exc}): sandbox rows left out")
        return {}
    print(f"[sandbox] concurrency 1: {runs} commands per row, then 16 at once...", flush=True)
    names = [BARE, *backends]
    boxes: dict[str, list[Sandbox | None]] = {BARE: [None] * 16}
    c1: dict[str, list[float]] = {n: [] for n in names}
    c16: dict[str, list[float]] = {n: [] for n in names}
    c16_took: dict[str, float] = dict.fromkeys(names, 0.0)
    try:
        for name, backend in backends.items():
            boxes[name] = [await backend.create(f"bench-{i}") for i in range(16)]
        for i in range(runs + 3):  # 3 warm-up rounds
            for name in names[i % 3 :] + names[: i % 3]:
                took = await _one(name, backends.get(name), boxes[name][0], scratch)
                if i >= 3:
                    c1[name].append(took)
        for i in range(max(3, runs // 10)):
            for name in names[i % 3 :] + names[: i % 3]:
                backend = backends.get(name)
                pool = getattr(backend, "warm", None)
                if pool is not None:  # all sixteen ready, then all at once
                    await asyncio.gather(*(pool.wait_ready(b.id) for b in boxes[name] if b))
                start = time.perf_counter()
                c16[name] += await asyncio.gather(
                    *(_one(name, None, box, scratch) for box in boxes[name])
                )
                c16_took[name] += time.perf_counter() - start
    finally:
        for name, backend in backends.items():
            for box in boxes.get(name, []):
                if box is not None:
                    await box.destroy()
            await backend.aclose()
        shutil.rmtree(scratch, ignore_errors=True)
    rows = {name: _row(c1[name], c16[name], c16_took[name]) for name in names}
    for name in backends:
        for c in ("c1", "c16"):
            rows[name][f"{c}_added_p50"] = rows[name][f"{c}_p50"] - rows[BARE][f"{c}_p50"]
            rows[name][f"{c}_added_p99"] = rows[name][f"{c}_p99"] - rows[BARE][f"{c}_p99"]
    return rows
