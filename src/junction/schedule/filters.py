"""The ``filter`` parameter of the trigger lists: ``field=value`` terms joined by
``AND``; a value may list alternatives with ``|`` (``status=active|paused``) and may be
quoted. Field names and values are matched case-insensitively against what each list
allows; anything else is a 400 saying what is allowed."""

from __future__ import annotations

import re

from junction.errors import BadRequest

_TERM = re.compile(r'^\s*([a-z_]+)\s*=\s*"?([A-Za-z0-9_|\- ]+?)"?\s*$')


def parse(text: str | None, allowed: dict[str, frozenset[str]]) -> dict[str, list[str]]:
    """``{field: [values]}`` for the filter ``text`` (empty: no filter)."""
    if not text or not text.strip():
        return {}
    result: dict[str, list[str]] = {}
    fields = ", ".join(f"{k} ({'|'.join(sorted(v))})" for k, v in allowed.items())
    for raw in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        match = _TERM.match(raw.lower())
        if not match or match[1] not in allowed:
            raise BadRequest(
                f"filter term '{raw.strip()}' is not understood: use field=value terms joined "
                f"by AND, with | between alternatives; fields: {fields}"
            )
        values = [v.strip() for v in match[2].split("|")]
        bad = [v for v in values if v not in allowed[match[1]]]
        if bad:
            raise BadRequest(
                f"filter {match[1]}={bad[0]} is not allowed: {match[1]} is one of "
                f"{', '.join(sorted(allowed[match[1]]))}"
            )
        result[match[1]] = values
    return result
