"""Environments (REFERENCE 8): project-scoped sandboxed workspaces.

The service keeps the environment rows and asks the configured sandbox backend
(:mod:`junction.sandbox`) for the workspaces. If the backend cannot run here (for
example bubblewrap is missing) the server still starts and every environment call is
answered 503 saying why; nothing ever runs unsandboxed unless the operator started the
server with ``--unsafe-sandbox``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from junction import ids
from junction.config import Settings
from junction.errors import BadRequest, NotFound, TooManyRequests, Unavailable
from junction.observe.metrics import Metrics
from junction.runtime.credentials import CredentialService, UntrustedDestination
from junction.runtime.env_options import (
    inherited_config,
    limits_of,
    parse_custom_config,
    parse_instruction,
)
from junction.runtime.env_sources import apply_sources, check_sources
from junction.runtime.env_vars import parse_env
from junction.sandbox.base import Sandbox, SandboxBackend, SandboxSettings, create_backend
from junction.sandbox.errors import SandboxError, SandboxNotFound
from junction.sandbox.types import EgressRule, Limits, NetworkPolicy
from junction.store.db import Database
from junction.store.environments import EnvironmentRows

log = logging.getLogger("junction.environments")
MODES = ("on_demand", "self_hosted")
# The keys of an interaction's inline environment (REFERENCE 8.2; the SDK's Environment).
INLINE_KEYS = frozenset(
    {"type", "sources", "env", "network", "mode", "custom_config", "system_instruction"}
    | {"environment_id"}
)


def parse_network(value: Any, project_id: str) -> tuple[Any, NetworkPolicy]:
    """The wire ``network`` (``"disabled"`` or ``{allowlist: …}``) and its policy."""
    if value in (None, "disabled"):
        return "disabled", NetworkPolicy()
    if not isinstance(value, dict):
        raise BadRequest('\'network\' must be "disabled" or {"allowlist": [...]}')
    allowlist = value.get("allowlist", "disabled")
    if allowlist == "disabled":
        return {"allowlist": "disabled"}, NetworkPolicy()
    if not isinstance(allowlist, list):
        raise BadRequest('network.allowlist must be "disabled" or a list of entries')
    rules = []
    for index, entry in enumerate(allowlist):
        if not isinstance(entry, dict) or not isinstance(entry.get("domain"), str):
            raise BadRequest(f"network.allowlist[{index}] needs a 'domain'")
        transforms = entry.get("transform") or {}
        maps = transforms if isinstance(transforms, list) else [transforms]
        headers: dict[str, str] = {}
        for item in maps:
            if not isinstance(item, dict):
                raise BadRequest(f"network.allowlist[{index}].transform must map headers")
            headers.update({str(k): str(v) for k, v in item.items()})
        credential = entry.get("credential")
        try:
            rules.append(
                EgressRule(
                    entry["domain"],
                    headers,
                    f"{project_id}/{credential}" if credential else None,
                )
            )
        except ValueError as exc:
            raise BadRequest(f"network.allowlist[{index}]: {exc}") from None
    return {"allowlist": allowlist}, NetworkPolicy(tuple(rules))


class EnvironmentService:
    def __init__(self, db: Database, settings: Settings, credentials: CredentialService) -> None:
        self.rows = EnvironmentRows(db)
        self.settings = settings
        self.credentials = credentials
        self._backend: SandboxBackend | None = None
        self._unavailable: str | None = None
        self._expiry: asyncio.Task[None] | None = None
        self.metrics: Metrics | None = None  # set by the system when metrics are on

    # -- backend ----------------------------------------------------------------------------
    async def _resolve_credential(self, ref: str, host: str) -> tuple[str, str]:
        project_id, _, cred_id = ref.partition("/")
        try:
            headers = await self.credentials.headers_for(project_id, cred_id, host)
        except UntrustedDestination as exc:
            raise PermissionError(exc.message) from None
        return next(iter(headers.items()))

    def backend(self) -> SandboxBackend:
        if self._backend is not None:
            return self._backend
        if self._unavailable is None:
            sandbox_settings = SandboxSettings(
                root_dir=self.settings.data_dir / "sandboxes",
                allow_private_egress=self.settings.url_fetch_allow_private,
                resolve_credential=self._resolve_credential,
                allow_unsafe=self.settings.sandbox_backend == "unsafe-local",
                cgroups=self.settings.sandbox_cgroups,
                egress_max_connections=self.settings.sandbox_egress_max_connections,
                egress_head_timeout=self.settings.sandbox_egress_head_timeout,
                warm=self.settings.sandbox_warm,
                warm_max=self.settings.sandbox_warm_max,
                warm_idle_seconds=self.settings.sandbox_warm_idle_seconds,
                warm_min_available_bytes=self.settings.sandbox_warm_min_available_mb * 2**20,
            )
            try:
                self._backend = create_backend(self.settings.sandbox_backend, sandbox_settings)
                return self._backend
            except SandboxError as exc:
                self._unavailable = exc.message
                log.warning("environments are unavailable: %s", exc.message)
        raise Unavailable(f"environments are unavailable on this server: {self._unavailable}")

    def start(self) -> None:
        self._expiry = asyncio.get_running_loop().create_task(self._expire_loop())

    async def aclose(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        if self._backend is not None:
            await self._backend.aclose()

    # -- resources --------------------------------------------------------------------------
    async def create(self, project_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        mode = body.get("mode") or "on_demand"
        if mode not in MODES:
            raise BadRequest(f"'mode' must be one of {', '.join(MODES)}")
        network, policy = parse_network(body.get("network"), project_id)
        sources = body.get("sources") or []
        await check_sources(sources, self.settings)
        custom_config = parse_custom_config(body.get("custom_config"))
        instruction = parse_instruction(body.get("system_instruction"))
        env_vars = parse_env(body.get("env"))
        origin = body.get("from_environment")
        if origin is not None and not isinstance(origin, str):
            raise BadRequest("'from_environment' must be an environment id")
        base: Sandbox | None = None
        if origin:
            if sources or env_vars:
                raise BadRequest(
                    "from_environment copies a workspace: send no 'sources' or 'env' with it"
                )
            origin_id = str(origin).removeprefix("environments/")
            base = await self.sandbox(project_id, origin_id)
            # A copy keeps its origin's options unless it is given its own.
            row = await self.get_row(project_id, origin_id)
            custom_config = custom_config or inherited_config(row.get("custom_config"))
            instruction = instruction or row.get("system_instruction")
        backend = self.backend()
        limits = limits_of(custom_config)
        await self._check_quota(project_id, limits)
        now = ids.now_iso()
        env = {
            "id": ids.sortable_id("env_"),
            "project_id": project_id,
            "status": "active",
            "mode": mode,
            "network": network,
            "sources": sources,
            "custom_config": custom_config,
            "system_instruction": instruction,
            "created": now,
            "env_sealed": self.credentials.seal(env_vars) if env_vars else None,
        }
        started = time.perf_counter()
        box = await backend.create(env["id"], limits, policy)
        if self.metrics is not None:
            kind = self.settings.sandbox_backend
            self.metrics.sandbox_starts.labels(kind).inc()
            self.metrics.sandbox_start_seconds.labels(kind).observe(time.perf_counter() - started)
        try:
            if base is not None:
                await box.copy_from(base)
            await apply_sources(box, sources, self.settings)
            await self.rows.insert(env)
        except BaseException:
            await box.destroy()
            raise
        return self.to_wire({**env, "updated": now, "last_accessed": now})

    async def _check_quota(self, project_id: str, limits: Limits) -> None:
        """A project's active environments, and the workspace bytes they may hold
        together (each workspace is held to its own disk quota), stay under the caps."""
        active = await self.rows.count_active(project_id)
        cap = self.settings.project_max_environments
        if cap and active >= cap:
            raise TooManyRequests(
                f"this project has {active} active environments, its limit "
                "(project_max_environments): delete one it no longer needs"
            )
        stored = self.settings.project_max_stored_bytes
        if stored and (active + 1) * limits.disk_bytes > stored:
            raise TooManyRequests(
                f"another environment's workspace ({limits.disk_bytes} bytes) would take this "
                f"project's {active} active environments past its {stored} stored bytes "
                "(project_max_stored_bytes): delete one it no longer needs"
            )

    async def get_row(self, project_id: str, env_id: str) -> dict[str, Any]:
        if not isinstance(env_id, str):
            raise BadRequest("an environment id must be a string")
        row = await self.rows.get(project_id, env_id.removeprefix("environments/"))
        if row is None:
            raise NotFound(f"environment '{env_id}' not found")
        return row

    async def describe(self, project_id: str, env_id: str) -> dict[str, Any]:
        row = await self.get_row(project_id, env_id)
        wire = self.to_wire(row)
        if row["status"] == "active":
            box = await self.sandbox(project_id, row["id"], touch=False)
            files = await box.list_files(".", recursive=True)
            wire["file_count"] = str(sum(1 for f in files if f.type == "file"))
            wire["size_bytes"] = str(await box.disk_usage())
        return wire

    async def sandbox(self, project_id: str, env_id: str, *, touch: bool = True) -> Sandbox:
        row = await self.get_row(project_id, env_id)
        if row["status"] != "active":
            raise BadRequest(f"environment '{env_id}' has {row['status']}: create a new one")
        try:
            box = await self.backend().get(row["id"])
        except SandboxNotFound:
            raise NotFound(f"environment '{env_id}' has no workspace any more") from None
        if touch:
            await self.rows.touch(row["id"], ids.now_iso())
        sealed = row.get("env_sealed")
        box.base_env = self.credentials.unseal(sealed) if sealed else {}
        return box

    async def delete(self, project_id: str, env_id: str) -> None:
        row = await self.get_row(project_id, env_id)
        if row["status"] == "active":
            with contextlib.suppress(SandboxNotFound):
                await (await self.backend().get(row["id"])).destroy()
        await self.rows.delete(project_id, row["id"])

    async def for_interaction(self, project_id: str, spec: Any) -> str:
        """The environment an interaction names (id), or one made from an inline object."""
        if isinstance(spec, str):
            return str((await self.get_row(project_id, spec))["id"])
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - INLINE_KEYS)
            if unknown:
                raise BadRequest(
                    f"environment.{unknown[0]} is not an environment field (use "
                    f"{', '.join(sorted(INLINE_KEYS))})"
                )
            if spec.get("type", "remote") != "remote":
                raise BadRequest('environment.type must be "remote"')
            if spec.get("environment_id"):
                return await self.update_for_interaction(project_id, spec)
            body = {k: spec[k] for k in INLINE_KEYS - {"type", "environment_id"} if k in spec}
            return str((await self.create(project_id, body))["id"])
        raise BadRequest("'environment' must be an environment id or an environment object")

    async def update_for_interaction(self, project_id: str, spec: dict[str, Any]) -> str:
        """``environment_id`` with other fields: update that environment (REFERENCE 8.2).
        Everything is checked before anything changes; what cannot change is a 400."""
        for key in ("custom_config", "system_instruction"):
            if spec.get(key) is not None:
                raise BadRequest(
                    f"environment.{key} applies to a new environment and cannot "
                    "change an existing one (environment_id): create an environment "
                    f"with this {key} and name it"
                )
        row = await self.get_row(project_id, spec["environment_id"])
        mode = spec.get("mode")
        if mode is not None and mode != row["mode"]:
            raise BadRequest(
                f"environment.mode: environment '{row['id']}' is {row['mode']}; an existing "
                "environment's mode cannot change (create a new one)"
            )
        network, policy = row["network"], None
        if spec.get("network") is not None:
            network, policy = parse_network(spec["network"], project_id)
        sources = spec.get("sources") or []
        await check_sources(sources, self.settings)
        env_vars = parse_env(spec.get("env"))
        current = self.credentials.unseal(row["env_sealed"]) if row.get("env_sealed") else {}
        # New variables are added to (and replace same-named) earlier ones, within the limits.
        merged = parse_env({**current, **env_vars})
        if not (sources or env_vars or policy is not None):
            return str(row["id"])
        box = await self.sandbox(project_id, row["id"])
        if policy is not None:
            try:
                await self.backend().set_network(row["id"], policy)
            except SandboxError as exc:
                raise BadRequest(f"environment.network: {exc.message}") from None
        await apply_sources(box, sources, self.settings)
        sealed = self.credentials.seal(merged) if merged else None
        await self.rows.update_spec(
            project_id, row["id"], network, [*row["sources"], *sources], sealed, ids.now_iso()
        )
        box.base_env = merged
        return str(row["id"])

    @staticmethod
    def to_wire(row: dict[str, Any]) -> dict[str, Any]:
        out = {
            k: row[k]
            for k in ("id", "status", "mode", "network", "created", "updated", "last_accessed")
            if row.get(k) is not None
        }
        if row.get("sources"):
            out["sources"] = [
                {k: v for k, v in s.items() if k != "content"} for s in row["sources"]
            ]
        for key in ("custom_config", "system_instruction"):
            if row.get(key):
                out[key] = row[key]
        return out

    # -- idle expiry --------------------------------------------------------------------------
    async def expire_idle(self) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.settings.environment_idle_seconds)
        idle = await self.rows.idle(cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        for env_id in idle:
            await self.expire(env_id)
        return len(idle)

    async def expire(self, env_id: str) -> None:
        """Free an idle environment's workspace; its row stays, status ``expired``."""
        with contextlib.suppress(SandboxError, Unavailable):
            await (await self.backend().get(env_id)).destroy()
        await self.rows.set_status(env_id, "expired", ids.now_iso())
        log.info("environment %s expired after being idle; its workspace was freed", env_id)

    async def _expire_loop(self) -> None:
        interval = min(60.0, max(1.0, self.settings.environment_idle_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.expire_idle()
            except Exception:
                log.exception("expiring idle environments failed")
