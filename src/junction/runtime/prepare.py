"""Validation and resolution of a create request, before anything is written: every
problem found here is a 4xx that changes nothing."""

from __future__ import annotations

from typing import Any

from junction.errors import BadRequest
from junction.media import by_uri
from junction.providers import options
from junction.providers.base import ModelRequest
from junction.providers.registry import ProviderRouter
from junction.runtime import output, structured, transcription
from junction.runtime.context import Context
from junction.runtime.runner import RunSpec
from junction.schema.guards import check_depth
from junction.schema.requests import CreateInteraction
from junction.tools.base import ServerTool, ToolServices, available_kinds, tool_class


def check_tools(
    req: CreateInteraction, services: ToolServices | None
) -> tuple[list[dict[str, Any]], list[ServerTool]]:
    """Client functions (passed to the model as declared) and server-side tool instances.
    A tool type this server cannot run is refused, never silently dropped."""
    declared = [t.model_dump(mode="json", exclude_none=True) for t in req.tools or []]
    functions: list[dict[str, Any]] = []
    server: list[ServerTool] = []
    names: set[str] = set()
    for tool in declared:
        if tool["type"] == "function":
            if tool["name"] in names:
                raise BadRequest(f"function '{tool['name']}' is declared twice in 'tools'")
            names.add(tool["name"])
            functions.append(tool)
            continue
        cls = tool_class(tool["type"])
        if cls is None or services is None:
            raise BadRequest(
                f"tool type '{tool['type']}' is not available on this server (available: "
                + ", ".join(["function", *available_kinds()])
                + ")"
            )
        server.append(cls(tool, services))
    for instance in server:
        for fn in instance.functions():
            if fn["name"] in names:
                raise BadRequest(
                    f"function '{fn['name']}' clashes with the {instance.kind} tool: rename it"
                )
            names.add(fn["name"])
    choice = req.generation_config.tool_choice if req.generation_config else None
    if choice is not None and not isinstance(choice, str):
        unknown = [n for n in choice.allowed_tools.tools if n not in names]
        if unknown:
            raise BadRequest(
                "generation_config.tool_choice.allowed_tools names undeclared tools: "
                + ", ".join(unknown)
            )
    return functions, server


def check_schema_depths(req: CreateInteraction, limit: int) -> None:
    """Function parameter schemas and the response schema nest at most ``limit`` levels
    (deeper schemas cost every validation and every provider call)."""
    for index, tool in enumerate(req.tools or []):
        parameters = getattr(tool, "parameters", None)
        if parameters is not None:
            check_depth(parameters, limit, f"tools[{index}].parameters", "max_schema_depth")
    schema = req.json_schema()
    if schema:
        check_depth(schema, limit, "response_format.schema", "max_schema_depth")


def check_function_results(
    history: list[dict[str, Any]], turn: list[dict[str, Any]], previous_status: str | None
) -> None:
    """Function results must answer pending calls, and a requires_action turn needs an
    answer for every call it made. ``history`` is the previous interaction's own steps
    (results answer the turn before them) or empty."""
    answered = {s["call_id"] for s in history if s["type"] == "function_result"}
    calls = {s["id"]: s for s in history if s["type"] == "function_call"}
    pending = [cid for cid in calls if cid not in answered]
    given: set[str] = set()
    for step in turn:
        if step["type"] == "function_call":
            calls[step["id"]] = step
        if step["type"] != "function_result":
            continue
        cid = step["call_id"]
        if cid not in calls:
            raise BadRequest(
                f"function_result for call_id '{cid}' matches no function call of the "
                "conversation's last turn"
                + (f" (pending: {', '.join(pending)})" if pending else "")
            )
        if cid in answered or cid in given:
            raise BadRequest(f"function call '{cid}' has already been answered")
        given.add(cid)
    if previous_status == "requires_action":
        missing = [cid for cid in pending if cid not in given]
        if missing:
            names = ", ".join(f"'{cid}' ({calls[cid]['name']})" for cid in missing)
            raise BadRequest(
                f"the previous interaction is waiting for function results: send a "
                f"function_result step for call {names}"
            )


def build_spec(
    req: CreateInteraction,
    router: ProviderRouter,
    history: Context,
    turn: list[dict[str, Any]],
    services: ToolServices | None = None,
    voices: dict[str, dict[str, Any]] | None = None,
    fetched: dict[str, dict[str, str]] | None = None,
) -> RunSpec:
    assert req.model is not None
    check_schema_depths(req, router.settings.max_schema_depth)
    asked = output.requested(req)
    transcribe = transcription.parse(req)
    provider, local_model = router.resolve(req.model)
    transcription.refuse_video(req)
    spec_output = output.resolve(
        req, req.model, provider.output_modalities(local_model), asked, voices or {}
    )
    tools, server_tools = check_tools(req, services)
    schema = req.json_schema()
    if schema:
        structured.check_schema(schema)
    generation: dict[str, Any] = {}
    tool_choice: str | dict[str, Any] | None = None
    if req.generation_config is not None:
        generation = req.generation_config.model_dump(mode="json", exclude_none=True)
        raw_choice = generation.pop("tool_choice", None)
        tool_choice = raw_choice
        generation.pop("image_config", None)
        generation.pop("speech_config", None)
        generation.pop("transcription_config", None)
        generation.pop("video_config", None)
    generation.update(options.request_options(req))
    spec = RunSpec(
        provider=provider,
        model=local_model,
        history=history.steps,
        history_modalities=history.modalities,
        history_key=(history.chain_id, history.last_seq) if history.steps else None,
        history_media=history.media,
        system_instruction=req.system_instruction,
        tools=tools,
        tool_choice=tool_choice,
        generation=generation,
        response_schema=schema,
        stream=req.stream or req.background,
        server_tool_list=server_tools,
        model_id=req.model,
        output=spec_output,
        fetched=fetched or {},
    )
    check = ModelRequest(
        model=local_model,
        steps=by_uri.inline(history.steps + turn, fetched or {}),
        history_len=len(history.steps),
        history_modalities=history.modalities,
        system_instruction=req.system_instruction,
        tools=tools,
        tool_choice=tool_choice,
        generation=generation,
        output=spec_output,
    )
    spec.transcription = transcription.check(
        transcribe, provider, check, req.model, spec_output, schema, len(server_tools)
    )
    provider.check(check)
    provider.check_options(check)
    if spec_output.media:
        if schema is not None:
            raise BadRequest(
                "response_format asks for a JSON schema and for media output: ask for one of them"
            )
        if (tools or server_tools) and "text" not in spec_output.modalities:
            raise BadRequest(
                f"model '{req.model}' makes {', '.join(sorted(spec_output.modalities))} "
                "only and calls no tools: remove 'tools'"
            )
        provider.check_output(check)
    return spec
