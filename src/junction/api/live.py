"""WebSocket /{version}/interactions/live: live interactions (REFERENCE 10.1).

A live session attaches to one interaction (``interaction.connect {id}``). Each ``input``
becomes a new turn, i.e. a new stored interaction continuing the session's latest one
with the same model, tools and instructions; its ``step.*`` events are streamed as
they happen. ``interaction.disconnect`` (or a dropped socket) leaves a running turn
going: ``connect`` with its id later replays it and follows it live. Turns run through
the same runtime as HTTP requests, so function calls and server tools work alike.
Audio input goes to a model served by a realtime API (OpenAI Realtime, Gemini Live:
:mod:`junction.realtime`); a turn with audio answers with speech and its transcript
unless the session asks for other modalities. Audio for any other model is refused with
an error frame naming the model (docs/interactions.md, "Live mode").
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from junction import jsonutil
from junction.api.auth import Principal
from junction.api.common import _VERSION, MAX_BODY, Services
from junction.errors import ApiError, BadRequest, NotFound
from junction.realtime.base import examples as realtime_examples
from junction.store.records import RUNNING, InteractionRecord

#: config of the connected interaction carried into each new turn
_CARRIED = (
    "system_instruction",
    "tools",
    "generation_config",
    "response_format",
    "response_modalities",
)
#: what a turn with audio input answers with when the session names no modality
_SPOKEN = ["text", "audio"]
_STEP_EVENTS = ("step.start", "step.delta", "step.stop")
_POLICY_VIOLATION = 1008
_TRY_AGAIN_LATER = 1013
#: live sessions one process serves at once, and inputs one session may queue
MAX_SESSIONS = 256
MAX_QUEUED_INPUTS = 32
_sessions = 0


def _error(code: str, message: str) -> dict[str, Any]:
    return {"event_type": "error", "error": {"code": code, "message": message}}


def _has_audio(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(c, dict) and c.get("type") == "audio" for c in content
    )


def _turn_input(content: Any) -> list[dict[str, Any]]:
    """An ``input`` event's content as a turn: content items, or function results."""
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise BadRequest("an input event needs a non-empty 'content' list")
    if any(isinstance(c, dict) and c.get("type") == "function_result" for c in content):
        return [c for c in content if isinstance(c, dict)]
    return [{"type": "user_input", "content": content}]


