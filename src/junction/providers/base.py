"""The provider seam.

A provider turns a :class:`ModelRequest` (the conversation as Interactions-API steps,
plus tools and config) into a stream of :class:`ProviderEvent` values. Concrete
providers register under a *kind* (``@register("openai")``) and are configured by name
(``[providers.myvllm] type = "openai"``), so model ids route as ``name/model``.

Rules every provider follows:

* translate the vendor's errors at this seam into :class:`junction.errors.ProviderError`
  subclasses (``ProviderRateLimited`` with ``retry_after``, ``ProviderUnavailable`` for
  5xx/connection errors, ``ProviderRejected`` for other 4xx); retries happen above;
* emit events in order: text and thought deltas as they arrive; a tool call as
  ``ToolCallStart`` → ``ToolCallDelta``* → ``ToolCallEnd`` (calls never interleave);
  ``Usage`` once (or cumulatively; the last one wins) and ``Finish`` last; speech that
  streams (a realtime API) as ``AudioChunk`` pieces, then the whole clip once as a
  ``MediaDelta`` with ``streamed=True``, before any tool call;
* reject input it cannot take (e.g. video on a text-only dialect) in :meth:`check`
  with a :class:`junction.errors.BadRequest` naming the model and the modality.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from junction.config import ProviderConfig, Settings
from junction.errors import BadRequest
from junction.providers import options
from junction.providers.modalities import modalities_for

if TYPE_CHECKING:
    from junction.realtime.base import RealtimeBackend


@dataclass
class ModelRequest:
    """One model call. ``steps`` is the whole context in wire form (history + this turn +
    the steps produced so far in this turn); ``model`` is the provider-local model name."""

    model: str
    steps: list[dict[str, Any]]
    system_instruction: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    #: ``generation_config`` fields, plus the create request's ``service_tier``,
    #: ``safety_settings`` and ``cached_content`` (:mod:`junction.providers.options`)
    generation: dict[str, Any] = field(default_factory=dict)
    # JSON schema the answer must satisfy; {} means "JSON, any shape"; None means free text.
    response_schema: dict[str, Any] | None = None
    stream: bool = True
    #: ``steps[:history_len]`` are earlier turns, unchanged since they were stored; their
    #: media modalities are ``history_modalities`` (so checks need not rescan them) and
    #: ``history_key`` (chain id, last seq) names that prefix for providers that cache
    #: its encoding. A boundary at ``history_len`` is always a turn boundary.
    history_len: int = 0
    history_modalities: frozenset[str] = frozenset()
    history_key: tuple[str, int] | None = None
    #: what the answer must be made of (image/audio output, their options)
    output: OutputSpec = field(default_factory=lambda: OutputSpec())
    #: transcribe the audio of the latest user input (``transcription_config``)
    transcription: TranscriptionSpec | None = None


@dataclass(frozen=True)
class TranscriptionSpec:
    """``generation_config.transcription_config``, validated: ``mode`` is ``verbatim``
    or ``smart`` (``source_text``: the text a smart transcription edits by voice);
    ``languages`` BCP-47 hints (empty: detect); ``vocabulary`` terms to bias towards;
    ``speakers``: label each word with its speaker; ``words``: word timestamps."""

    mode: str = "verbatim"
    source_text: str | None = None
    languages: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    speakers: bool = False
    words: bool = False


@dataclass(frozen=True)
class OutputSpec:
    """The output asked for: ``modalities`` (``text``, ``image``, ``audio``), the image
    options (``aspect_ratio``, ``image_size``, ``mime_type``), the audio options
    (``mime_type``, ``sample_rate``, ``bit_rate``), and the voices: one entry per speaker,
    each ``{voice, speaker?, language?, instructions?, speed?}`` (custom voices already
    resolved to a base voice plus instructions)."""

    modalities: frozenset[str] = frozenset({"text"})
    image: dict[str, Any] = field(default_factory=dict)
    audio: dict[str, Any] = field(default_factory=dict)
    voices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def media(self) -> bool:
        return bool(self.modalities & {"image", "audio"})


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThoughtDelta:
    """A piece of the model's thought summary (reasoning text)."""

    text: str


@dataclass(frozen=True)
class ThoughtSignature:
    """Opaque signature of a thought; must be sent back unchanged on the next turn."""

    signature: str


@dataclass(frozen=True)
class ToolCallStart:
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of the JSON-encoded arguments of the current tool call."""

    arguments: str


@dataclass(frozen=True)
class ToolCallEnd:
    arguments: dict[str, Any]


@dataclass(frozen=True)
class MediaDelta:
    """A generated image or audio clip, whole (``kind`` is ``image`` or ``audio``).
    ``seconds`` is the clip's duration when known."""

    kind: str
    data: bytes
    mime_type: str
    sample_rate: int | None = None
    channels: int | None = None
    seconds: float | None = None
    #: the provider's own base64 of ``data``, when it sent one (saves re-encoding)
    encoded: str | None = None
    #: live followers already had the clip as :class:`AudioChunk` deltas: store it, and
    #: announce it to the stored event log only
    streamed: bool = False
    #: a preview of the image being made (OpenAI partial images): forwarded to live
    #: followers as it comes, neither stored nor counted; ``data`` is then empty
    preview: bool = False


@dataclass(frozen=True)
class AudioChunk:
    """A piece of speech while it streams (a realtime API): 16-bit little-endian mono
    PCM. Shown to clients as an ``audio`` delta at once; the whole clip follows as one
    :class:`MediaDelta` with ``streamed=True``, which is what the step stores."""

    data: bytes
    sample_rate: int


