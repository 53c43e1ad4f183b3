"""One shape for every list response: ``{key: [...], next_page_token}``, built from
``size + 1`` fetched rows (the extra row only says that another page exists)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def page(
    items: Sequence[Any],
    size: int,
    key: str,
    token_of: str = "id",
    *,
    wire: Callable[[Any], Any] | None = None,
    encode: Callable[[Any], str] | None = None,
) -> dict[str, Any]:
    """The list body for ``items`` (at most ``size + 1`` of them).

    ``wire`` renders each returned item (default: as it is); the next page token is the last
    returned item's ``token_of`` field, or ``encode(item)`` when given.
    """
    shown = items[:size]
    body: dict[str, Any] = {key: [wire(i) for i in shown] if wire else list(shown)}
    if len(items) > size:
        last = items[size - 1]
        body["next_page_token"] = encode(last) if encode else str(last[token_of])
    return body
