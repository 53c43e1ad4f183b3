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
        "access_log": str(env.get("JUNCTION_ACCESS_LOG", server.get("access_log", "1"))).lower()
        not in {"0", "false", "no"},
        **_hardening_settings(env, server),
    }
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return Settings(**values)
