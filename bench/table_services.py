"""The processes behind bench/table.py's HTTP rows: the fake OpenAI-compatible provider,
``junction serve`` (and optionally another build's), and LiteLLM's proxy when its
``litellm`` command is installed — every one in front of the same fake."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import orjson

from overhead import BIN, KEY, NO_LIMITS, Processes, Target, _healthy, start_fake

ROOT = Path(__file__).resolve().parent.parent
JSON = {"Content-Type": "application/json"}
CHAT = orjson.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "hello"}]})
LITELLM_CONFIG = """model_list:
  - model_name: fake-model
    litellm_params:
      model: openai/fake-model
      api_base: {api_base}
      api_key: x
litellm_settings:
  telemetry: false
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(
    procs: Processes, name: str, proc: subprocess.Popen[bytes], url: str, limit: float
) -> None:
    deadline = time.monotonic() + limit
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start:\n{procs.log_tail(name)}")
        time.sleep(0.1)


def start_junction(procs: Processes, name: str, command: str, fake_url: str) -> Target:
    port = _port()
    cmd = [command, "serve", "--port", str(port), "--data-dir", str(procs.tmp / name)]
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", JUNCTION_API_KEY=KEY, OPENAI_API_KEY="x",
        OPENAI_BASE_URL=fake_url, **NO_LIMITS,
    )  # fmt: skip
    proc = procs.spawn(name, cmd, env, stdout=subprocess.DEVNULL)
    _wait(procs, name, proc, f"http://127.0.0.1:{port}/healthz", 60)
    body = orjson.dumps({"model": "openai/fake-model", "input": "hello"})
    url = f"http://127.0.0.1:{port}/v1beta/interactions"
    return Target(name, url, body, {**JSON, "x-goog-api-key": KEY}, proc.pid)


def litellm_command() -> str | None:
    """``litellm`` from `make bench-deps` (.venv-bench), this virtualenv, or the PATH."""
    for found in (ROOT / ".venv-bench" / "bin" / "litellm", BIN / "litellm"):
        if found.exists():
            return str(found)
    return shutil.which("litellm")


def start_litellm(procs: Processes, command: str, fake_url: str) -> Target:
    """LiteLLM's proxy: one process, no database, a master key (it refuses to start
    without one; Junction checks its API key too), logging at its minimum."""
    config = procs.tmp / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(api_base=fake_url))
    port = _port()
    cmd = [command, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False",
        DISABLE_ADMIN_UI="True", NO_DOCS="True", LITELLM_MASTER_KEY=f"sk-{KEY}",
    )  # fmt: skip
    env.pop("DATABASE_URL", None)
    proc = procs.spawn("litellm", cmd, env, stdout=subprocess.DEVNULL)
    _wait(procs, "litellm", proc, f"http://127.0.0.1:{port}/health/liveliness", 120)
    url = f"http://127.0.0.1:{port}/chat/completions"
    return Target(
        "litellm proxy", url, CHAT, {**JSON, "Authorization": f"Bearer sk-{KEY}"}, proc.pid
    )


def litellm_version(command: str) -> str:
    python = Path(command).parent / "python"
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    try:
        return subprocess.run(
            [str(python), "-c", code], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def start_targets(procs: Processes, args: argparse.Namespace) -> tuple[list[Target], str | None]:
    """Direct first (the baseline of every "added" column), then each proxy; and the
    LiteLLM version when its row is there."""
    fake_url, fake_pid = start_fake(procs)
    targets = [Target("direct", f"{fake_url}/chat/completions", CHAT, JSON, fake_pid)]
    targets.append(start_junction(procs, "junction", str(BIN / "junction"), fake_url))
    if args.baseline_junction:
        base = str(Path(args.baseline_junction).expanduser())
        targets.append(start_junction(procs, "junction (baseline)", base, fake_url))
    command = None if args.no_litellm else litellm_command()
    if command is not None:
        print("[http] starting LiteLLM's proxy...", flush=True)
        targets.append(start_litellm(procs, command, fake_url))
        return targets, litellm_version(command)
    print("[http] LiteLLM not installed (make bench-deps): its row is left out")
    return targets, None
