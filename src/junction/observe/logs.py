"""Log lines: text (default) or one JSON object per line (``log_format = "json"``), each
carrying the interaction id and, when tracing is on, the trace and span ids. Every line
is scrubbed of secrets: the configured keys and tokens by value, and anything shaped like
a bearer token, an API key header or a provider key by pattern."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from junction import jsonutil
from junction.config import Settings

#: the interaction the current task works on (set by runs; read by every log line)
INTERACTION: ContextVar[str | None] = ContextVar("junction_interaction", default=None)

REDACTED = "[redacted]"
_PATTERNS = [
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:x-goog-api-key|x-api-key|api[_-]?key|authorization|access[_-]?token|"
        r"secret|password)[\"']?\s*[:=]\s*[\"']?)(?!bearer\s)[^\s\"',;}&]{6,}"
    ),
    re.compile(r"()\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"()\bAIza[0-9A-Za-z_-]{20,}"),
]
#: a word every match of a pattern above holds (the same engine and case rules): a line
#: without one, like every access log line, skips the patterns' much slower scans. (An
#: access token's match holds "token": "access" would be found in every access log line,
#: whose logger is ``junction.access``.)
_MAYBE = re.compile(r"(?i)bearer|api|authorization|token|secret|password|sk-|aiza")
#: the same words for an ASCII line, found with ``in`` on its lower case: about 1 µs where
#: the case-insensitive alternation takes 14 (re's case folding of non-ASCII letters,
#: e.g. "ſ" for "s", differs from ``str.lower``, so other lines keep the regex)
_WORDS = ("bearer", "api", "authorization", "token", "secret", "password", "sk-", "aiza")


def _maybe_secret(text: str) -> bool:
    if text.isascii():
        lower = text.lower()
        for word in _WORDS:
            if word in lower:
                return True
        return False
    return _MAYBE.search(text) is not None


def secrets_of(settings: Settings) -> list[str]:
    """The secret values a Junction process knows of (none of them may be logged)."""
    values = [settings.api_key, settings.secret_key, settings.metrics_token]
    values += [p.api_key for p in settings.providers.values()]
    values.append(settings.search.get("api_key"))
    return [v for v in values if isinstance(v, str) and len(v) >= 4]


class Redactor:
    def __init__(self, known: Iterable[str] = ()) -> None:
        self.known = sorted(set(known), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.known:
            if value in text:
                text = text.replace(value, REDACTED)
        if _maybe_secret(text):
            for pattern in _PATTERNS:
                text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text


def _context(record: logging.LogRecord) -> dict[str, str]:
    out: dict[str, str] = {}
    interaction = getattr(record, "interaction_id", None) or INTERACTION.get()
    if interaction and interaction != "-":
        out["interaction_id"] = str(interaction)
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        out["trace_id"] = format(span.trace_id, "032x")
        out["span_id"] = format(span.span_id, "016x")
    return out


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact
        self._second, self._stamp = -1, ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The default format, its seconds part formatted once per second."""
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"  # default_msec_format

    def format(self, record: logging.LogRecord) -> str:
        # redacted before the context is added: the ids hold no secrets, and every
        # character more is scanned by each pattern
        line = self.redact(super().format(record))
        context = _context(record)
        if context:
            line += " " + " ".join(f"{k}={v}" for k, v in context.items())
        return line


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.redact(record.getMessage()),
            **_context(record),
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        return jsonutil.dumps(entry)


def configure_logging(settings: Settings, level: int = logging.INFO) -> logging.Handler:
    """Install one stderr handler on the root logger with the configured format."""
    redact = Redactor(secrets_of(settings))
    formatter: logging.Formatter = (
        JsonFormatter(redact) if settings.log_format == "json" else TextFormatter(redact)
    )
    # Neither format shows the caller's file and line, the thread or the process name:
    # not looking them up saves about 10 µs per line (the logging HOWTO's "Optimization")
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
