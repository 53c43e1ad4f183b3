"""The ``code_execution`` tool: the model's code runs in the interaction's environment.

The environment is the one the interaction names, or one created on demand (no network)
and then reported as the interaction's ``environment_id``. Output streams as
``code_execution_result`` deltas while the code runs; the result step carries the
combined output (what the model sees), ``stdout``, ``stderr``, ``exit_code`` and the
files the code created or changed. Cancelling the run kills the whole process tree.
"""

from __future__ import annotations

from typing import Any

from junction.observe.tracing import CURRENT
from junction.sandbox.types import ExecResult
from junction.tools.base import ServerTool, ToolContext, ToolResult, register_tool

MAX_RESULT_CHARS = 20_000
LANGUAGES = {"python": ["python3", "-c"], "bash": ["bash", "-c"]}


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "[…truncated…]\n" + text[-limit:]


@register_tool("code_execution")
class CodeExecutionTool(ServerTool):
    def functions(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "name": "code_execution",
                "description": (
                    "Run Python 3 or bash code in your Linux workspace (the current directory, "
                    "persistent for this task) and get stdout, stderr and the exit status. "
                    "Use it to compute, run shell commands, and read, write or edit files."
                ),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string", "description": "the program to run"},
                        "language": {
                            "type": "string",
                            "enum": ["python", "bash"],
                            "description": "python (default) or bash",
                        },
                    },
                    "required": ["code"],
                },
            }
        ]

    def call_step(self, call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        args = dict(arguments)
        if args:
            args.setdefault("language", "python")
        return {"type": "code_execution_call", "id": call_id, "arguments": args}

    async def run(self, call: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = call.get("arguments") or {}
        code, language = args.get("code"), str(args.get("language") or "python").lower()
        if not isinstance(code, str) or not code.strip():
            return ToolResult("no code was given", is_error=True)
        if language not in LANGUAGES:
            return ToolResult(f"unknown language '{language}': use python or bash", True)
        environments = self.services.get("environments")
        if ctx.environment_id is None:
            created = await environments.create(ctx.project_id, {"network": "disabled"})
            ctx.environment_id = created["id"]
        box = await environments.sandbox(ctx.project_id, ctx.environment_id)
        before = {f.path: f.modified for f in await box.list_files(".", recursive=True)}
        out: list[bytes] = []
        err: list[bytes] = []
        result: ExecResult | None = None
        tracing = CURRENT.get()
        span = (
            tracing.start(
                "sandbox.exec",
                attributes={
                    "junction.environment.id": ctx.environment_id,
                    "junction.sandbox.language": language,
                },
            )
            if tracing is not None
            else None
        )
        try:
            async with box.exec([*LANGUAGES[language], code]) as execution:
                async for item in execution:
                    if isinstance(item, ExecResult):
                        result = item
                        continue
                    (out if item.stream == "stdout" else err).append(item.data)
                    if ctx.emit is not None:
                        ctx.emit(
                            {
                                "type": "code_execution_result",
                                "result": item.data.decode("utf-8", "replace"),
                            }
                        )
        finally:
            if span is not None and tracing is not None:
                if result is not None:
                    span.set_attribute("process.exit.code", result.exit_code)
                    span.set_attribute("junction.sandbox.wall_seconds", result.wall_seconds)
                span.end()
        assert result is not None
        stdout = b"".join(out).decode("utf-8", "replace")
        stderr = b"".join(err).decode("utf-8", "replace")
        after = await box.list_files(".", recursive=True)
        files = [
            {
                "path": f.path,
                "size_bytes": str(f.size),
                "mime_type": f.mime_type or "application/octet-stream",
            }
            for f in after
            if f.type == "file" and before.get(f.path) != f.modified
        ]
        summary = stdout + (f"\n[stderr]\n{stderr}" if stderr else "")
        failed = result.exit_code != 0 or result.timed_out or result.killed_reason is not None
        if result.timed_out:
            summary += f"\n[timed out after {result.wall_seconds:.0f} s]"
        elif result.killed_reason:
            summary += f"\n[killed: {result.killed_reason}]"
        elif result.exit_code != 0:
            summary += f"\n[exit status {result.exit_code}]"
        if files:
            summary += "\n[files written: " + ", ".join(f["path"] for f in files[:50]) + "]"
        extra: dict[str, Any] = {
            "exit_code": result.exit_code,
            "stdout": _tail(stdout, MAX_RESULT_CHARS),
            "stderr": _tail(stderr, MAX_RESULT_CHARS),
            "files": files,
        }
        if result.truncated:
            extra["truncated"] = True
        return ToolResult(
            _tail(summary, MAX_RESULT_CHARS) or "(no output)",
            failed,
            extra,
            sandbox_seconds=result.wall_seconds,
        )
