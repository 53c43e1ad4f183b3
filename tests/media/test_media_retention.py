"""Generated media in retention, on SQLite and PostgreSQL: interactions purged by
``interactions_days`` release their media (the blob goes when nothing else references
it); ``media_days`` deletes old media while the interaction that showed it stays, its
item marked ``media_expired``; other projects' media is untouched."""

from __future__ import annotations

from typing import Any

from junction import jsonutil
from tests.api.hardening_support import new_project, query, send
from tests.api.test_retention import OLD, backdate, cli
from tests.conftest import Junction


def make_image(junction: Junction, key: str, prompt: str) -> tuple[str, str]:
    """An interaction with one generated image: ``(interaction id, blob digest)``."""
    response = send(
        junction,
        key,
        "POST",
        "/v1beta/interactions",
        {"model": "offline/image", "input": prompt, "response_modalities": ["image"]},
    )
    assert response.status_code == 200, response.text
    interaction_id = response.json()["id"]
    rows = query(
        junction.database_url,
        "SELECT digest FROM media WHERE interaction_id = $1",
        interaction_id,
    )
    assert len(rows) == 1
    return interaction_id, str(rows[0][0])


def media_of(junction: Junction, key: str, digest: str) -> int:
    return send(junction, key, "GET", f"/v1beta/media/{digest}").status_code


def image_item(junction: Junction, key: str, interaction_id: str) -> dict[str, Any]:
    got = send(junction, key, "GET", f"/v1beta/interactions/{interaction_id}")
    assert got.status_code == 200, got.text
    items = [i for s in got.json()["steps"] for i in s.get("content") or [] if i["type"] == "image"]
    assert len(items) == 1
    item: dict[str, Any] = items[0]
    return item


def data_dir(junction: Junction) -> tuple[str, str]:
    """The server's data directory (its media blobs live there) for the CLI."""
    return ("--data-dir", str(junction.thread.settings.data_dir))


def blob_files(junction: Junction, digest: str) -> list[str]:
    root = junction.thread.settings.data_dir / "media"
    return [p.name for p in root.rglob("*") if digest in p.name]


def test_purged_interactions_release_their_media(junction: Junction) -> None:
    name = f"media-ret-{junction.backend}"
    key, _ = new_project(junction, name)
    other_key, _ = new_project(junction, f"media-ret-other-{junction.backend}")
    old_id, old_digest = make_image(junction, key, f"an old fox {name}")
    new_id, new_digest = make_image(junction, key, f"a new fox {name}")
    _, other_digest = make_image(junction, other_key, f"an old fox {name}")  # same bytes
    assert other_digest == old_digest  # deduplicated: one blob, two references
    backdate(junction, [old_id])
    assert media_of(junction, key, old_digest) == 200

    cli(junction, "projects", "set-retention", name, "--interactions-days", "30")
    purged = jsonutil.loads(cli(junction, "projects", "purge", name, *data_dir(junction)))
    assert purged["interactions"] == 1
    assert (
        query(
            junction.database_url, "SELECT COUNT(*) FROM media WHERE interaction_id = $1", old_id
        )[0][0]
        == 0
    )
    assert media_of(junction, key, old_digest) == 404
    # the other project still references the same blob: it stays
    assert media_of(junction, other_key, other_digest) == 200
    assert blob_files(junction, old_digest)
    # the recent interaction keeps its image
    assert image_item(junction, key, new_id)["data"]
    assert media_of(junction, key, new_digest) == 200


def test_media_retention_expires_media_but_keeps_the_interaction(junction: Junction) -> None:
    name = f"media-days-{junction.backend}"
    key, _ = new_project(junction, name)
    interaction_id, digest = make_image(junction, key, f"a whale {name}")
    recent_id, recent_digest = make_image(junction, key, f"a heron {name}")
    query(
        junction.database_url,
        "UPDATE media SET created = $1 WHERE interaction_id = $2",
        OLD,
        interaction_id,
    )
    assert blob_files(junction, digest)

    cli(junction, "projects", "set-retention", name, "--media-days", "30")
    purged = jsonutil.loads(cli(junction, "projects", "purge", name, *data_dir(junction)))
    assert purged["media"] == 1
    assert media_of(junction, key, digest) == 404
    assert not blob_files(junction, digest)  # no other reference: the blob is gone
    item = image_item(junction, key, interaction_id)  # the interaction itself stays
    assert item["media_expired"] is True and "data" not in item and item["mime_type"]
    assert image_item(junction, key, recent_id)["data"]
    assert media_of(junction, key, recent_digest) == 200
