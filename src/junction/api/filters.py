"""Query parameters of the interaction listing (Junction's addition): status, model,
agent and a creation-time range (validated by ``schema/params.ListInteractions``),
turned into the store's indexed filters."""

from __future__ import annotations

from junction import ids
from junction.schema.params import ListInteractions, epoch_ms
from junction.store.interactions import ListFilters


def list_filters(params: ListInteractions) -> ListFilters:
    after = None if params.after is None else epoch_ms(params.after)
    before = None if params.before is None else epoch_ms(params.before)
    return ListFilters(
        status=params.status,
        model=params.model,
        agent=params.agent,
        id_low=None if after is None else ids.id_floor("v1_", after),
        id_high=None if before is None else ids.id_floor("v1_", before),
    )
