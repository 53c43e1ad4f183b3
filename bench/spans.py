"""The tracing cost of one synchronous interaction in a loop, without the server around
it: the request's server span (which the run borrows), the ``chat`` span, the trace
context stored with the run, and the export of both spans over OTLP/HTTP to a local
collector process (the one ``bench/observe.py`` uses).

Prints, per call and per span: the CPU of the request path (the loop's own thread) and
of the whole process once every span is exported (the export thread included).
``--baseline-src DIR`` runs the same loop with another checkout's ``src`` first, for a
before/after in one run.

    .venv/bin/python bench/spans.py [--calls 10000] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from observe import COLLECTOR_CODE, _child
from overhead import Processes

SPANS_PER_CALL = 2


def loop(calls: int) -> dict[str, float]:
    """The span work of ``calls`` synchronous calls, as the middleware and runner do it."""
    from opentelemetry.trace import SpanKind

    from junction.observe import genai_spans
    from junction.observe.tracing import open_tracing
    from junction.providers.base import Usage

    tracing = open_tracing(True)
    assert tracing is not None
    usage = Usage(input_tokens=12, output_tokens=3)
    messages = [{"role": "user", "content": "hello"}]
    process, thread = time.process_time(), time.thread_time()
    for n in range(calls):
        span = tracing.start(
            "POST",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "POST", "url.path": "/v1beta/interactions"},
        )
        token = tracing.activate(span)
        run, run_token, borrowed = genai_spans.run_span(
            tracing,
            interaction_id=f"v1_{n}",
            agent=None,
            background=False,
            attempts=1,
            trace_context=None,
            model="fake-model",
            provider_kind="openai",
            provider_name="openai",
        )
        tracing.inject()
        chat = genai_spans.model_span(
            tracing,
            provider_kind="openai",
            provider_name="openai",
            model="fake-model",
            system_instruction=None,
            messages=messages,
        )
        genai_spans.end_model_span(tracing, chat, usage, "stop", None)
        genai_spans.end_run_span(
            tracing,
            run,
            run_token,
            borrowed,
            status="completed",
            errors=None,
            input_tokens=12,
            output_tokens=3,
        )
        span.update_name("POST /{version}/interactions")
        span.set_attributes(
            {
                "http.route": "/{version}/interactions",
                "http.response.status_code": 200,
                "junction.interaction.id": f"v1_{n}",
            }
        )
        span.end()
        tracing.leave(token)
    request_path = time.thread_time() - thread
    tracing.shutdown()  # exports what is queued
    total = time.process_time() - process
    return {
        "request_path_us_per_call": request_path / calls * 1e6,
        "total_us_per_call": total / calls * 1e6,
    }


def measure(calls: int, collector_port: int, src: str | None) -> dict[str, float]:
    env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector_port}")
    if src:
        env["PYTHONPATH"] = src
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import spans; "
        f"import json; print(json.dumps(spans.loop({calls})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--baseline-src", help="a checkout's src, measured first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="junction-spans-bench-") as tmp:
        procs = Processes(Path(tmp))
        try:
            _, port = _child(procs, "collector", COLLECTOR_CODE, dict(os.environ))
            runs = [("this checkout", None)]
            if args.baseline_src:
                runs.insert(0, ("baseline", args.baseline_src))
            print(
                f"{'code':<16}{'request path µs/call':>22}{'with export µs/call':>22}"
                f"{'µs/span':>10}"
            )
            for name, src in runs:
                r = measure(args.calls, port, src)
                per_span = r["total_us_per_call"] / SPANS_PER_CALL
                print(
                    f"{name:<16}{r['request_path_us_per_call']:>22.1f}"
                    f"{r['total_us_per_call']:>22.1f}{per_span:>10.1f}"
                )
        finally:
            procs.stop_all()


if __name__ == "__main__":
    main()
