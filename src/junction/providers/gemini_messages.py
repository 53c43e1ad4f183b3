"""Translation of a :class:`ModelRequest` into ``google-genai`` SDK types: the steps become
``Content`` turns, the tools, tool choice, generation settings and response schema become
a ``GenerateContentConfig``.

Thought signatures follow Gemini's rule: a signature belongs to the model part that
follows its thought, so a ``thought`` step's signature is attached to the next model part
(text or function call) of the same turn; when no such part follows, it is sent on an
empty text part, as Gemini itself returns trailing signatures. Thought summaries are not
sent back (Gemini ignores thought text in history). A signature that is not base64 (one
produced by another provider) is dropped rather than sent to fail validation.
"""

from __future__ import annotations

import binascii
import mimetypes
from base64 import b64decode
from typing import Any

from google.genai import types

from junction import jsonutil

_MEDIA = ("image", "audio", "video", "document")
_MODES = {
    "auto": types.FunctionCallingConfigMode.AUTO,
    "any": types.FunctionCallingConfigMode.ANY,
    "none": types.FunctionCallingConfigMode.NONE,
    "validated": types.FunctionCallingConfigMode.VALIDATED,
}
_RESOLUTIONS = {
    "low": types.PartMediaResolutionLevel.MEDIA_RESOLUTION_LOW,
    "medium": types.PartMediaResolutionLevel.MEDIA_RESOLUTION_MEDIUM,
    "high": types.PartMediaResolutionLevel.MEDIA_RESOLUTION_HIGH,
    "ultra_high": types.PartMediaResolutionLevel.MEDIA_RESOLUTION_ULTRA_HIGH,
}


def decode_base64(data: str) -> bytes | None:
    """Standard or URL-safe base64 (padding optional); ``None`` when it is neither."""
    padded = data + "=" * (-len(data) % 4)
    for altchars in (None, b"-_"):
        try:
            return b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def _media_part(item: dict[str, Any]) -> types.Part:
    kind = item.get("type", "media")
    resolution = _RESOLUTIONS.get(str(item.get("resolution") or "").lower())
    media_resolution = types.PartMediaResolution(level=resolution) if resolution else None
    mime_type = item.get("mime_type")
    if item.get("data"):
        data = decode_base64(item["data"])
        if data is None:
            raise ValueError(f"'data' of a {kind} item is not valid base64")
        return types.Part(
            inline_data=types.Blob(data=data, mime_type=mime_type),
            media_resolution=media_resolution,
        )
    uri = item.get("uri") or ""
    mime_type = mime_type or mimetypes.guess_type(uri)[0]
    return types.Part(
        file_data=types.FileData(file_uri=uri, mime_type=mime_type),
        media_resolution=media_resolution,
    )


def _content_parts(items: list[dict[str, Any]] | None) -> list[types.Part]:
    parts: list[types.Part] = []
    for item in items or ():
        if item.get("type") == "text":
            parts.append(types.Part(text=item.get("text", "")))
        elif item.get("type") in _MEDIA:
            parts.append(_media_part(item))
    return parts


def _function_response(step: dict[str, Any]) -> types.Part:
    result = step.get("result")
    media: list[types.FunctionResponsePart] = []
    if (
        isinstance(result, list)
        and result
        and all(isinstance(i, dict) and i.get("type") in ("text", *_MEDIA) for i in result)
    ):
        # A list of content items: text goes in the response, media as response parts.
        texts = [i.get("text", "") for i in result if i["type"] == "text"]
        for item in result:
            if item["type"] in _MEDIA:
                part = _media_part(item)
                if part.inline_data is not None:
                    media.append(
                        types.FunctionResponsePart(
                            inline_data=types.FunctionResponseBlob(
                                data=part.inline_data.data, mime_type=part.inline_data.mime_type
                            )
                        )
                    )
                elif part.file_data is not None:
                    media.append(
                        types.FunctionResponsePart(
                            file_data=types.FunctionResponseFileData(
                                file_uri=part.file_data.file_uri, mime_type=part.file_data.mime_type
                            )
                        )
                    )
        result = "\n".join(texts)
    if step.get("is_error"):
        response = {"error": result}
    elif isinstance(result, dict):
        response = result
    else:
        response = {"result": result}
    return types.Part(
        function_response=types.FunctionResponse(
            id=step.get("call_id"),
            name=step.get("name") or "",
            response=response,
            parts=media or None,
        )
    )


