"""Environments and the files API through the official SDK, on the real sandbox."""

from __future__ import annotations

import io
import secrets
import zipfile

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr
from google.genai import errors as genai_errors

from tests.conftest import Junction


def test_environment_lifecycle(envs: genai.Client) -> None:
    created = envs.environments.create(
        network="disabled",
        sources=[
            {"type": "inline", "target": "hello.txt", "content": "hi there"},
            {"type": "INLINE", "target": "bin/data.bin", "content": "AAEC", "encoding": "base64"},
        ],
    )
    assert created.id.startswith("env_") and created.status == "active"
    fetched = envs.environments.get(created.id)
    assert fetched.file_count == 2 and fetched.size_bytes >= 11
    assert envs.environments.files.download(environment=created.id, path="hello.txt") == b"hi there"
    assert (
        envs.environments.files.download(
            environment=f"environments/{created.id}", path="/bin/data.bin"
        )
        == b"\x00\x01\x02"
    )
    listed = envs.environments.list(page_size=1000, mode="on_demand")
    assert created.id in [e.id for e in listed.environments]
    envs.environments.delete(created.id)
    with pytest.raises(gerr.NotFoundError):
        envs.environments.get(created.id)


def test_from_environment_copies_the_workspace(envs: genai.Client) -> None:
    base = envs.environments.create(
        sources=[{"type": "inline", "target": "a/b.txt", "content": "base"}]
    )
    copy = envs.environments.create(from_environment=f"environments/{base.id}")
    envs.environments.files.upload(
        environment=base.id, path="a/b.txt", file=b"changed", overwrite=True
    )
    assert envs.environments.files.download(environment=copy.id, path="a/b.txt") == b"base"


def test_upload_list_download_and_overwrite(envs: genai.Client) -> None:
    env = envs.environments.create()
    result = envs.environments.files.upload(
        environment=env.id, path="src/main.py", file=b"print('hello')", mime_type="text/x-python"
    )
    assert result.files and result.files[0].name == "main.py"
    with pytest.raises(gerr.ConflictError):  # refused at the upload's start
        envs.environments.files.upload(environment=env.id, path="src/main.py", file=b"x")
    envs.environments.files.upload(
        environment=env.id, path="src/main.py", file=b"v2", overwrite=True
    )
    assert envs.environments.files.download(environment=env.id, path="src/main.py") == b"v2"
    root = envs.environments.files.list(environment=env.id, path="")
    assert [(f.name, f.type) for f in root.files] == [("src", "directory")]
    deep = envs.environments.files.list(environment=env.id, path="src", recursive=True)
    entry = next(f for f in deep.files if f.name == "main.py")
    assert entry.size_bytes == 2 and entry.type == "file" and entry.modified


def test_large_upload_spans_several_chunks(envs: genai.Client) -> None:
    env = envs.environments.create()
    blob = secrets.token_bytes(9 * 1024 * 1024 + 123)  # more than one 8 MiB chunk
    envs.environments.files.upload(environment=env.id, path="big.bin", file=blob)
    assert envs.environments.files.download(environment=env.id, path="big.bin") == blob


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_extract_archives(envs: genai.Client) -> None:
    env = envs.environments.create()
    archive = _zip({"pkg/__init__.py": b"", "pkg/mod.py": b"X = 1\n"})
    result = envs.environments.files.upload(
        environment=env.id, path="proj", file=archive, extract=True
    )
    assert sorted(f.name for f in result.files) == ["__init__.py", "mod.py"]
    assert (
        envs.environments.files.download(environment=env.id, path="proj/pkg/mod.py") == b"X = 1\n"
    )


def test_archive_traversal_and_bombs_are_refused(envs: genai.Client) -> None:
    env = envs.environments.create()
    # the chunks go through the SDK's upload client, which raises google.genai.errors
    with pytest.raises(genai_errors.ClientError) as traversal:
        envs.environments.files.upload(
            environment=env.id, path="x", file=_zip({"../../escape.txt": b"no"}), extract=True
        )
    assert traversal.value.code == 400 and "escape.txt" in str(traversal.value)
    bomb = _zip({"zeros.bin": b"\0" * (64 * 1024 * 1024)})
    with pytest.raises(genai_errors.ClientError) as info:
        envs.environments.files.upload(environment=env.id, path="b", file=bomb, extract=True)
    assert info.value.code == 413 and "zip bomb" in str(info.value)
    assert envs.environments.files.list(environment=env.id, path="").files in (None, [])


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../b", "/etc/passwd"])
def test_path_traversal_is_refused(envs: genai.Client, junction: Junction, path: str) -> None:
    env = envs.environments.create()
    response = httpx.get(
        f"{junction.url}/v1beta/environments/{env.id}/files/{path}",
        params={"alt": "media"},
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code in (400, 404), response.text
    assert "root:" not in response.text


def test_environments_belong_to_their_project(envs: genai.Client, junction: Junction) -> None:
    env = envs.environments.create(sources=[{"type": "inline", "target": "s", "content": "1"}])
    other_key = junction.cli(
        "keys", "create", "--project", f"env-{secrets.token_hex(3)}"
    ).stdout.split()[1]
    other = junction.client(api_key=other_key)
    with pytest.raises(gerr.NotFoundError):
        other.environments.get(env.id)
    with pytest.raises(genai_errors.ClientError) as download:
        other.environments.files.download(environment=env.id, path="s")
    assert download.value.code == 404
    with pytest.raises(gerr.NotFoundError):
        other.environments.delete(env.id)


def test_idle_environments_expire_and_free_their_disk(
    envs: genai.Client, junction: Junction
) -> None:
    import asyncio

    env = envs.environments.create(sources=[{"type": "inline", "target": "f", "content": "x"}])
    system = junction.thread.state.system
    loop = junction.thread.state.loop

    async def age_and_expire() -> int:
        await system.db.execute(
            "UPDATE environments SET last_accessed = $1 WHERE id = $2",
            "2000-01-01T00:00:00.000000Z",
            env.id,
        )
        return int(await system.environments.expire_idle())

    assert asyncio.run_coroutine_threadsafe(age_and_expire(), loop).result(30) >= 1
    assert envs.environments.get(env.id).status == "expired"
    workspace = junction.thread.settings.data_dir / "sandboxes"
    assert not any(env.id in str(p) for p in workspace.rglob("*") if p.is_dir())
    with pytest.raises(genai_errors.ClientError) as info:
        envs.environments.files.download(environment=env.id, path="f")
    assert info.value.code == 400 and "expired" in str(info.value)


def test_inline_source_content_over_the_cap_is_refused(
    envs: genai.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from junction.runtime import env_sources

    # the real cap (64 MiB) is larger than any JSON body the server reads; a small one
    # shows the check itself
    monkeypatch.setattr(env_sources, "MAX_INLINE", 1024)
    before = {e.id for e in envs.environments.list(page_size=1000).environments}
    with pytest.raises(gerr.BadRequestError, match=r"sources\[1\]: inline content over 1024"):
        envs.environments.create(
            sources=[
                {"type": "inline", "target": "ok.txt", "content": "fine"},
                {"type": "inline", "target": "big.txt", "content": "x" * 1025},
            ]
        )
    after = {e.id for e in envs.environments.list(page_size=1000).environments}
    assert after == before  # nothing created
    at_cap = envs.environments.create(
        sources=[{"type": "inline", "target": "big.txt", "content": "x" * 1024}]
    )
    try:
        assert envs.environments.files.download(environment=at_cap.id, path="big.txt") == (
            b"x" * 1024
        )
    finally:
        envs.environments.delete(at_cap.id)
