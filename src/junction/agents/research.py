"""The research agent's extras: cited reports and collaborative planning.

The research agent cites sources as ``[https://…]`` right after a claim. Its final
answer gets a ``url_citation`` annotation for each: ``start_index``/``end_index`` are the
UTF-8 byte offsets of the sentence the citation supports (REFERENCE 3.5), and the title
is the page title when the run fetched that URL with ``url_context``.
"""

from __future__ import annotations

import re
from typing import Any

PLAN_ONLY = (
    "Collaborative planning: this turn, reply ONLY with your research plan — the "
    "sub-questions and the search queries you intend to run — and ask the user to confirm "
    "or adjust it. Do not search or fetch anything yet; you will continue after the reply."
)
_CITATION = re.compile(r"\[(https?://[^\]\s]+)\]")
_BOUNDARY = re.compile(r"[.!?\n]\s")


def _titles(steps: list[dict[str, Any]]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for step in steps:
        if step.get("type") == "url_context_result" and isinstance(step.get("result"), list):
            for item in step["result"]:
                if isinstance(item, dict) and item.get("url") and item.get("title"):
                    titles[str(item["url"])] = str(item["title"])
    return titles


def cite(text: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``url_citation`` annotations for every ``[url]`` citation in ``text``."""
    titles = _titles(steps)
    annotations = []
    for match in _CITATION.finditer(text):
        before = text[: match.start()]
        boundaries = list(_BOUNDARY.finditer(before))
        start = boundaries[-1].end() if boundaries else 0
        annotation: dict[str, Any] = {
            "type": "url_citation",
            "url": match.group(1),
            "start_index": len(text[:start].encode()),
            "end_index": len(text[: match.end()].encode()),
        }
        if match.group(1) in titles:
            annotation["title"] = titles[match.group(1)]
        annotations.append(annotation)
    return annotations
