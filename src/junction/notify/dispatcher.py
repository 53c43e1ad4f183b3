"""The dispatcher: claims due deliveries from the outbox and POSTs them.

Runs in every process that runs background work (``junction serve`` with workers,
``junction worker``). A claim takes a batch in one statement (``FOR UPDATE SKIP LOCKED``
on PostgreSQL) and moves each row's due time past the attempt's lease, so a dispatcher
killed mid-attempt loses nothing: the rows come due again and are sent again, with the
same ``webhook-id``. It wakes on :func:`junction.notify.outbox.wake` (in process) and
LISTEN/NOTIFY (PostgreSQL), and polls once a second as a fallback.

Any 2xx acknowledges. Anything else (or no answer within the timeout) is retried after
``retry_base_seconds``, doubling, with ±20 % jitter, until ``retry_window_seconds`` after
the event; then the delivery is ``failed`` and counts towards the webhook's automatic
disabling. Redirects are not followed; at most ``max_response_bytes`` of a response body
is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from junction import ids
from junction.config import WebhookSettings
from junction.errors import ApiError
from junction.notify import outbox, signing
from junction.notify.destinations import Destinations
from junction.notify.keys import SigningKeys
from junction.notify.service import WebhookService, live_secrets
from junction.tools.fetch import UnsafeAddress

log = logging.getLogger("junction.webhooks")

BATCH = 64
LEASE_MARGIN_MS = 5000
MAX_HISTORY = 20
USER_AGENT = "Junction-Webhooks/1.0"


def next_delay(settings: WebhookSettings, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: base, doubling, capped, ±20 % jitter."""
    delay = min(
        settings.retry_base_seconds * (2 ** max(attempts - 1, 0)),
        settings.retry_max_delay_seconds,
    )
    return float(delay * random.uniform(0.8, 1.2))


