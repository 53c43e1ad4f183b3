"""The workspace a run works in: the environment a create names (or, for an agent that
names none, a fresh copy of its base environment), and the instructions that environment
adds to the run (its ``system_instruction``; for an agent, AGENTS.md and skills)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from junction.agents.run import workspace_instructions
from junction.agents.service import ResolvedAgent
from junction.errors import BadRequest, NotFound
from junction.schema.requests import CreateInteraction

if TYPE_CHECKING:
    from junction.agents.mender import CodeMender
    from junction.runtime.environments import EnvironmentService
    from junction.runtime.runner import RunSpec


async def environment_for(
    environments: EnvironmentService | None,
    mender: CodeMender | None,
    req: CreateInteraction,
    agent: ResolvedAgent | None,
    project_id: str,
) -> str | None:
    """The environment the request names; for an agent without one, a fresh copy of
    the agent's base environment (runs of one agent do not share a workspace)."""
    spec: Any = req.environment
    if agent is not None and agent.task is not None and mender is not None:
        spec = mender.environment(agent.task, spec, agent.base_environment is not None)
    if spec is None and agent is not None and agent.base_environment is not None:
        base = agent.base_environment
        spec = (
            {"environment_id": None, **base}
            if isinstance(base, dict)
            else {"from_environment": base}
        )
    if spec is None:
        return None
    if environments is None:
        raise BadRequest("environments are not available in this process")
    if isinstance(spec, dict) and "from_environment" in spec:
        return str((await environments.create(project_id, spec))["id"])
    return await environments.for_interaction(project_id, spec)


async def add_workspace_instructions(
    environments: EnvironmentService | None,
    spec: RunSpec,
    project_id: str,
    environment_id: str,
    *,
    agent: bool = True,
) -> None:
    """The environment's ``system_instruction``, then (for an agent) the workspace's
    AGENTS.md and skills, after the instructions the run already has."""
    assert environments is not None
    try:
        row = await environments.get_row(project_id, environment_id)
    except NotFound:
        if agent:
            raise
        return  # a model run's environment deleted since: nothing to add
    parts = [row["system_instruction"]] if row.get("system_instruction") else []
    if agent:
        box = await environments.sandbox(project_id, environment_id, touch=False)
        parts.append(await workspace_instructions(box))
    for extra in filter(None, parts):
        spec.system_instruction = (
            spec.system_instruction + "\n\n" + extra if spec.system_instruction else extra
        )
