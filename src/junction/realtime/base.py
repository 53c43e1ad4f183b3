"""The realtime seam: speech-to-speech model APIs over WebSocket.

A realtime backend serves one model call of a run — the same :class:`ModelRequest`
every provider gets — over one WebSocket session: it sends the session's configuration
(instructions, tools, voice), the conversation so far, this turn's audio, asks for an
answer and yields provider events: the transcript as :class:`TextDelta`, speech as
:class:`AudioChunk` pieces (then the whole clip once, as a streamed :class:`MediaDelta`),
function calls, :class:`Usage` and :class:`Finish`. So a realtime turn is stored,
streamed, resumed and continued like any other, and tools work alike.

Backends register under the provider kind whose endpoint they speak
(``@register("openai")``); a provider finds its backend with
:meth:`Provider.realtime`. A model is served by the realtime API when its name matches
the backend's ``models`` pattern, or the provider's ``realtime_models`` option (a list of
model names) names it. The connection goes through :mod:`junction.realtime.socket`: the
host is vetted like every other outbound connection (``realtime_allow_private = true``
on a provider lets it reach a private or loopback address).
"""

from __future__ import annotations

import abc
import re
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, TypeVar

from junction import jsonutil
from junction.addresses import AddressPolicy
from junction.errors import BadRequest
from junction.providers.base import ModelRequest, Provider, ProviderEvent
from junction.realtime import audio

#: output options a realtime answer can honour
OUTPUT_MIME = ("audio/wav", "audio/l16")


class RealtimeBackend(abc.ABC):
    """Base class of every realtime API."""

    kind: ClassVar[str]
    #: model names this API serves
    models: ClassVar[re.Pattern[str]]
    #: the PCM sample rate the API takes input audio at (None: any, named in the MIME type)
    input_rate: ClassVar[int | None] = None

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.config = provider.config
        options = provider.config.options
        listed = options.get("realtime_models") or ()
        listed = [listed] if isinstance(listed, str) else listed
        self.extra_models = frozenset(str(m) for m in listed)
        self.policy = AddressPolicy(allow_private=bool(options.get("realtime_allow_private")))
        self.timeout = provider.settings.provider_timeout

    @property
    def who(self) -> str:
        return f"provider '{self.config.name}' (realtime)"

    def serves(self, model: str) -> bool:
        return model in self.extra_models or bool(self.models.match(model))

    def check(self, request: ModelRequest) -> None:
        """Input a realtime API cannot take: a 400 naming the model and the item."""
        who = f"{self.config.name}/{request.model}"
        for step in request.steps[request.history_len :]:
            if step.get("type") != "user_input":
                continue
            for item in step.get("content") or ():
                kind = item.get("type") if isinstance(item, dict) else None
                if kind == "audio":
                    audio.check_input(item, who)
                elif kind not in (None, "text"):
                    raise BadRequest(
                        f"model '{who}' is served by a realtime API, which takes text and "
                        f"audio input, not {kind}; remove the item or choose another model"
                    )

    def check_output(self, request: ModelRequest) -> None:
        """Audio options a realtime answer cannot honour: a 400 naming the field."""
        options = request.output.audio
        who = f"{self.config.name}/{request.model}"
        mime = options.get("mime_type")
        if mime is not None and mime not in OUTPUT_MIME:
            raise BadRequest(
                f"response_format.mime_type: model '{who}' (realtime) makes "
                f"{' or '.join(OUTPUT_MIME)}, not {mime}"
            )
        rate = options.get("sample_rate")
        if rate is not None and rate != audio.OUTPUT_RATE:
            raise BadRequest(
                f"response_format.sample_rate: model '{who}' (realtime) speaks at "
                f"{audio.OUTPUT_RATE} Hz only"
            )
        if len(request.output.voices) > 1:
            raise BadRequest(
                f"generation_config.speech_config: model '{who}' (realtime) speaks with one voice"
            )

    @abc.abstractmethod
    def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """One model call over the realtime API, as provider events."""


def spoken_history(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation for a realtime API: the model's earlier speech is represented by
    its transcript (audio items of model_output steps are left out), thoughts are
    dropped."""
    out = []
    for step in steps:
        kind = step.get("type")
        if kind == "thought":
            continue
        if kind == "model_output":
            content = [i for i in step.get("content") or () if i.get("type") == "text"]
            if not content:
                continue
            step = {**step, "content": content}
        out.append(step)
    return out


def current_input(steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[bytes], int]:
    """Split off this turn's audio: the steps to send as conversation, and the PCM of the
    audio items of a trailing user_input step (sent as the API's streamed audio input)
    with its sample rate."""
    if not steps or steps[-1].get("type") != "user_input":
        return steps, [], 0
    last = steps[-1]
    items = [i for i in last.get("content") or () if isinstance(i, dict)]
    spoken = [i for i in items if i.get("type") == "audio" and i.get("data")]
    if not spoken:
        return steps, [], 0
    pcm: list[bytes] = []
    rate = 0
    for item in spoken:
        data, item_rate = audio.pcm_of(item)
        if rate and item_rate != rate:
            data = audio.resample(data, item_rate, rate)
        rate = rate or item_rate
        pcm.append(data)
    rest = [i for i in items if i not in spoken]
    head = steps[:-1] + ([{**last, "content": rest}] if rest else [])
    return head, pcm, rate


def function_output(result: Any) -> str:
    """A function result as the text a realtime API takes."""
    if isinstance(result, str):
        return result
    if isinstance(result, list) and all(isinstance(i, dict) for i in result):
        texts = [str(i.get("text", "")) for i in result if i.get("type") == "text"]
        if len(texts) == len(result):
            return "".join(texts)
    return jsonutil.dumps(result)


_REGISTRY: dict[str, type[RealtimeBackend]] = {}
_BACKENDS: weakref.WeakKeyDictionary[Provider, RealtimeBackend | None] = weakref.WeakKeyDictionary()
B = TypeVar("B", bound=type[RealtimeBackend])
BUILTIN_MODULES = ("openai", "gemini")


def register(kind: str) -> Callable[[B], B]:
    def decorate(cls: B) -> B:
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return decorate


def _load() -> None:
    import importlib

    for name in BUILTIN_MODULES:
        importlib.import_module(f"junction.realtime.{name}")


def backend_for(provider: Provider, model: str) -> RealtimeBackend | None:
    """The realtime backend of ``provider`` when it serves ``model``, else None."""
    if provider not in _BACKENDS:
        if not _REGISTRY:
            _load()
        cls = _REGISTRY.get(provider.kind)
        _BACKENDS[provider] = cls(provider) if cls is not None else None
    backend = _BACKENDS[provider]
    return backend if backend is not None and backend.serves(model) else None


def examples() -> str:
    """Model ids that have a realtime API, for error messages."""
    return "openai/gpt-realtime, gemini-2.5-flash-native-audio-preview-09-2025"
