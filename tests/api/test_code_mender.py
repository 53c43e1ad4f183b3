"""The code-mender agent through the official SDK: a git repository with a bug and a
failing test is copied into an environment; a find_request reports the bug (the scripted
model runs the tests in the real sandbox), a fix_request in the same session edits the
workspace and answers with a patch that ``git apply`` takes and that makes the test pass;
sessions keep the model, the environment, the findings and the round limit; invalid
configurations are refused with a 400 naming the field."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.api.hardening_support import query
from tests.conftest import REQUIRE_SANDBOX, Junction, _start

MODEL = "openai/agent-model"
CALC = "def add(a, b):\n    return a - b\n"
TEST = (
    "import unittest\n\nfrom calc import add\n\n\n"
    "class AddTest(unittest.TestCase):\n"
    "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n"
)
FINDING = {
    "id": "F1",
    "title": "add() subtracts",
    "severity": "medium",
    "file": "calc.py",
    "line": 2,
    "description": "add returns a - b; test_add fails with -1 != 5",
}
RUN_TESTS = "python3 -m unittest 2>&1 | tail -n 1"
FIX = "sed -i 's/a - b/a + b/' calc.py && " + RUN_TESTS
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "PATH": "/usr/bin:/bin",
}


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=GIT_ENV,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tests_pass(repo: Path) -> bool:
    done = subprocess.run(
        ["python3", "-B", "-m", "unittest"], cwd=repo, capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def mender(
    fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Junction, Path]]:
    """A server that may copy repositories from one allowed directory, holding a git
    repository with a bug (``add`` subtracts) and a test that fails because of it. (The
    other tests run on the shared servers, both databases, with inline sources.)"""
    tmp = tmp_path_factory.mktemp("mender")
    allowed = tmp / "repos"
    repo = allowed / "calc"
    repo.mkdir(parents=True)
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TEST)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "calc with a bug")
    server = _start(
        f"sqlite:///{tmp / 'j.db'}",
        fake_openai,
        "sqlite",
        tmp,
        environment_source_dirs=(str(allowed),),
    )
    probe = httpx.post(
        f"{server.url}/v1beta/environments", json={}, headers={"x-goog-api-key": server.api_key}
    )
    if probe.status_code == 503:
        server.thread.stop()
        if REQUIRE_SANDBOX:
            pytest.fail(f"the sandbox is required: {probe.text}")
        pytest.skip(probe.json()["error"]["message"])
    yield server, repo
    server.thread.stop()


def _repo_env(client: genai.Client, repo: Path) -> str:
    env = client.environments.create(sources=[{"type": "repository", "source": str(repo)}])
    return str(env.id)


def _inline_env(client: genai.Client) -> str:
    """The same files, without the (slower) clone: for tests about sessions and refusals."""
    sources = [
        {"type": "inline", "target": "calc.py", "content": CALC},
        {"type": "inline", "target": "test_calc.py", "content": TEST},
    ]
    return str(client.environments.create(sources=sources).id)


def _system(fake: FakeOpenAI, index: int = 0) -> str:
    return str(fake.requests[index].body["messages"][0]["content"])


def _mender(client: genai.Client, config: dict[str, Any], **kwargs: Any) -> Any:
    return client.interactions.create(
        agent="code-mender", agent_config={"type": "code-mender", **config}, **kwargs
    )


def test_find_then_fix_in_a_session_yields_a_patch_that_makes_the_test_pass(
    mender: tuple[Junction, Path], openai_fake: FakeOpenAI, tmp_path: Path
) -> None:
    junction, repo = mender
    client = junction.client()
    env_id = _repo_env(client, repo)
    session = f"s-{secrets.token_hex(4)}"
    report = {"summary": "add() is wrong", "findings": [FINDING]}
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"language": "bash", "code": RUN_TESTS})]),
        Reply(text=json.dumps(report)),
    )
    found = _mender(
        client,
        {"model": MODEL, "session_id": session, "find_request": {"mode": "scan"}},
        input="Look for bugs in this repository.",
        environment=env_id,
    )
    assert found.status == "completed", found.errors
    assert found.environment_id == env_id
    echoed = client.interactions.get(found.id).agent_config  # the SDK's own type
    assert type(echoed).__name__ == "CodeMenderAgentConfig"
    assert echoed.session_id == session and echoed.find_request.mode == "scan"
    result = next(s for s in found.steps if s.type == "code_execution_result")
    assert "FAILED (failures=1)" in json.dumps(result.model_dump(mode="json"))
    assert json.loads(found.output_text) == report
    first = openai_fake.requests[0].body
    assert first["model"] == "agent-model"
    assert "code-mender agent" in _system(openai_fake) and "Task: FIND" in _system(openai_fake)
    schema = first["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["summary", "findings"]
    listed = client.environments.files.download(environment=env_id, path="calc.py")
    assert listed == CALC.encode()  # a find changes nothing

    # The fix continues the session: its model, environment and finding F1.
    openai_fake.reset()
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"language": "bash", "code": FIX})]),
        Reply(text=json.dumps({"summary": "add() now adds", "patch": "made up"})),
    )
    fixed = _mender(
        client,
        {"session_id": session, "fix_request": {"finding_id": "F1"}},
        input="Fix it.",
    )
    assert fixed.status == "completed", fixed.errors
    assert fixed.environment_id == env_id
    assert openai_fake.requests[0].body["model"] == "agent-model"  # the session's model
    system = _system(openai_fake)
    assert "Task: FIX" in system and "add() subtracts" in system
    ran = next(s for s in fixed.steps if s.type == "code_execution_result")
    assert "OK" in json.dumps(ran.model_dump(mode="json"))
    answer = json.loads(fixed.output_text)
    assert answer["summary"] == "add() now adds"
    assert answer["finding_id"] == "F1"
    assert answer["files_changed"] == ["calc.py"]
    patch = answer["patch"]
    assert patch.startswith("diff --git a/calc.py b/calc.py") and "made up" not in patch

    checkout = tmp_path / "checkout"
    shutil.copytree(repo, checkout)
    assert not _tests_pass(checkout)
    _git(checkout, "apply", "--check", "-", stdin=patch)
    _git(checkout, "apply", "-", stdin=patch)
    assert _tests_pass(checkout)
    assert _git(checkout, "status", "--porcelain").split() == ["M", "calc.py"]

    # A second fix in the session is relative to the first: nothing changed, no patch.
    openai_fake.reset()
    openai_fake.enqueue(Reply(text=json.dumps({"summary": "nothing left to fix"})))
    again = _mender(client, {"session_id": session, "fix_request": {}}, input="Anything else?")
    assert json.loads(again.output_text)["patch"] == ""
    assert "add() subtracts" in _system(openai_fake)  # the session's findings are offered


def test_verify_a_finding_and_the_round_limit_of_a_session(
    envs: genai.Client, openai_fake: FakeOpenAI
) -> None:
    client = envs
    env_id = _inline_env(client)
    session = f"s-{secrets.token_hex(4)}"
    openai_fake.enqueue(Reply(text=json.dumps({"summary": "one", "findings": [FINDING]})))
    _mender(
        client,
        {"model": MODEL, "session_id": session, "find_request": {}},
        input="scan",
        environment=env_id,
    )
    verified = {**FINDING, "id": "whatever", "verified": True}
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"language": "bash", "code": RUN_TESTS})]),
        Reply(text=json.dumps({"summary": "reproduced", "findings": [verified]})),
    )
    checked = _mender(
        client,
        {"session_id": session, "find_request": {"mode": "verify", "finding_id": "F1"}},
        input="verify F1",
    )
    assert checked.status == "completed", checked.errors
    assert "Task: VERIFY" in _system(openai_fake, -2)
    assert '"id":"F1"' in _system(openai_fake, -2)

    # session_config.max_rounds caps the model calls of each interaction of the session.
    openai_fake.reset()
    openai_fake.default = Reply(
        text="", tool_calls=[("code_execution", {"language": "bash", "code": "true"})]
    )
    capped = _mender(
        client,
        {
            "session_id": session,
            "session_config": {"max_rounds": 2},
            "fix_request": {"finding_id": "F1"},
        },
        input="fix",
    )
    assert capped.status == "incomplete"
    assert "2 model calls" in capped.errors[0].message
    assert len(openai_fake.requests) == 2
    assert '"verified":true' in _system(openai_fake)  # the verify was recorded
    openai_fake.requests.clear()
    kept = _mender(client, {"session_id": session, "fix_request": {}}, input="fix")
    assert kept.status == "incomplete" and len(openai_fake.requests) == 2  # kept by the session


def test_source_files_seed_a_new_workspace_without_an_environment(
    envs: genai.Client, openai_fake: FakeOpenAI
) -> None:
    client = envs
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"language": "bash", "code": FIX})]),
        Reply(text=json.dumps({"summary": "fixed"})),
    )
    files = [{"path": "calc.py", "content": CALC}, {"path": "test_calc.py", "content": TEST}]
    done = _mender(
        client,
        {"model": MODEL, "fix_request": {"source_files": files, "description": "add is off"}},
        input="fix add",
    )
    assert done.status == "completed", done.errors
    assert "add is off" in _system(openai_fake)
    answer = json.loads(done.output_text)
    assert answer["files_changed"] == ["calc.py"]
    assert "-    return a - b\n+    return a + b" in answer["patch"]


def _refused(client: genai.Client, match: str, config: dict[str, Any], **kwargs: Any) -> None:
    kwargs.setdefault("input", "go")
    with pytest.raises(gerr.BadRequestError, match=match):
        _mender(client, config, **kwargs)


def test_invalid_configurations_are_refused_naming_the_field(
    envs: genai.Client, openai_fake: FakeOpenAI
) -> None:
    client = envs
    env_id = _inline_env(client)
    session = f"s-{secrets.token_hex(4)}"
    openai_fake.enqueue(Reply(text=json.dumps({"summary": "one", "findings": [FINDING]})))
    _mender(
        client,
        {"model": MODEL, "session_id": session, "find_request": {}},
        input="scan",
        environment=env_id,
    )
    before = {e.id for e in client.environments.list(page_size=1000).environments or []}
    calls = len(openai_fake.requests)
    both = {"find_request": {}, "fix_request": {}}
    _refused(client, "find_request and agent_config.fix_request", both, environment=env_id)
    _refused(client, "find_request or agent_config.fix_request is required", {})
    _refused(client, r"find_request.mode", {"find_request": {"mode": "hunt"}})
    _refused(client, r"find_request.finding_id is required", {"find_request": {"mode": "verify"}})
    _refused(
        client,
        r"fix_request.finding_id names a finding of a session",
        {"fix_request": {"finding_id": "F1"}},
    )
    _refused(
        client,
        r"'F9' is not a finding",
        {"session_id": session, "fix_request": {"finding_id": "F9"}},
    )
    _refused(
        client,
        r"agent_config.model 'openai/other'",
        {"session_id": session, "model": "openai/other", "fix_request": {}},
    )
    other_env = _inline_env(client)
    before.add(other_env)
    _refused(
        client,
        r"'environment': session",
        {"session_id": session, "fix_request": {}},
        environment=other_env,
    )
    _refused(client, r"'environment' is required", {"model": MODEL, "fix_request": {}})
    bad_path = {"fix_request": {"source_files": [{"path": "../etc/passwd", "content": "x"}]}}
    _refused(client, r"source_files\[0\]\.path", bad_path)
    rounds = {"session_config": {"max_rounds": 0}, "find_request": {}}
    _refused(client, "session_config.max_rounds", rounds, environment=env_id)
    _refused(client, "session_id", {"session_id": "no spaces", "find_request": {}})
    _refused(client, "fix_request.patch is not", {"fix_request": {"patch": "x"}})
    _refused(
        client,
        "response_format",
        {"model": MODEL, "find_request": {}},
        environment=env_id,
        response_format={"type": "text", "mime_type": "application/json"},
    )
    with pytest.raises(gerr.BadRequestError, match=r"agent_config.type 'code-mender'"):
        client.interactions.create(
            agent="antigravity-preview-05-2026",
            agent_config={"type": "code-mender", "find_request": {}},
            input="go",
        )
    with pytest.raises(gerr.BadRequestError, match=r"agent_config.type must be 'code-mender'"):
        client.interactions.create(
            agent="code-mender", agent_config={"type": "antigravity"}, input="go"
        )
    # Nothing was created by a refused request: no environment, no model call.
    assert {e.id for e in client.environments.list(page_size=1000).environments or []} == before
    assert len(openai_fake.requests) == calls


def test_a_session_runs_one_interaction_at_a_time(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    """While an interaction of a session runs, another one in the session is a 409 that
    names it and changes nothing (no interaction, no snapshot); once it has ended the
    session takes the next."""
    client = envs
    env_id = _inline_env(client)
    session = f"s-{secrets.token_hex(4)}"
    report = json.dumps({"summary": "one", "findings": [FINDING]})
    openai_fake.enqueue(Reply(text=report, delay=2.0))
    first = _mender(
        client,
        {"model": MODEL, "session_id": session, "find_request": {}},
        input="scan",
        environment=env_id,
        background=True,
    )
    in_env = "SELECT COUNT(*) FROM interactions WHERE environment_id = $1"
    for config in (
        {"session_id": session, "fix_request": {}},
        {"session_id": session, "find_request": {}},
    ):
        with pytest.raises(gerr.ConflictError, match=f"interaction '{first.id}'"):
            _mender(client, config, input="again")
    assert query(junction.database_url, in_env, env_id) == [(1,)]
    names = [f.name for f in client.environments.files.list(environment=env_id, path="").files]
    assert ".code-mender" not in names  # the refused fix took no snapshot
    deadline = time.monotonic() + 30
    while client.interactions.get(first.id).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    openai_fake.enqueue(Reply(text=json.dumps({"summary": "fixed"})))
    fixed = _mender(
        client, {"session_id": session, "fix_request": {"finding_id": "F1"}}, input="fix"
    )
    assert fixed.status == "completed", fixed.errors
