"""A project's interactions as JSON Lines: one Interaction resource per line (with its
steps and input), oldest first, read in pages so memory stays flat however many there
are."""

from __future__ import annotations

from collections.abc import AsyncIterator

from junction import jsonutil
from junction.store.db import Database
from junction.store.interactions import InteractionStore
from junction.store.retention import RetentionRows

PAGE = 100


async def export_lines(db: Database, project_id: str, page: int = PAGE) -> AsyncIterator[bytes]:
    rows = RetentionRows(db)
    store = InteractionStore(db)
    after = ""
    while True:
        records = await rows.export_page(project_id, after, page)
        chunk = bytearray()
        for record in records:
            await store.load_steps(record)
            chunk += jsonutil.dumpb(record.to_wire(include_input=True)) + b"\n"
        if chunk:
            yield bytes(chunk)
        if len(records) < page:
            return
        after = records[-1].id