@dataclass(frozen=True)
class TextAnnotations:
    """Annotations (e.g. ``word_info``) of the text emitted so far in the current
    model_output; their ``start_index``/``end_index`` are byte offsets in that text."""

    annotations: list[dict[str, Any]]


@dataclass(frozen=True)
class MediaChunk:
    """A part of a generated image or audio clip that streams in: the chunks up to the
    one marked ``last`` are, concatenated, one item (``seconds`` is then its duration
    when known). The first chunk's ``mime_type`` and rates describe the item."""

    kind: str
    data: bytes
    mime_type: str
    sample_rate: int | None = None
    channels: int | None = None
    last: bool = False
    seconds: float | None = None


@dataclass(frozen=True)
class TokenLogprobs:
    """Log-probabilities of the candidates for the first answer token (``top_logprobs``),
    emitted when ``generation["logprobs"]`` asks for them and the dialect has them."""

    top: dict[str, float]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    thought_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class Finish:
    """``reason`` is one of ``stop``, ``length``, ``tool_calls``, ``content_filter``, ``other``."""

    reason: str = "stop"


ProviderEvent = (
    TextDelta
    | ThoughtDelta
    | ThoughtSignature
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | MediaDelta
    | AudioChunk
    | TextAnnotations
    | MediaChunk
    | TokenLogprobs
    | Usage
    | Finish
)


class Provider(abc.ABC):
    """Base class of every model provider."""

    kind: ClassVar[str]
    #: input modalities this dialect accepts besides text
    input_modalities: ClassVar[frozenset[str]] = frozenset()
    #: whether the dialect can constrain output to a JSON schema natively
    native_structured_output: ClassVar[bool] = False
    #: whether the dialect validates function-call arguments itself (tool choice
    #: ``validated``); otherwise Junction does, with one repair round
    native_validated_calls: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings

    @property
    def name(self) -> str:
        return self.config.name

    def missing_settings(self) -> str | None:
        """Name the setting that is missing for this provider to work, if any."""
        return None

    def realtime(self, model: str) -> RealtimeBackend | None:
        """The realtime API that serves ``model`` (OpenAI Realtime, Gemini Live), or None.
        A provider whose dialect has one calls it from :meth:`stream` for such models."""
        from junction.realtime.base import backend_for

        return backend_for(self, model)

    def check(self, request: ModelRequest) -> None:
        """Reject input this provider cannot take: a 400 naming the model and modality."""
        found = modalities_of(request.steps[request.history_len :]) | request.history_modalities
        for modality in sorted(found - self.input_modalities):
            raise BadRequest(
                f"model '{self.name}/{request.model}' does not accept {modality} input "
                f"(the {self.kind} dialect takes text"
                + "".join(f", {m}" for m in sorted(self.input_modalities))
                + "); remove the item or choose another model"
            )

    def check_options(self, request: ModelRequest) -> None:
        """Refuse request options this dialect cannot honour (a 400 naming the field and
        the model). The default suits a dialect with none of them: only the
        ``standard`` service tier, safety settings that ask for no extra filtering, no
        ``cached_content``; ``thinking_summaries`` applies to whatever thoughts the
        dialect returns (``none`` drops them, in the runner)."""
        gen, model_id = request.generation, f"{self.name}/{request.model}"
        options.check_tier(
            gen.get("service_tier"),
            model_id,
            frozenset({"standard"}),
            "remove the field or choose a model whose provider has tiers",
        )
        options.check_safety(gen.get("safety_settings"), model_id, self.kind)
        options.check_no_cache(gen.get("cached_content"), model_id)

    def output_modalities(self, model: str) -> frozenset[str]:
        """What ``model`` can produce (the model table, overridable per model id in
        ``junction.toml``; a model served by a realtime API speaks)."""
        produced = modalities_for(self.kind, self.name, model, self.settings)
        if produced == {"text"} and self.realtime(model) is not None:
            return frozenset({"text", "audio"})  # speech and its transcript
        return produced

    def check_output(self, request: ModelRequest) -> None:
        """Refuse output options this dialect cannot honour (a 400 naming the field).
        Called only for requests whose model produces the asked modalities."""

    def transcribes(self, model: str) -> bool:
        """Whether ``model`` is a transcription model (it transcribes audio whether or not
        ``transcription_config`` is set)."""
        return False

    def check_transcription(self, request: ModelRequest) -> None:
        """Refuse ``transcription_config`` options this dialect cannot honour (a 400
        naming the field and the model); by default the model does not transcribe."""
        raise BadRequest(
            f"generation_config.transcription_config: model '{self.name}/{request.model}' "
            "does not transcribe audio; choose a model that does, e.g. openai/whisper-1, "
            "openai/gpt-4o-transcribe, a gemini model or offline/transcribe"
        )

    @abc.abstractmethod
    def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Call the model and yield its output as events (see module docstring)."""

    async def aclose(self) -> None:
        """Release connections."""


def modalities_of(steps: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for step in steps:
        for key in ("content", "summary"):
            items = step.get(key)
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict) and item.get("type") not in (None, "text"):
                    found.add(item["type"])
        result = step.get("result")
        if isinstance(result, list):
            for item in result:
                if isinstance(item, dict) and item.get("type") in (
                    "image",
                    "audio",
                    "video",
                    "document",
                ):
                    found.add(item["type"])
    return found


_REGISTRY: dict[str, type[Provider]] = {}
P = TypeVar("P", bound=type[Provider])


def register(kind: str) -> Callable[[P], P]:
    def decorate(cls: P) -> P:
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return decorate


def provider_class(kind: str) -> type[Provider]:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise BadRequest(
            f"unknown provider type '{kind}' (known: {', '.join(sorted(_REGISTRY))})"
        ) from None
