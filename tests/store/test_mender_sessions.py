"""Code-mender sessions on a real SQLite and PostgreSQL database: scoped by project, at
most ``max_sessions`` per project (starting one more drops the least recently used, and
continuing a session makes it recent), one model per session."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from junction.agents.mender import CodeMender
from junction.errors import BadRequest, Conflict
from junction.sandbox.base import Sandbox
from junction.store.db import Database
from junction.store.mender_sessions import MenderSessionRows


async def _no_sandbox(project_id: str, env_id: str) -> Sandbox:
    raise AssertionError("sessions alone need no sandbox")


async def _start(mender: CodeMender, project: str, session: str, model: str = "m") -> None:
    """One interaction of the session, begun and (as far as the session knows) ended."""
    config = {"session_id": session, "find_request": {}}
    plan = await mender.plan(project, config, config)
    interaction = f"int_{secrets.token_hex(4)}"
    await mender.begin(plan, project, "env_1", model, interaction)
    await mender.rows.release(project, session, interaction)


async def test_sessions_are_scoped_limited_and_pinned_to_a_model(db: Database) -> None:
    mender = CodeMender(db, _no_sandbox, max_rounds_cap=100, max_sessions=2)
    rows = MenderSessionRows(db)
    for name in ("s1", "s2", "s3"):
        await _start(mender, "p1", name)
    assert await rows.get("p1", "s1") is None  # the least recently used went
    assert await rows.get("p1", "s2") is not None and await rows.count("p1") == 2
    await _start(mender, "p1", "s2")  # continuing s2 makes it the most recent
    await _start(mender, "p1", "s4")
    assert await rows.get("p1", "s3") is None
    kept = await rows.get("p1", "s2")
    assert kept is not None and kept.interactions == 2 and kept.max_rounds == 30
    # Another project's session of the same name is its own.
    await _start(mender, "p2", "s2", model="other")
    theirs = await rows.get("p2", "s2")
    assert theirs is not None and theirs.model == "other" and theirs.interactions == 1
    assert await rows.count("p1") == 2
    # One session, one model.
    config = {"session_id": "s2", "model": "other", "find_request": {}}
    with pytest.raises(BadRequest, match=r"agent_config.model 'other'"):
        await mender.plan("p1", config, config)


async def test_of_two_interactions_taking_a_session_at_once_one_wins(db: Database) -> None:
    """The take is one statement: of two at once exactly one gets the session; the other
    is a 409 naming the winner, until the winner's interaction has ended (or, never
    written, its take has gone stale)."""
    mender = CodeMender(db, _no_sandbox, max_rounds_cap=100)
    await _start(mender, "p1", "s1")
    config = {"session_id": "s1", "find_request": {}}
    plans = [await mender.plan("p1", config, config) for _ in range(2)]
    outcomes = await asyncio.gather(
        *[mender.begin(plan, "p1", "env_1", "m", f"int_{i}") for i, plan in enumerate(plans)],
        return_exceptions=True,
    )
    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1, outcomes
    lost = outcomes[1 - winners[0]]
    assert isinstance(lost, Conflict) and f"interaction 'int_{winners[0]}'" in lost.message
    session = await mender.rows.get("p1", "s1")
    assert session is not None and session.running_interaction == f"int_{winners[0]}"
    assert session.interactions == 2
    # never written and not stale: still taken
    again = await mender.plan("p1", config, config)
    with pytest.raises(Conflict):
        await mender.begin(again, "p1", "env_1", "m", "int_late")