class _Turns:
    """Builds Content turns, merging consecutive parts of the same role."""

    def __init__(self) -> None:
        self.contents: list[types.Content] = []
        self.signature: bytes | None = None

    def add(self, role: str, parts: list[types.Part]) -> None:
        if not parts:
            return
        if role == "model" and self.signature is not None:
            parts[0].thought_signature = self.signature
            self.signature = None
        elif role == "user":
            self.flush()
        if self.contents and self.contents[-1].role == role:
            assert self.contents[-1].parts is not None
            self.contents[-1].parts.extend(parts)
        else:
            self.contents.append(types.Content(role=role, parts=parts))

    def thought(self, signature: bytes) -> None:
        self.flush()
        self.signature = signature

    def flush(self) -> None:
        """Send a signature that no model part followed on an empty text part."""
        if self.signature is not None:
            self.add("model", [types.Part(text="")])


def to_contents(steps: list[dict[str, Any]]) -> list[types.Content]:
    turns = _Turns()
    for step in steps:
        kind = step.get("type")
        if kind == "user_input":
            turns.add("user", _content_parts(step.get("content")))
        elif kind == "model_output":
            turns.add("model", _content_parts(step.get("content")))
        elif kind == "thought":
            signature = decode_base64(step["signature"]) if step.get("signature") else None
            if signature:
                turns.thought(signature)
        elif kind == "function_call":
            call = types.FunctionCall(
                id=step.get("id"), name=step["name"], args=step.get("arguments") or {}
            )
            turns.add("model", [types.Part(function_call=call)])
        elif kind == "function_result":
            turns.add("user", [_function_response(step)])
    turns.flush()
    return turns.contents


def tool_config(choice: str | dict[str, Any] | None) -> types.ToolConfig | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mode, names = choice, None
    else:
        allowed = choice.get("allowed_tools") or {}
        mode, names = allowed.get("mode", "auto"), list(allowed.get("tools") or []) or None
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=_MODES[mode],
            allowed_function_names=names,
        )
    )


def build_config(
    *,
    system_instruction: str | None,
    tools: list[dict[str, Any]],
    tool_choice: str | dict[str, Any] | None,
    generation: dict[str, Any],
    response_schema: dict[str, Any] | None,
) -> types.GenerateContentConfig:
    config = types.GenerateContentConfig(
        system_instruction=system_instruction or None,
        temperature=generation.get("temperature"),
        top_p=generation.get("top_p"),
        seed=generation.get("seed"),
        max_output_tokens=generation.get("max_output_tokens"),
        stop_sequences=generation.get("stop_sequences") or None,
        # Tools are declarations only: Junction runs the function-calling loop itself.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    declarations = [
        types.FunctionDeclaration(
            name=tool["name"],
            description=tool.get("description"),
            parameters_json_schema=tool.get("parameters") or None,
        )
        for tool in tools
        if tool.get("type") == "function"
    ]
    if declarations:
        config.tools = [types.Tool(function_declarations=declarations)]
        config.tool_config = tool_config(tool_choice)
    level, summaries = generation.get("thinking_level"), generation.get("thinking_summaries")
    if level or summaries:
        config.thinking_config = types.ThinkingConfig(
            thinking_level=types.ThinkingLevel(level.upper()) if level else None,
            include_thoughts={"auto": True, "none": False}.get(summaries or ""),
        )
    if generation.get("service_tier"):
        config.service_tier = types.ServiceTier(generation["service_tier"].upper())
    if generation.get("safety_settings"):
        config.safety_settings = [
            types.SafetySetting(
                category=types.HarmCategory(f"HARM_CATEGORY_{s['type'].upper()}"),
                threshold=types.HarmBlockThreshold(s["threshold"].upper()),
            )
            for s in generation["safety_settings"]
        ]
    if generation.get("cached_content"):
        config.cached_content = generation["cached_content"]
    if generation.get("logprobs"):  # the Decisions API: top candidates per token
        config.response_logprobs = True
        config.logprobs = min(20, int(generation["logprobs"]))
    if response_schema is not None:
        config.response_mime_type = "application/json"
        if response_schema:
            config.response_json_schema = response_schema
    return config


def arguments_json(args: dict[str, Any] | None) -> str:
    return jsonutil.dumps(args or {})