class Dispatcher:
    def __init__(
        self,
        service: WebhookService,
        keys: SigningKeys,
        destinations: Destinations,
        *,
        poll_interval: float = 1.0,
    ) -> None:
        self.service = service
        self.settings = service.settings
        self.keys = keys
        self.destinations = destinations
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._secrets: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: ``(outcome, seconds)`` per attempt, for the metrics (set by the system when on):
        #: outcome is ``delivered``, ``retry`` (pending again) or ``failed`` (given up)
        self.on_attempt: Callable[[str, float], None] | None = None

    def wake(self, _payload: str = "") -> None:
        self._wake.set()

    async def start(self) -> None:
        db = self.service.db
        outbox.on_wake(db, self.wake)
        await db.add_listener(outbox.WEBHOOKS_CHANNEL, self.wake)
        self._session = self.destinations.session()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        outbox.off_wake(self.service.db, self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _loop(self) -> None:
        """Claim while fewer than ``concurrency`` deliveries are in flight; each claimed
        batch is sent by its own task, so one slow endpoint does not hold up the rest."""
        lease_ms = int(self.settings.timeout_seconds * 1000) + LEASE_MARGIN_MS
        capacity = max(1, self.settings.concurrency)
        while True:
            self._wake.clear()
            try:
                while self._in_flight < capacity:
                    want = min(BATCH, capacity - self._in_flight)
                    rows = await self.service.deliveries.claim(outbox.now_ms(), lease_ms, want)
                    if not rows:
                        break
                    self._in_flight += len(rows)
                    task = asyncio.get_running_loop().create_task(self._run_batch(rows))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            except Exception:
                log.exception("claiming webhook deliveries failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _run_batch(self, rows: list[dict[str, Any]]) -> None:
        try:
            await self._send_batch(rows)
        except Exception:
            log.exception("sending webhook deliveries failed (they will be retried)")
        finally:
            self._in_flight -= len(rows)
            self._wake.set()

    async def _webhook_config(
        self, rows: list[dict[str, Any]]
    ) -> dict[str, tuple[str, dict[str, Any], list[str]]]:
        """Load the static webhooks of ``rows`` (uri, state, live secrets); decrypted
        secrets are kept per (webhook, update time)."""
        wanted = {r["webhook_id"] for r in rows if r["webhook_id"]}
        now = datetime.now(UTC)
        current: dict[str, tuple[str, dict[str, Any], list[str]]] = {}
        for row in await self.service.rows.get_many(sorted(wanted)):
            cached = self._secrets.get(row["id"])
            if cached is None or cached[0] != row["updated"]:
                try:
                    cached = (row["updated"], self.service.unseal(row["secrets"]))
                except ApiError as exc:  # wrong or missing key: these deliveries wait
                    log.error("webhook %s: %s", row["id"], exc.message)
                    cached = (row["updated"], [])
                self._secrets[row["id"]] = cached
            live = [s["secret"] for s in live_secrets(cached[1], now)]
            current[row["id"]] = (row["updated"], row, live)
        for gone in wanted - set(current):
            self._secrets.pop(gone, None)
        return current

    async def _send_batch(self, rows: list[dict[str, Any]]) -> None:
        webhooks = await self._webhook_config(rows)
        results = await asyncio.gather(*(self._attempt(r, webhooks) for r in rows))
        await self.service.deliveries.finish(results)
        delivered = {r["webhook_id"] for r in results if r["state"] == "delivered"}
        given_up = [r["webhook_id"] for r in results if r["state"] == "failed"]
        for webhook_id in sorted(w for w in delivered if w):
            await self.service.rows.record_result(
                webhook_id, ok=True, disable_after=self.settings.disable_after_failures, now=""
            )
        for webhook_id in given_up:
            if webhook_id:
                await self.service.rows.record_result(
                    webhook_id,
                    ok=False,
                    disable_after=self.settings.disable_after_failures,
                    now=ids.now_iso(),
                )

    async def _attempt(
        self, row: dict[str, Any], webhooks: dict[str, tuple[str, dict[str, Any], list[str]]]
    ) -> dict[str, Any]:
        started = time.monotonic()
        status, error = await self._post(row, webhooks)
        now = datetime.now(UTC)
        history = list(row["history"])[-(MAX_HISTORY - 1) :]
        entry: dict[str, Any] = {
            "attempt": row["attempts"],
            "time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if status is not None:
            entry["status_code"] = status
        if error:
            entry["error"] = error
        history.append(entry)
        result: dict[str, Any] = {
            "id": row["id"],
            "webhook_id": row["webhook_id"],
            "attempts": row["attempts"],
            "last_status": status,
            "last_error": error,
            "history": history,
            "updated": ids.now_iso(),
            "next_attempt_ms": row["next_attempt_ms"],
        }
        if status is not None and 200 <= status < 300:
            result["state"] = "delivered"
            self._count(result, started)
            return result
        delay_ms = int(next_delay(self.settings, row["attempts"]) * 1000)
        due = outbox.now_ms() + delay_ms
        window_end = row["created_ms"] + int(self.settings.retry_window_seconds * 1000)
        if error and error.startswith("gone:"):
            result["state"] = "failed"
        elif due > window_end:
            result["state"] = "failed"
            log.info("giving up on delivery %s after %d attempts", row["id"], row["attempts"])
        else:
            result["state"] = "pending"
            result["next_attempt_ms"] = due
        self._count(result, started)
        return result

    def _count(self, result: dict[str, Any], started: float) -> None:
        if self.on_attempt is not None:
            outcome = "retry" if result["state"] == "pending" else result["state"]
            self.on_attempt(outcome, time.monotonic() - started)

    async def _post(
        self, row: dict[str, Any], webhooks: dict[str, tuple[str, dict[str, Any], list[str]]]
    ) -> tuple[int | None, str | None]:
        """One attempt: (status code, error)."""
        body = row["payload"].encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": row["message_id"],
            "webhook-timestamp": str(timestamp),
        }
        if row["webhook_id"]:
            cached = webhooks.get(row["webhook_id"])
            if cached is None:
                return None, "gone: the webhook was deleted"
            _, webhook, live = cached
            if webhook["state"] != "enabled" and row["event_type"] != "webhook.ping":
                return None, f"gone: the webhook is {webhook['state']}"
            uri = webhook["uri"]
            if not live:
                return (
                    None,
                    "the webhook's signing secret cannot be decrypted (JUNCTION_SECRET_KEY)",
                )
            headers["webhook-signature"] = signing.sign(live, row["message_id"], timestamp, body)
        else:
            uri = row["uri"]
            key = await self.keys.active()
            if key is None:
                return None, "no signing key for dynamic webhooks (JUNCTION_SECRET_KEY unset)"
            headers["webhook-signature"] = signing.sign_jwt(
                key[1],
                key[0],
                issuer=self.settings.issuer,
                audience=uri,
                message_id=row["message_id"],
                body=body,
            )
        problem = self.destinations.numeric_problem(uri)
        if problem is not None:
            return None, f"refused: {problem}"
        assert self._session is not None
        try:
            async with self._session.post(
                uri, data=body, headers=headers, allow_redirects=False
            ) as resp:
                with contextlib.suppress(Exception):
                    await resp.content.read(self.settings.max_response_bytes)
                return resp.status, None
        except TimeoutError:
            return None, f"timed out after {self.settings.timeout_seconds:g} s"
        except aiohttp.ClientError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, UnsafeAddress) or isinstance(exc.__cause__, UnsafeAddress):
                return None, f"refused: {cause}"
            return None, f"{type(exc).__name__}: {exc}"
        except UnsafeAddress as exc:
            return None, f"refused: {exc}"
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc}"
