"""Request options a dialect may or may not honour: ``service_tier``, ``safety_settings``,
``cached_content`` (top-level fields of the create request) and
``generation_config.thinking_summaries``.

Every option either takes effect or is refused before anything is written: each
provider's :meth:`~junction.providers.base.Provider.check_options` calls the helpers
here, which raise a 400 naming the field and the model. The values reach the provider in
``ModelRequest.generation`` under the same keys (see :func:`request_options`).

Rules shared by the dialects without a native equivalent:

* ``safety_settings`` whose every threshold is ``block_none`` or ``off`` ask for no extra
  filtering and are accepted (the provider's own policies still apply, as on Gemini with
  those settings); any other threshold is refused;
* ``cached_content`` names a Gemini ``cachedContents/…`` resource, which only Gemini has:
  refused elsewhere (Junction's own prefix cache needs no request field);
* ``service_tier`` maps onto the provider's own tiers where it has them (tables below).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from junction.errors import BadRequest

#: create-request fields carried in ``ModelRequest.generation``
REQUEST_FIELDS = ("service_tier", "safety_settings", "cached_content")
PERMISSIVE = frozenset({"block_none", "off"})

#: OpenAI's processing tiers per model family (api.openai.com; a provider's
#: ``service_tiers`` option replaces this for the models it serves)
OPENAI_TIERS: list[tuple[re.Pattern[str], frozenset[str]]] = [
    (re.compile(r"^(o3|o4-mini|gpt-5)"), frozenset({"standard", "flex", "priority"})),
    (re.compile(r"^(gpt-4o|gpt-4\.1)"), frozenset({"standard", "priority"})),
]
#: the Interactions tier → the value OpenAI's ``service_tier`` takes
OPENAI_TIER_VALUES = {"standard": "default", "flex": "flex", "priority": "priority"}
#: the Interactions tier → Anthropic's ``service_tier`` (priority: use Priority Tier
#: capacity when the organisation has it, standard: never)
ANTHROPIC_TIER_VALUES = {"standard": "standard_only", "priority": "auto"}
GEMINI_TIERS = frozenset({"flex", "standard", "priority"})


def request_options(req: Any) -> dict[str, Any]:
    """The create request's provider options present in ``req`` (for ``generation``)."""
    found: dict[str, Any] = {}
    for name in REQUEST_FIELDS:
        value = getattr(req, name, None)
        if name == "safety_settings" and value:
            value = [s.model_dump(mode="json", exclude_none=True) for s in value]
        if value not in (None, []):
            found[name] = value
    return found


def refuse(field: str, model_id: str, why: str) -> BadRequest:
    return BadRequest(f"{field}: model '{model_id}' {why}")


def check_tier(tier: str | None, model_id: str, offered: frozenset[str], fix: str) -> None:
    if tier is None or tier in offered:
        return
    listed = ", ".join(sorted(offered)) if offered else "none"
    raise refuse(
        "service_tier",
        model_id,
        f"does not offer the '{tier}' service tier (it offers: {listed}); {fix}",
    )


def openai_tiers(model: str, options: Mapping[str, Any], official: bool) -> frozenset[str]:
    """The tiers an ``openai``-dialect model offers: the provider's ``service_tiers``
    option when set, else the table for api.openai.com, else only ``standard``."""
    configured = options.get("service_tiers")
    if isinstance(configured, list | tuple):
        return frozenset(str(t) for t in configured) | {"standard"}
    if official:
        for pattern, tiers in OPENAI_TIERS:
            if pattern.match(model):
                return tiers
    return frozenset({"standard"})


def check_safety(settings: list[dict[str, Any]] | None, model_id: str, dialect: str) -> None:
    """Accept only settings that ask for no extra filtering (every threshold
    ``block_none`` or ``off``): the dialect has no per-category thresholds."""
    for index, setting in enumerate(settings or ()):
        threshold = str(setting.get("threshold") or "")
        if threshold not in PERMISSIVE:
            raise refuse(
                f"safety_settings[{index}].threshold",
                model_id,
                f"cannot apply '{threshold}' (the {dialect} dialect has no per-category "
                "safety thresholds; only 'block_none' and 'off', i.e. no extra filtering, "
                "are accepted); remove the setting or use a Gemini model",
            )


def check_no_cache(name: str | None, model_id: str) -> None:
    if name:
        raise refuse(
            "cached_content",
            model_id,
            f"cannot use '{name}': a cachedContents resource exists only on Gemini; "
            "remove the field (Junction reuses the encoded history of a conversation by "
            "itself) or use a Gemini model",
        )
