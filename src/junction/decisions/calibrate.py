"""From model evidence to calibrated probabilities.

Evidence is either the top log-probabilities of the first answer token (a token counts
for every label it begins, its mass split evenly between them) or a tally of sampled
answers. Either becomes a closed-world distribution over the labels, which is then
mixed with a small uniform floor so no value is 0 or 1: with ``k`` labels each
probability is ``f + (1 - k·f)·p`` where ``f = min(0.01, 0.5/k)``; for the two labels
of a ``noul`` question that keeps ``P(true)`` within [0.01, 0.99].
"""

from __future__ import annotations

import math
import re

_WORD = re.compile(r"[^\w.-]+")


def from_logprobs(top: dict[str, float], labels: list[str]) -> dict[str, float] | None:
    mass = dict.fromkeys(labels, 0.0)
    lowered = {label: label.lower() for label in labels}
    for token, logprob in top.items():
        piece = token.strip().lower()
        if not piece:
            continue
        owners = [label for label in labels if lowered[label].startswith(piece)]
        for owner in owners:
            mass[owner] += math.exp(logprob) / len(owners)
    total = sum(mass.values())
    if total <= 0:
        return None
    return {label: value / total for label, value in mass.items()}


def parse_answer(text: str, labels: list[str]) -> str | None:
    """The label an answer names: its first word, or the longest label it starts with."""
    clean = text.strip().strip("\"'`*").lower()
    if not clean:
        return None
    first = _WORD.split(clean, maxsplit=1)[0].strip(".")
    by_lower = {label.lower(): label for label in labels}
    if first in by_lower:
        return by_lower[first]
    for lowered in sorted(by_lower, key=len, reverse=True):
        if clean.startswith(lowered):
            return by_lower[lowered]
    return None


def from_samples(answers: list[str | None], labels: list[str]) -> dict[str, float] | None:
    counted = [a for a in answers if a is not None]
    if not counted:
        return None
    return {label: counted.count(label) / len(counted) for label in labels}


def smooth(probabilities: dict[str, float]) -> dict[str, float]:
    k = len(probabilities)
    floor = min(0.01, 0.5 / k)
    return {label: floor + (1 - k * floor) * p for label, p in probabilities.items()}