class LiveSession:
    def __init__(self, ws: WebSocket, svc: Services) -> None:
        self.ws = ws
        self.svc = svc
        self.principal: Principal | None = None
        self.head: InteractionRecord | None = None
        self.inputs: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._turns: asyncio.Task[None] | None = None
        self._after = 0
        #: set by interaction.create: applies to every later turn of the session
        self.overrides: dict[str, Any] = {}
        #: the turn being streamed (the interaction a cancel stops)
        self.current: InteractionRecord | None = None

    async def send(self, *events: dict[str, Any]) -> None:
        payload = events[0] if len(events) == 1 else {"events": list(events)}
        async with self._send_lock:
            await self.ws.send_text(jsonutil.dumps(payload))

    async def frames(self) -> Any:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(raw) > MAX_BODY:
                await self.send(_error("payload_too_large", f"frame larger than {MAX_BODY}"))
                continue
            try:
                payload = jsonutil.loads(raw)
            except ValueError:
                await self.send(_error("invalid_argument", "frames must be JSON text"))
                continue
            events = payload.get("events") if isinstance(payload, dict) else None
            for event in events if isinstance(events, list) else [payload]:
                if isinstance(event, dict) and isinstance(event.get("event_type"), str):
                    yield event
                else:
                    await self.send(_error("invalid_argument", "every event needs event_type"))

    # -- connect ----------------------------------------------------------------------------
    async def connect(self, event: dict[str, Any]) -> None:
        interaction_id = event.get("id")
        if not isinstance(interaction_id, str) or not interaction_id:
            raise BadRequest("interaction.connect needs the id of an interaction")
        self.principal = await self.svc.auth.principal(self.ws)
        self.principal.require(interaction_id)
        self.head = await self.svc.interactions.get(self.principal.project_id, interaction_id)
        await self.send({"event_type": "interaction.connected"})
        after = event.get("last_event_id") or event.get("next_output_seq_num") or 0
        try:
            self._after = int(after)
        except (TypeError, ValueError):
            raise BadRequest("last_event_id must be an event id of this interaction") from None

    async def _follow(self, record: InteractionRecord, after: int = 0) -> None:
        """Forward a turn's step events (from ``after``), live, until it ends."""
        interactions = self.svc.interactions
        run = interactions.runs.get(record.id)
        events = interactions.follow.events(record, after, run.journal if run else None)
        async for _, data in events:
            event = jsonutil.loads(data)
            kind = event.get("event_type")
            if kind in _STEP_EVENTS or kind == "error":
                await self.send(event)
        assert self.principal is not None
        self.head = await interactions.get(self.principal.project_id, record.id)
        status = "idle" if self.head.status != "failed" else "failed"
        update = {"event_type": "interaction.status_update", "interaction_id": record.id}
        await self.send({**update, "status": status})
        if self.head.errors and self.head.status == "failed":
            await self.send(_error("failed", self.head.errors[-1].get("message", "failed")))

    # -- turns ------------------------------------------------------------------------------
    def _turn_body(self, content: Any) -> dict[str, Any]:
        head = self.head
        assert head is not None
        body: dict[str, Any] = {k: head.config[k] for k in _CARRIED if k in head.config}
        body.update(self.overrides)
        if "model" not in body:
            body["agent" if head.agent else "model"] = head.agent or head.model
        if _has_audio(content) and not (
            body.get("response_modalities") or body.get("response_format")
        ):
            body["response_modalities"] = list(_SPOKEN)
        body.update(input=_turn_input(content), previous_interaction_id=head.id, stream=True)
        return body

    def _audio_refusal(self, content: Any) -> str | None:
        """Why audio input cannot go to the session's model (it has no realtime API)."""
        head = self.head
        if head is None or not _has_audio(content):
            return None
        model = self.overrides.get("model") or ("" if head.agent else head.model)
        if model:
            try:
                provider, local = self.svc.interactions.router.resolve(model)
            except BadRequest:
                return None  # the turn's create names the problem
            if provider.realtime(local) is not None:
                return None
        who = f"model '{model}'" if model else f"agent '{head.agent}'"
        return (
            f"{who} has no realtime API, so it takes no audio input in live mode: choose "
            f"a realtime model ({realtime_examples()}) with interaction.create, send text, "
            "or send the audio over HTTP"
        )

    def _configure(self, event: dict[str, Any]) -> None:
        """interaction.create: the model, tools and instructions of the next turns."""
        self.overrides.update({k: event[k] for k in (*_CARRIED, "model") if event.get(k)})

    async def run_turns(self) -> None:
        interactions = self.svc.interactions
        assert self.head is not None
        if self.head.status in RUNNING or self._after:
            self.current = self.head
            await self._follow(self.head, self._after)  # a reconnect: replay, then live
        while (event := await self.inputs.get()) is not None:
            assert self.principal is not None and self.head is not None
            try:
                created = await interactions.create(
                    self.principal.project_id, self._turn_body(event.get("content"))
                )
            except ApiError as exc:
                await self.send(_error(exc.code, exc.message))
                continue
            self.current = created.record
            await self.send(
                {"event_type": "interaction.created", "interaction_id": created.record.id}
            )
            await self._follow(created.record)

    async def serve(self) -> None:
        frames = self.frames()
        first = await anext(frames)
        if first.get("event_type") != "interaction.connect":
            raise BadRequest("the first event must be interaction.connect {id}")
        await self.connect(first)
        self._turns = asyncio.get_running_loop().create_task(self.run_turns())
        try:
            async for event in frames:
                if await self._handle(event):
                    return
        finally:
            turns = self._turns
            if turns is not None:
                turns.cancel()  # only the forwarding: the turn's run goes on
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await turns

    async def _handle(self, event: dict[str, Any]) -> bool:
        """Handle one client event; True when the session is over."""
        kind = event["event_type"]
        assert self.principal is not None and self.head is not None
        if kind == "input":
            try:
                _turn_input(event.get("content"))
            except BadRequest as exc:
                await self.send(_error(exc.code, exc.message))
                return False
            refusal = self._audio_refusal(event.get("content"))
            if refusal is not None:
                await self.send(_error("invalid_argument", refusal))
                return False
            if self.inputs.qsize() >= MAX_QUEUED_INPUTS:
                await self.send(
                    _error(
                        "resource_exhausted",
                        f"{MAX_QUEUED_INPUTS} inputs are already waiting for the running turn",
                    )
                )
                return False
            await self.inputs.put(event)
        elif kind == "interaction.create":
            self._configure(event)
        elif kind == "interaction.disconnect":
            return True
        elif kind == "interaction.cancel":
            record = self.current or self.head
            fresh = await self.svc.interactions.get(self.principal.project_id, record.id)
            if fresh.status in RUNNING:
                fresh = await self.svc.interactions.cancel(self.principal.project_id, record.id)
            await self.send({"event_type": "interaction.cancelled", "usage": fresh.usage or {}})
            return True
        elif kind == "interaction.complete":
            await self.inputs.put(None)
            assert self._turns is not None
            await self._turns
            head = self.head
            completed = {
                "event_type": "interaction.completed",
                "status": {"code": 0, "message": head.status},
                "created": head.created,
                "updated": head.updated,
            }
            await self.send({**completed, "usage": head.usage} if head.usage else completed)
            return True
        else:
            await self.send(_error("invalid_argument", f"'{kind}' is not supported by this server"))
        return False


async def live(ws: WebSocket) -> None:
    global _sessions
    await ws.accept()
    if _sessions >= MAX_SESSIONS:
        message = f"this server already serves {MAX_SESSIONS} live sessions: retry later"
        with contextlib.suppress(Exception):
            # After the client's first frame, so that it reads the reason.
            await asyncio.wait_for(ws.receive_text(), 5)
            await ws.send_text(jsonutil.dumps(_error("resource_exhausted", message)))
            await ws.close(_TRY_AGAIN_LATER)
        return
    _sessions += 1
    try:
        await _serve(ws)
    finally:
        _sessions -= 1


async def _serve(ws: WebSocket) -> None:
    svc: Services = ws.app.state.services
    session = LiveSession(ws, svc)
    try:
        if not _VERSION.match(ws.path_params.get("version", "")):
            raise NotFound(f"no route for {ws.url.path} (expected /v1/, /v1beta/, /v1alpha/…)")
        await session.serve()
    except WebSocketDisconnect:
        return
    except ApiError as exc:
        with contextlib.suppress(Exception):
            await session.send(_error(exc.code, exc.message))
            await ws.close(_POLICY_VIOLATION if exc.status_code in (401, 403) else 1000)
        return
    with contextlib.suppress(Exception):
        await ws.close()


routes = [WebSocketRoute("/{version}/interactions/live", live)]
