"""Log lines: JSON when configured, with the interaction and trace ids; secrets scrubbed
by value (configured keys) and by shape (bearer tokens, key headers, provider keys)."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from junction.config import load_settings
from junction.observe import logs as logs_module
from junction.observe.logs import INTERACTION, JsonFormatter, Redactor, TextFormatter, secrets_of


def _logger(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("junction.test-logs")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_configured_secrets_and_secret_shapes_are_never_written() -> None:
    settings = load_settings(
        env={
            "JUNCTION_API_KEY": "jk-configured-api-key-123",
            "ANTHROPIC_API_KEY": "anthropic-secret-value-9",
            "JUNCTION_METRICS_TOKEN": "metrics-token-abcdef",
            "JUNCTION_SECRET_KEY": "fernet-secret-key-000",
        }
    )
    known = secrets_of(settings)
    assert "jk-configured-api-key-123" in known and "anthropic-secret-value-9" in known
    logger, out = _logger(JsonFormatter(Redactor(known)))
    logger.info("calling with %s", "jk-configured-api-key-123")
    logger.info("upstream said: Authorization: Bearer abcdefghijklmnop1234")
    logger.info('headers {"x-goog-api-key": "AIzaSyA1234567890abcdefghijklmno"}')
    logger.info("key sk-proj-0123456789abcdef leaked; token=metrics-token-abcdef")
    try:
        raise ValueError("anthropic-secret-value-9 in an exception")
    except ValueError:
        logger.exception("failed")
    text = out.getvalue()
    for secret in (
        "jk-configured-api-key-123",
        "abcdefghijklmnop1234",
        "AIzaSyA1234567890abcdefghijklmno",
        "sk-proj-0123456789abcdef",
        "metrics-token-abcdef",
        "anthropic-secret-value-9",
    ):
        assert secret not in text
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert entries[1]["message"] == "upstream said: Authorization: Bearer [redacted]"
    assert entries[0]["message"] == "calling with [redacted]"
    assert "[redacted]" in entries[-1]["exception"]
    # ordinary text is left alone
    logger.info("interaction v1_abc completed in 12 ms (200 tokens)")
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["message"] == "interaction v1_abc completed in 12 ms (200 tokens)"


def test_lines_carry_the_interaction_and_trace_ids() -> None:
    logger, out = _logger(JsonFormatter(Redactor()))
    tracer = TracerProvider().get_tracer("test")
    token = INTERACTION.set("v1_interaction")
    try:
        with tracer.start_as_current_span("work") as span:
            logger.info("inside")
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        INTERACTION.reset(token)
    logger.info("outside")
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside["interaction_id"] == "v1_interaction"
    assert inside["trace_id"] == trace_id and len(inside["span_id"]) == 16
    assert inside["level"] == "info" and inside["logger"] == "junction.test-logs"
    assert "interaction_id" not in outside and "trace_id" not in outside

    text_logger, text_out = _logger(TextFormatter(Redactor()))
    text_logger.info("done", extra={"interaction_id": "v1_x"})
    assert text_out.getvalue().rstrip().endswith("done interaction_id=v1_x")


def test_every_secret_shape_is_redacted_whatever_its_case() -> None:
    """Lines skip the patterns when none of their words is present: every shape, in any
    letter case, must still be caught (the same result as running every pattern)."""
    redact = Redactor()
    shapes = [
        "BEARER abcdefgh12345",
        "bearer abcdefgh12345",
        "X-Goog-Api-Key: abcdef123456",
        "x-API-key=abcdef123456",
        "ApiKey='abcdef123456'",
        "API_KEY: abcdef123456",
        "Authorization=abcdef123456",
        "ACCESS-TOKEN: abcdef123456",
        "accesstoken=abcdef123456",
        "Secret: abcdef123456",
        "PASSWORD='abcdef123456'",
        "key sk-abcdefgh12345",
        "key AIzaabcdefghijklmnopqrstuvw",
    ]
    for shape in shapes:
        line = f"POST /v1beta/interactions 200 {shape} done"
        out = redact(line)
        assert "abcdef" not in out and "[redacted]" in out, out
    plain = "POST /v1beta/interactions 200 1.2ms interaction=v1_abcdefghijklmnop"
    assert redact(plain) == plain


def test_access_log_lines_skip_the_pattern_scans_and_keep_their_redaction() -> None:
    """The quick scan's words are not in every access log line (its logger's name
    holds "access"): such a line skips the patterns; a secret in one is still caught."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(TextFormatter(Redactor()))
    access = logging.getLogger("junction.access")
    access.addHandler(handler)
    try:
        access.warning("POST /v1beta/interactions 200 1.2ms interaction=v1_abc")
        access.warning("GET /v1beta/x/access_token=abcdef123456 404 0.3ms interaction=-")
    finally:
        access.removeHandler(handler)
    plain, secret = out.getvalue().splitlines()
    assert logs_module._MAYBE.search(plain) is None
    assert plain.endswith("junction.access: POST /v1beta/interactions 200 1.2ms interaction=v1_abc")
    assert "abcdef123456" not in secret and "access_token=[redacted]" in secret


def test_the_quick_word_check_agrees_with_the_case_insensitive_scan() -> None:
    """ASCII lines are checked with ``in`` on their lower case; any other line keeps the
    regex, whose case folding differs (U+017F, long s, matches "s"; U+212A, Kelvin, "k")."""
    lines = [
        "POST /v1beta/interactions 200 1.2ms interaction=v1_abc",
        "GET /v1beta/agents/x 404 0.3ms interaction=-",
        "the Bearer of news",
        "Password reset",
        "APIs and TOKENS",
        "key SK-abc",
        "AIZA is a prefix",
        "\u017fecret: abcdef123456",
        "S\u212aY: nothing",
        "caf\u00e9 au lait",
    ]
    for line in lines:
        assert logs_module._maybe_secret(line) == bool(logs_module._MAYBE.search(line)), line
    assert Redactor()("\u017fecret: abcdef123456").endswith("[redacted]")
