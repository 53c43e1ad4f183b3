"""Typed settings, read once at the edge (CLI) from the environment and an optional
``junction.toml``, then passed explicitly to whatever needs them.

Precedence: command-line flag > environment variable > config file > default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from junction.observe.prices import DEFAULT_PRICES, Price, load_prices


@dataclass(frozen=True)
class ProviderConfig:
    """One named provider endpoint. ``kind`` names the wire dialect (a registered provider
    class); ``name`` is the prefix used in model ids (``name/model``)."""

    name: str
    kind: str
    base_url: str | None = None
    api_key: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook delivery (docs/webhooks.md). Delays: ``retry_base_seconds`` first, then
    doubling (±20 % jitter) up to ``retry_max_delay_seconds``, until ``retry_window_seconds``
    after the event; then the message is given up on."""

    retry_base_seconds: float = 5.0
    retry_max_delay_seconds: float = 3600.0
    retry_window_seconds: float = 86400.0
    #: consecutive given-up messages after which a webhook is disabled_due_to_failed_deliveries
    disable_after_failures: int = 20
    #: per attempt: connect + response headers + body
    timeout_seconds: float = 10.0
    #: the response body read at most (the rest is discarded)
    max_response_bytes: int = 4096
    #: destinations may be private/loopback/link-local addresses (or those in allow_networks)
    allow_private: bool = False
    allow_networks: tuple[str, ...] = ()
    #: plain http destinations are accepted
    allow_http: bool = False
    max_per_project: int = 100
    #: pending deliveries per webhook beyond which new events to it are dropped
    max_pending: int = 10_000
    #: deliveries sent at once per process
    concurrency: int = 64
    #: the `iss` claim of dynamic-webhook JWTs
    issuer: str = "junction"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./junction-data")
    database_url: str | None = None
    api_key: str | None = None
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    provider_max_attempts: int = 4
    provider_backoff_base: float = 0.5
    provider_backoff_max: float = 8.0
    provider_timeout: float = 600.0
    structured_output_retries: int = 1
    access_log: bool = True
    #: background runs this process executes at once (0: an API-only process)
    workers: int = 32
    #: a run's lease; renewed every third of it, taken over by others when it lapses
    lease_seconds: float = 15.0
    #: times a run may be started (a crash or a lost lease counts) before it fails
    max_attempts: int = 3
    #: a run ends ``incomplete`` after this many model calls or this much time
    max_model_calls: int = 100
    max_run_seconds: float = 3600.0
    #: context windows in tokens, per model id ([models."id"] context_window), and the
    #: default; older tool results are compacted when a call's input nears the window
    context_windows: Mapping[str, int] = field(default_factory=dict)
    default_context_window: int = 128_000
    compaction_threshold: float = 0.75
    #: tokens a project may use per UTC day, across all its runs (0: no budget)
    project_daily_tokens: int = 0
    #: the model agents use unless the request or the agent names one
    default_agent_model: str | None = "offline/echo"
    #: the sandbox backend for environments ("bubblewrap"; "unsafe-local" only with
    #: --unsafe-sandbox), idle time after which an environment expires, and the host
    #: directories a `repository` source may copy from
    sandbox_backend: str = "bubblewrap"
    #: per-exec cgroups (memory and pid totals) on top of the per-process rlimits;
    #: stricter, at about 5 ms more per command on cgroup v1 (docs/sandbox.md)
    sandbox_cgroups: bool = False
    environment_idle_seconds: float = 86400.0
    environment_source_dirs: tuple[str, ...] = ()
    #: Fernet key encrypting stored credentials (generated into data_dir for SQLite)
    secret_key: str | None = None
    #: url_context (and agents' web fetch) may reach private/loopback/link-local addresses
    url_fetch_allow_private: bool = False
    #: the web search backend: {"backend": "searxng"|"brave"|"tavily", "url", "api_key", …}
    search: Mapping[str, Any] = field(default_factory=dict)
    #: seconds of silence on an SSE stream before a keep-alive comment is sent
    sse_keepalive_seconds: float = 15.0
    #: prices per model (per million tokens) and their currency (docs/usage.md)
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    price_currency: str = "USD"
    #: money a project may spend per UTC day, in price_currency (0: no budget)
    project_daily_cost: float = 0.0
    #: /metrics needs this Bearer token; or metrics are served on their own port
    #: (0: none). With neither, /metrics answers 404 (docs/observability.md)
    metrics_token: str | None = None
    metrics_port: int = 0
    #: OpenTelemetry tracing (on when OTEL_* names an exporter endpoint, or
    #: JUNCTION_TRACING=1); message contents on spans only when trace_content is set
    tracing: bool = False
    trace_content: bool = False
    #: "text" (default) or "json" log lines
    log_format: str = "text"
    #: OAuth2 token refresh may reach private/loopback addresses (an intranet IdP)
    credentials_allow_private: bool = False
    #: egress proxy: connections one sandbox may hold open, seconds for a request head
    sandbox_egress_max_connections: int = 64
    sandbox_egress_head_timeout: float = 10.0
    #: an upload session unused this long is removed (its bytes too)
    upload_idle_seconds: float = 3600.0
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    #: HTTP limits (docs/configuration.md, "Limits"): request line + headers, seconds to
    #: receive them, seconds of silence while a body is read, idle keep-alive seconds,
    #: open connections (all, and per client address; 0: no cap), body bytes per request
    #: (JSON routes, file uploads)
    http_max_header_bytes: int = 16 * 1024
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0
    http_keepalive_timeout: float = 5.0
    http_max_connections: int = 1024
    http_max_connections_per_client: int = 128
    http_max_json_bytes: int = 20 * 1024 * 1024
    http_max_upload_bytes: int = 1024 * 1024 * 1024
    #: per-project quotas (0: no limit): background runs executing at once and waiting,
    #: active environments, and the workspace bytes those environments may hold together
    project_max_running_runs: int = 16
    #: synchronous and streaming runs of one project at once in one process
    project_max_foreground_runs: int = 64
    project_max_queued_runs: int = 1000
    project_max_environments: int = 100
    project_max_stored_bytes: int = 100 * 1024 * 1024 * 1024
    #: generated media (images, speech) a project's interactions may hold; at the cap a
    #: request for media output is a 429 (0: no limit)
    project_max_media_bytes: int = 10 * 1024 * 1024 * 1024
    #: requests per second per API key (a token bucket per process; 0: no limit) and burst
    key_requests_per_second: float = 200.0
    key_request_burst: int = 400
    #: fair-scheduling weights by project name (``[project_weights]``; default 1): a
    #: project of weight 2 gets twice the worker slots of a project of weight 1
    project_weights: Mapping[str, float] = field(default_factory=dict)
    #: triggers (docs/triggers.md): the scheduler runs in this process; most triggers a
    #: project may have; shortest interval a schedule may have; seconds between the
    #: scheduler's sweeps (ended/overdue executions); executions kept per trigger; what
    #: runs after downtime by default ("latest" or "none"); how late a time may fire
    #: under catch_up=none; a file holding the scheduler's time (tests only)
    trigger_scheduler: bool = True
    trigger_max_per_project: int = 100
    trigger_min_interval_seconds: float = 60.0
    trigger_poll_seconds: float = 1.0
    trigger_execution_retention: int = 1000
    trigger_catch_up: str = "latest"
    trigger_misfire_grace_seconds: float = 60.0
    trigger_clock_file: Path | None = None
    #: output modalities per model id ([models."id"] modalities), over the model table
    model_modalities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: where generated media is kept ("filesystem": <data_dir>/media)
    media_backend: str = "filesystem"
    #: custom voices a project may keep
    max_voices: int = 100
    #: samples drawn per decision question when the provider returns no log-probabilities
    decision_samples: int = 5
    #: interaction auth tokens: lifetime when the request names none, and the longest
    auth_token_default_seconds: float = 1800.0
    auth_token_max_seconds: float = 86400.0
    #: a synchronous model request still running after this long ends its HTTP hop with
    #: status requires_continuation (the run goes on); 0 turns this off
    continuation_after_seconds: float = 50.0
    #: a continuation token expires this long after it was issued (then purged); a run
    #: may be cut into at most this many continuation hops
    continuation_token_ttl_seconds: float = 3600.0
    continuation_max_hops: int = 1000
    #: deepest nesting accepted in a JSON request body, and in the JSON schemas inside
    #: one (function parameters, response_format schemas); deeper gets a 400
    max_json_depth: int = 64
    max_schema_depth: int = 32
    #: retention defaults per project, in days (0: keep forever), overridable per project
    #: with `junction projects set-retention` (docs/retention.md)
    retention_interactions_days: float = 0.0
    retention_events_days: float = 0.0
    retention_media_days: float = 0.0
    #: how often the purge job runs, rows deleted per statement, pause between batches
    retention_interval_seconds: float = 3600.0
    retention_batch_size: int = 200
    retention_pause_seconds: float = 0.05
    #: warm execution (docs/sandbox.md): a pre-started interpreter per environment, at
    #: most sandbox_warm_max of them, reaped after sandbox_warm_idle_seconds unused and
    #: while the host's MemAvailable is below sandbox_warm_min_available_mb
    sandbox_warm: bool = True
    sandbox_warm_max: int = 32
    sandbox_warm_idle_seconds: float = 300.0
    sandbox_warm_min_available_mb: int = 512
    #: image, audio and document input by uri (docs/interactions.md): bytes one item may have,
    #: items one request may name
    media_uri_max_bytes: int = 20 * 1024 * 1024
    media_uri_max_items: int = 16

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'junction.db').resolve()}"


