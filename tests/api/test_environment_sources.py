"""Environment sources from a repository: a git repository or a plain directory the
operator allowed, copied into the new workspace; other host paths are refused."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from google.genai import _interactions_errors as gerr

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, REQUIRE_SANDBOX, Junction, traversable


@pytest.fixture
def sourced(
    fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Junction, Path]]:
    tmp = tmp_path_factory.mktemp("sources")
    traversable(tmp)
    allowed = tmp / "allowed"
    allowed.mkdir()
    settings = load_settings(
        env={"JUNCTION_API_KEY": API_KEY, "JUNCTION_ENVIRONMENT_SOURCE_DIRS": str(allowed)},
        overrides={
            "database_url": f"sqlite:///{tmp / 'j.db'}",
            "data_dir": tmp,
            "access_log": False,
        },
    )
    thread = JunctionThread(settings).start()
    yield Junction(thread, "sqlite", settings.resolved_database_url, API_KEY), allowed
    thread.stop()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin",
        },
    )


def test_repository_sources(sourced: tuple[Junction, Path]) -> None:
    junction, allowed = sourced
    probe = httpx.post(
        f"{junction.url}/v1beta/environments", json={}, headers={"x-goog-api-key": junction.api_key}
    )
    if probe.status_code == 503:
        if REQUIRE_SANDBOX:
            pytest.fail(f"the sandbox is required: {probe.text}")
        pytest.skip(probe.json()["error"]["message"])
    repo = allowed / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("print('from git')\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    plain = allowed / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("just a folder\n")
    client = junction.client()
    env = client.environments.create(
        sources=[
            {"type": "repository", "source": str(repo), "target": "code"},
            {"type": "repository", "source": f"file://{plain}", "target": "docs"},
        ]
    )
    files = client.environments.files
    assert files.download(environment=env.id, path="code/src/app.py") == b"print('from git')\n"
    assert files.download(environment=env.id, path="docs/notes.txt") == b"just a folder\n"
    names = [f.path for f in files.list(environment=env.id, path="code", recursive=True).files]
    assert not any(".git" in n for n in names)
    with pytest.raises(gerr.BadRequestError, match="JUNCTION_ENVIRONMENT_SOURCE_DIRS"):
        client.environments.create(sources=[{"type": "repository", "source": "/etc"}])
    with pytest.raises(gerr.BadRequestError, match="not supported"):
        client.environments.create(sources=[{"type": "gcs", "source": "gs://b/x"}])
