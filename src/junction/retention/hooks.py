"""The seam through which stores that live outside the core tables (media blobs, and any
later per-project store) take part in retention and whole-project deletion."""

from __future__ import annotations

import abc
from collections.abc import Sequence


class RetentionHook(abc.ABC):
    """One store's part in retention. ``policy`` names the retention field that governs
    it (``media_days`` for media); its cutoff is passed to :meth:`purge`."""

    name: str = "hook"
    policy: str = "media_days"

    @abc.abstractmethod
    async def purge(self, project_id: str, before: str, limit: int) -> int:
        """Delete up to ``limit`` of the project's items created before ``before`` (an
        ISO-8601 UTC timestamp); return how many were deleted (fewer: nothing is left)."""

    @abc.abstractmethod
    async def delete_project(self, project_id: str) -> int:
        """Delete everything of the project this store holds; return the count."""

    async def interactions_deleted(self, project_id: str, interaction_ids: Sequence[str]) -> None:
        """The project's interactions ``interaction_ids`` were purged: release what this
        store holds for them (default: nothing)."""