def _env(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def builtin_providers(env: Mapping[str, str]) -> dict[str, ProviderConfig]:
    """The providers every server knows, configured from the conventional variables."""
    return {
        "offline": ProviderConfig(name="offline", kind="offline"),
        "openai": ProviderConfig(
            name="openai",
            kind="openai",
            base_url=_env(env, "OPENAI_BASE_URL") or "https://api.openai.com/v1",
            api_key=_env(env, "OPENAI_API_KEY"),
        ),
        "anthropic": ProviderConfig(
            name="anthropic",
            kind="anthropic",
            base_url=_env(env, "ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
            api_key=_env(env, "ANTHROPIC_API_KEY"),
        ),
        "gemini": ProviderConfig(
            name="gemini",
            kind="gemini",
            base_url=_env(env, "GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"),
            api_key=_env(env, "GEMINI_API_KEY", "GOOGLE_API_KEY"),
        ),
    }


def _flag(value: object) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _search_settings(env: Mapping[str, str], table: Mapping[str, Any]) -> dict[str, Any]:
    """``[search]`` from the config file, overridden by JUNCTION_SEARCH_* variables."""
    search = dict(table)
    for key in ("backend", "url", "api_key"):
        value = env.get(f"JUNCTION_SEARCH_{key.upper()}")
        if value:
            search[key] = value
    return search


def _webhook_settings(env: Mapping[str, str], table: Mapping[str, Any]) -> WebhookSettings:
    """``[webhooks]`` from the config file, overridden by JUNCTION_WEBHOOK_* variables."""
    base = WebhookSettings()

    def pick(key: str) -> Any:
        return env.get(f"JUNCTION_WEBHOOK_{key.upper()}", table.get(key, getattr(base, key)))

    networks = pick("allow_networks")
    return WebhookSettings(
        retry_base_seconds=float(pick("retry_base_seconds")),
        retry_max_delay_seconds=float(pick("retry_max_delay_seconds")),
        retry_window_seconds=float(pick("retry_window_seconds")),
        disable_after_failures=int(pick("disable_after_failures")),
        timeout_seconds=float(pick("timeout_seconds")),
        max_response_bytes=int(pick("max_response_bytes")),
        allow_private=_flag(pick("allow_private")),
        allow_networks=tuple(
            n.strip()
            for n in (networks.split(",") if isinstance(networks, str) else networks)
            if n.strip()
        ),
        allow_http=_flag(pick("allow_http")),
        max_per_project=int(pick("max_per_project")),
        max_pending=int(pick("max_pending")),
        concurrency=int(pick("concurrency")),
        issuer=str(pick("issuer")),
    )


def _tracing_enabled(env: Mapping[str, str]) -> bool:
    """Tracing is on when the standard OTEL_* variables ask for an exporter (or
    JUNCTION_TRACING=1 forces it), and off under OTEL_SDK_DISABLED=true."""
    if _flag(env.get("OTEL_SDK_DISABLED", "")):
        return False
    if env.get("JUNCTION_TRACING"):
        return _flag(env["JUNCTION_TRACING"])
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(
        exporter
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _hardening_settings(env: Mapping[str, str], server: Mapping[str, Any]) -> dict[str, Any]:
    """Input limits and retention (docs/security.md, docs/retention.md)."""
    kinds: dict[str, tuple[type, Any]] = {
        "max_json_depth": (int, 64),
        "max_schema_depth": (int, 32),
        "retention_interactions_days": (float, 0),
        "retention_events_days": (float, 0),
        "retention_media_days": (float, 0),
        "retention_interval_seconds": (float, 3600),
        "retention_batch_size": (int, 200),
        "retention_pause_seconds": (float, 0.05),
    }
    return {
        name: kind(env.get(f"JUNCTION_{name.upper()}", server.get(name, default)))
        for name, (kind, default) in kinds.items()
    }


def load_settings(
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``), a TOML file
    (``--config``, ``JUNCTION_CONFIG`` or ``./junction.toml`` when present) and overrides."""
    env = dict(os.environ if env is None else env)
    path = config_file or (Path(env["JUNCTION_CONFIG"]) if env.get("JUNCTION_CONFIG") else None)
    if path is None and Path("junction.toml").is_file():
        path = Path("junction.toml")
    data: dict[str, Any] = {}
    if path is not None:
        data = tomllib.loads(path.read_text())
    server = data.get("server", {})

    providers = builtin_providers(env)
    for name, spec in data.get("providers", {}).items():
        key = spec.get("api_key")
        if key is None and spec.get("api_key_env"):
            key = env.get(spec["api_key_env"])
        base = providers.get(name)
        providers[name] = ProviderConfig(
            name=name,
            kind=spec.get("type", base.kind if base else "openai"),
            base_url=spec.get("base_url", base.base_url if base else None),
            api_key=key if key is not None else (base.api_key if base else None),
            options={
                k: v
                for k, v in spec.items()
                if k not in {"type", "base_url", "api_key", "api_key_env"}
            },
        )

    values: dict[str, Any] = {
        "host": env.get("JUNCTION_HOST", server.get("host", "127.0.0.1")),
        "port": int(env.get("JUNCTION_PORT", server.get("port", 8080))),
        "data_dir": Path(env.get("JUNCTION_DATA_DIR", server.get("data_dir", "./junction-data"))),
        "database_url": env.get("JUNCTION_DATABASE_URL", server.get("database_url")),
        "api_key": env.get("JUNCTION_API_KEY") or server.get("api_key"),
        "providers": providers,
        "aliases": dict(data.get("aliases", {})),
        "provider_max_attempts": int(
            env.get("JUNCTION_PROVIDER_MAX_ATTEMPTS", server.get("provider_max_attempts", 4))
        ),
        "provider_backoff_base": float(
            env.get("JUNCTION_PROVIDER_BACKOFF", server.get("provider_backoff_base", 0.5))
        ),
        "workers": int(env.get("JUNCTION_WORKERS", server.get("workers", 32))),
        "lease_seconds": float(env.get("JUNCTION_LEASE_SECONDS", server.get("lease_seconds", 15))),
        "max_attempts": int(env.get("JUNCTION_MAX_ATTEMPTS", server.get("max_attempts", 3))),
        "max_model_calls": int(
            env.get("JUNCTION_MAX_MODEL_CALLS", server.get("max_model_calls", 100))
        ),
        "max_run_seconds": float(
            env.get("JUNCTION_MAX_RUN_SECONDS", server.get("max_run_seconds", 3600))
        ),
        "secret_key": env.get("JUNCTION_SECRET_KEY") or server.get("secret_key"),
        "context_windows": {
            name: int(spec["context_window"])
            for name, spec in data.get("models", {}).items()
            if isinstance(spec, dict) and "context_window" in spec
        },
        "default_context_window": int(
            env.get("JUNCTION_CONTEXT_WINDOW", server.get("default_context_window", 128_000))
        ),
        "project_daily_tokens": int(
            env.get("JUNCTION_PROJECT_DAILY_TOKENS", server.get("project_daily_tokens", 0))
        ),
        "default_agent_model": env.get("JUNCTION_AGENT_MODEL")
        or server.get("default_agent_model", "offline/echo"),
        "sandbox_backend": env.get("JUNCTION_SANDBOX_BACKEND")
        or server.get("sandbox_backend", "bubblewrap"),
        "sandbox_cgroups": _flag(
            env.get("JUNCTION_SANDBOX_CGROUPS", server.get("sandbox_cgroups", "0"))
        ),
        "environment_idle_seconds": float(
            env.get(
                "JUNCTION_ENVIRONMENT_IDLE_SECONDS", server.get("environment_idle_seconds", 86400)
            )
        ),
        "environment_source_dirs": tuple(
            d
            for d in (
                env.get("JUNCTION_ENVIRONMENT_SOURCE_DIRS")
                or ":".join(server.get("environment_source_dirs", []))
            ).split(":")
            if d
        ),
        "url_fetch_allow_private": _flag(
            env.get("JUNCTION_URL_FETCH_ALLOW_PRIVATE", server.get("url_fetch_allow_private", "0"))
        ),
        "search": _search_settings(env, data.get("search", {})),
        "sse_keepalive_seconds": float(
            env.get("JUNCTION_SSE_KEEPALIVE", server.get("sse_keepalive_seconds", 15))
        ),
        "auth_token_default_seconds": float(
            env.get(
                "JUNCTION_AUTH_TOKEN_DEFAULT_SECONDS",
                server.get("auth_token_default_seconds", 1800),
            )
        ),
        "auth_token_max_seconds": float(
            env.get("JUNCTION_AUTH_TOKEN_MAX_SECONDS", server.get("auth_token_max_seconds", 86400))
        ),
        "continuation_after_seconds": float(
            env.get(
                "JUNCTION_CONTINUATION_AFTER_SECONDS",
                server.get("continuation_after_seconds", 50),
            )
        ),
        "access_log": str(env.get("JUNCTION_ACCESS_LOG", server.get("access_log", "1"))).lower()
        not in {"0", "false", "no"},
        "prices": load_prices(data.get("prices", {}), env.get("JUNCTION_PRICES")),
        "price_currency": env.get("JUNCTION_PRICE_CURRENCY") or server.get("price_currency", "USD"),
        "project_daily_cost": float(
            env.get("JUNCTION_PROJECT_DAILY_COST", server.get("project_daily_cost", 0))
        ),
        "metrics_token": env.get("JUNCTION_METRICS_TOKEN") or server.get("metrics_token"),
        "metrics_port": int(env.get("JUNCTION_METRICS_PORT", server.get("metrics_port", 0))),
        "tracing": _tracing_enabled(env),
        "trace_content": _flag(
            env.get("JUNCTION_TRACE_CONTENT")
            or env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
            or server.get("trace_content", "0")
        ),
        "log_format": (env.get("JUNCTION_LOG_FORMAT") or server.get("log_format", "text")).lower(),
        "credentials_allow_private": _flag(
            env.get(
                "JUNCTION_CREDENTIALS_ALLOW_PRIVATE", server.get("credentials_allow_private", "0")
            )
        ),
        "sandbox_egress_max_connections": int(
            env.get(
                "JUNCTION_SANDBOX_EGRESS_MAX_CONNECTIONS",
                server.get("sandbox_egress_max_connections", 64),
            )
        ),
        "sandbox_egress_head_timeout": float(
            env.get(
                "JUNCTION_SANDBOX_EGRESS_HEAD_TIMEOUT",
                server.get("sandbox_egress_head_timeout", 10),
            )
        ),
        "upload_idle_seconds": float(
            env.get("JUNCTION_UPLOAD_IDLE_SECONDS", server.get("upload_idle_seconds", 3600))
        ),
        "webhooks": _webhook_settings(env, data.get("webhooks", {})),
        "model_modalities": {
            name: tuple(str(m) for m in spec["modalities"])
            for name, spec in data.get("models", {}).items()
            if isinstance(spec, dict) and isinstance(spec.get("modalities"), list)
        },
        "media_backend": env.get("JUNCTION_MEDIA_BACKEND")
        or server.get("media_backend", "filesystem"),
        "max_voices": int(env.get("JUNCTION_MAX_VOICES", server.get("max_voices", 100))),
        "decision_samples": int(
            env.get("JUNCTION_DECISION_SAMPLES", server.get("decision_samples", 5))
        ),
        **_hardening_settings(env, server),
    }
    values.update(_limit_settings(env, server))
    values["project_weights"] = _weights(data.get("project_weights", {}))
    values.update(_trigger_settings(env, server))
    values.update(_warm_settings(env, server))
    values["media_uri_max_bytes"] = int(
        env.get("JUNCTION_MEDIA_URI_MAX_BYTES", server.get("media_uri_max_bytes", 20 * 1024 * 1024))
    )
    values["media_uri_max_items"] = int(
        env.get("JUNCTION_MEDIA_URI_MAX_ITEMS", server.get("media_uri_max_items", 16))
    )
    values["continuation_token_ttl_seconds"] = float(
        env.get(
            "JUNCTION_CONTINUATION_TOKEN_TTL_SECONDS",
            server.get("continuation_token_ttl_seconds", 3600),
        )
    )
    values["continuation_max_hops"] = int(
        env.get("JUNCTION_CONTINUATION_MAX_HOPS", server.get("continuation_max_hops", 1000))
    )
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return Settings(**values)


#: limits and quotas: each is read from ``JUNCTION_<NAME>`` or ``[server] <name>``
_LIMITS = (
    "http_max_header_bytes",
    "http_header_timeout",
    "http_body_timeout",
    "http_keepalive_timeout",
    "http_max_connections",
    "http_max_connections_per_client",
    "http_max_json_bytes",
    "http_max_upload_bytes",
    "project_max_running_runs",
    "project_max_foreground_runs",
    "project_max_queued_runs",
    "project_max_environments",
    "project_max_stored_bytes",
    "project_max_media_bytes",
    "key_requests_per_second",
    "key_request_burst",
)


def _weights(table: Mapping[str, Any]) -> dict[str, float]:
    weights = {}
    for name, weight in table.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            raise ValueError(f"[project_weights] {name} must be a positive number, not {weight!r}")
        weights[str(name)] = float(weight)
    return weights


def _limit_settings(env: Mapping[str, str], server: Mapping[str, Any]) -> dict[str, Any]:
    defaults = Settings()
    out: dict[str, Any] = {}
    for name in _LIMITS:
        default = getattr(defaults, name)
        raw = env.get(f"JUNCTION_{name.upper()}", server.get(name))
        if raw is not None:
            try:
                value = type(default)(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None
            if value < 0:
                raise ValueError(f"{name} must not be negative, not {raw!r}")
            out[name] = value
    return out


def _trigger_settings(env: Mapping[str, str], server: Mapping[str, Any]) -> dict[str, Any]:
    def get(name: str, default: Any) -> Any:
        return env.get(f"JUNCTION_{name.upper()}", server.get(name, default))

    clock = get("trigger_clock_file", None)
    catch_up = str(get("trigger_catch_up", "latest"))
    if catch_up not in {"latest", "none"}:
        raise ValueError("JUNCTION_TRIGGER_CATCH_UP must be 'latest' or 'none'")
    return {
        "trigger_scheduler": _flag(get("trigger_scheduler", "1")),
        "trigger_max_per_project": int(get("trigger_max_per_project", 100)),
        "trigger_min_interval_seconds": float(get("trigger_min_interval_seconds", 60)),
        "trigger_poll_seconds": float(get("trigger_poll_seconds", 1.0)),
        "trigger_execution_retention": max(1, int(get("trigger_execution_retention", 1000))),
        "trigger_catch_up": catch_up,
        "trigger_misfire_grace_seconds": float(get("trigger_misfire_grace_seconds", 60)),
        "trigger_clock_file": Path(clock) if clock else None,
    }


def _warm_settings(env: Mapping[str, str], server: Mapping[str, Any]) -> dict[str, Any]:
    def get(name: str, default: Any) -> Any:
        return env.get(f"JUNCTION_{name.upper()}", server.get(name, default))

    values = {
        "sandbox_warm": _flag(get("sandbox_warm", "1")),
        "sandbox_warm_max": int(get("sandbox_warm_max", 32)),
        "sandbox_warm_idle_seconds": float(get("sandbox_warm_idle_seconds", 300)),
        "sandbox_warm_min_available_mb": int(get("sandbox_warm_min_available_mb", 512)),
    }
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"JUNCTION_{name.upper()} must not be negative, not {value!r}")
    return values
