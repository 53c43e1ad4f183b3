"""Code-mender sessions on a real SQLite and PostgreSQL database: scoped by project, at
most ``max_sessions`` per project (starting one more drops the least recently used, and
continuing a session makes it recent), one model per session."""

from __future__ import annotations

import pytest

from junction.agents.mender import CodeMender
from junction.errors import BadRequest
from junction.sandbox.base import Sandbox
from junction.store.db import Database
from junction.store.mender_sessions import MenderSessionRows


async def _no_sandbox(project_id: str, env_id: str) -> Sandbox:
    raise AssertionError("sessions alone need no sandbox")


async def _start(mender: CodeMender, project: str, session: str, model: str = "m") -> None:
    config = {"session_id": session, "find_request": {}}
    plan = await mender.plan(project, config, config)
    await mender.begin(plan, project, "env_1", model)


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
