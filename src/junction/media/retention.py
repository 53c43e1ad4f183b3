"""Generated media in retention and whole-project deletion: the media store's
:class:`~junction.retention.hooks.RetentionHook`.

- ``media_days``: media items created before the cutoff are deleted (their rows, and the
  blobs no other interaction references); the interactions that showed them keep their
  steps, whose media items then carry no ``data``.
- interactions purged by ``interactions_days`` release their media references (blobs
  that nothing else references go too).
- deleting a project's data deletes all of its media.
"""

from __future__ import annotations

from collections.abc import Sequence

from junction.media.service import MediaService
from junction.retention.hooks import RetentionHook


class MediaRetention(RetentionHook):
    name = "media"
    policy = "media_days"

    def __init__(self, media: MediaService) -> None:
        self.media = media

    async def purge(self, project_id: str, before: str, limit: int) -> int:
        return await self.media.delete_older(project_id, before, limit)

    async def delete_project(self, project_id: str) -> int:
        return await self.media.delete_project(project_id)

    async def interactions_deleted(self, project_id: str, interaction_ids: Sequence[str]) -> None:
        for interaction_id in interaction_ids:
            await self.media.delete_interaction(project_id, interaction_id)
