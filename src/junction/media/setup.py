"""Opening the configured blob store (``media_backend``)."""

from __future__ import annotations

from junction.config import Settings
from junction.media.base import BlobStore, backend_class
from junction.media.filesystem import FilesystemBlobStore


def open_blob_store(settings: Settings) -> BlobStore:
    cls = backend_class(settings.media_backend)
    if cls is FilesystemBlobStore:
        store = FilesystemBlobStore(settings.data_dir / "media")
        store.sweep_incoming()
        return store
    raise ValueError(f"media backend '{settings.media_backend}' needs its own setup")
