"""Charts of the research agent (``visualization: "auto"``).

The agent draws charts with ``code_execution`` in its environment and saves them as PNG
files. When it has written its answer, the PNG files that this run's code wrote are read
back from the workspace and attached as ``image`` items of one more ``model_output``
step after the report (streamed like any generated image: ``step.start``, one ``image``
delta each, ``step.stop``). Only real PNG files count (checked by their signature); at
most :data:`MAX_CHARTS` of at most :data:`MAX_CHART_BYTES` each, the latest first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pybase64

from junction.errors import ApiError, BadRequest, Unavailable
from junction.sandbox.errors import SandboxError

if TYPE_CHECKING:
    from junction.runtime.assembler import StepAssembler
    from junction.runtime.environments import EnvironmentService
    from junction.runtime.runner import Run

log = logging.getLogger("junction.agents.charts")
MAX_CHARTS = 8
MAX_CHART_BYTES = 5 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Finalize = Callable[["Run", "StepAssembler"], Awaitable[None]]


def chart_paths(steps: list[dict[str, Any]]) -> list[str]:
    """PNG files the run's code wrote, in the order last written, at most MAX_CHARTS."""
    order: dict[str, None] = {}
    for step in steps:
        if step.get("type") != "code_execution_result":
            continue
        for entry in step.get("files") or []:
            path = str(entry.get("path") or "")
            if path.lower().endswith(".png"):
                order.pop(path, None)
                order[path] = None
    return list(order)[-MAX_CHARTS:]


async def _read_png(box: Any, path: str) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in box.read_file(path):
        size += len(chunk)
        if size > MAX_CHART_BYTES:
            log.info("chart %s is over %d bytes: not attached", path, MAX_CHART_BYTES)
            return None
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.startswith(PNG_SIGNATURE):
        log.info("chart %s is not a PNG file: not attached", path)
        return None
    return data


def chart_collector(environments: EnvironmentService) -> Finalize:
    """The run hook that attaches the run's charts to its answer."""

    async def attach(run: Run, assembler: StepAssembler) -> None:
        ctx = run.tool_context
        paths = chart_paths(run.journal.steps)
        if not paths or ctx.environment_id is None:
            return
        try:
            box = await environments.sandbox(ctx.project_id, ctx.environment_id, touch=False)
        except ApiError as exc:
            log.info("charts of %s not attached: %s", run.record_id, exc.message)
            return
        journal = run.journal
        for path in paths:
            try:
                data = await _read_png(box, path)
            except SandboxError as exc:  # deleted or replaced since it was written
                log.info("chart %s not attached: %s", path, exc.message)
                continue
            if data is None:
                continue
            item: dict[str, Any] = {"type": "image", "mime_type": "image/png"}
            if run.media is not None and journal.store is not None:
                record = journal.record
                item["uri"] = await run.media.put(record.project_id, record.id, data, "image/png")
            else:
                item["data"] = pybase64.b64encode_as_string(data)
            assembler.feed_media(item)
        assembler.close()

    return attach


def charts_for(environments: EnvironmentService | None) -> Finalize:
    """The chart hook of a run with ``visualization: "auto"``; 400 when no sandbox can
    run here (the charts are drawn in one)."""
    reason = "this process has no environments"
    if environments is not None:
        try:
            environments.backend()
            return chart_collector(environments)
        except Unavailable as exc:
            reason = exc.message
    raise BadRequest(
        "agent_config.visualization 'auto' draws charts with code_execution in a sandbox, "
        f"and {reason[0].lower() + reason[1:]}: set visualization to 'off'"
    )
