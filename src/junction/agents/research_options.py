"""The research agent's options: ``agent_config`` of type ``deep-research``.

Every field of the SDK's ``DeepResearchAgentConfig`` takes effect or is refused (400)
when the interaction is created:

* ``collaborative_planning`` (bool): the first turn only plans (see ``service.spec_for``);
* ``thinking_summaries`` (``auto`` | ``none``): the model's reasoning comes back as
  ``thought`` steps with summaries, or without them;
* ``visualization`` (``off`` | ``auto``): with ``auto`` the agent gets ``code_execution``
  in its environment and is told to draw charts with matplotlib; the PNG files it writes
  are attached to its answer as ``image`` content (:mod:`junction.agents.charts`);
* ``enable_bigquery_tool`` (bool): Junction has no BigQuery of its own; the tool is an
  MCP server named ``bigquery`` in the agent's or the request's tools. ``true`` without
  one is refused; ``false`` leaves it out of the run;
* ``type``: ``deep-research`` (or ``dynamic``) for a research agent.

The same fields on a general agent would do nothing, so they are refused there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from junction.errors import BadRequest

RESEARCH_FIELDS = (
    "collaborative_planning",
    "thinking_summaries",
    "visualization",
    "enable_bigquery_tool",
)
BIGQUERY_SERVER = "bigquery"
VISUALIZE = (
    "Visualization: where a chart makes the report clearer (a trend, a comparison, a "
    "distribution), draw it with `code_execution` in Python with matplotlib "
    "(`import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt`) and save "
    "it as a PNG file under charts/ in your workspace, e.g. "
    "`plt.savefig('charts/sales.png', dpi=100)`. Every PNG file you write is attached to "
    "your report as an image: refer to each chart in the text by its file name."
)


@dataclass(frozen=True)
class ResearchOptions:
    collaborative_planning: bool = False
    thinking_summaries: str | None = None
    visualization: bool = False
    #: None: the agent's tools as they are; True/False: a ``bigquery`` MCP server kept/left out
    bigquery: bool | None = None

    def tools(self, agent_id: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The run's tools with the options applied (BigQuery, code execution for charts)."""

        def is_bigquery(tool: dict[str, Any]) -> bool:
            return tool.get("type") == "mcp_server" and tool.get("name") == BIGQUERY_SERVER

        if self.bigquery is False:
            tools = [t for t in tools if not is_bigquery(t)]
        elif self.bigquery and not any(is_bigquery(t) for t in tools):
            raise BadRequest(
                "agent_config.enable_bigquery_tool: no BigQuery tool is configured for agent "
                f"'{agent_id}'. Junction reaches BigQuery through an MCP server: add "
                f'{{"type": "mcp_server", "name": "{BIGQUERY_SERVER}", "url": "https://…"}} '
                "to the agent's tools (or this request's tools), or leave the option out"
            )
        if self.visualization and not any(t.get("type") == "code_execution" for t in tools):
            tools = [*tools, {"type": "code_execution"}]
        return tools

    def instruction(self) -> str:
        return VISUALIZE if self.visualization else ""

    def generation(self) -> dict[str, Any]:
        return {"thinking_summaries": self.thinking_summaries} if self.thinking_summaries else {}


def _choice(config: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if value not in allowed:
        raise BadRequest(
            f"agent_config.{key} must be one of {', '.join(repr(a) for a in allowed)}, "
            f"not {value!r}"
        )
    return str(value)


def _flag(config: dict[str, Any], key: str) -> bool | None:
    value = config.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"agent_config.{key} must be true or false, not {value!r}")
    return value


def research_options(
    kind: str, agent_id: str, config: dict[str, Any], config_type: Any = None
) -> ResearchOptions:
    """The research options of a run of ``agent_id`` (of ``kind``), validated. ``config``
    is the agent's own ``agent_config`` under the request's; ``config_type`` the request's
    ``type`` (a custom agent's stored config is typed ``antigravity`` by the SDK whatever
    its base, so only the request's type is checked)."""
    types = {"research": "deep-research", "general": "antigravity"}
    kind_of_type = {t: k for k, t in types.items()}.get(str(config_type))
    # other kinds (the code-mender agent) check their own config's type
    if kind in types and kind_of_type is not None and kind_of_type != kind:
        raise BadRequest(
            f"agent_config.type '{config_type}' configures a {kind_of_type} agent, and "
            f"'{agent_id}' is a {kind} agent: use type '{types[kind]}'"
        )
    if kind != "research":
        for key in RESEARCH_FIELDS:
            if config.get(key) is not None:
                raise BadRequest(
                    f"agent_config.{key} configures the research agent (type 'deep-research'); "
                    f"'{agent_id}' is a {kind} agent: leave it out"
                )
        return ResearchOptions()
    return ResearchOptions(
        collaborative_planning=bool(_flag(config, "collaborative_planning")),
        thinking_summaries=_choice(config, "thinking_summaries", ("auto", "none")),
        visualization=_choice(config, "visualization", ("off", "auto")) == "auto",
        bigquery=_flag(config, "enable_bigquery_tool"),
    )
