"""Answering decision questions: every question is asked over the same input (the same
leading tokens, so a provider's prompt cache serves them all), concurrently.

Probabilities come from the first answer token's log-probabilities where the provider
returns them (the OpenAI dialect's ``top_logprobs``, Gemini's ``logprobsResult``); otherwise from
``decision_samples`` answers (the first at temperature 0, the rest at temperature 1),
counted. See :mod:`junction.decisions.calibrate` for the calibration.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from junction.config import Settings
from junction.decisions import calibrate
from junction.decisions.schema import ChoiceQuestion, NoulQuestion, ScoreQuestion, parse
from junction.errors import ApiError, BadRequest, ProviderError, ProviderRejected, Unavailable
from junction.providers.base import (
    Finish,
    ModelRequest,
    Provider,
    TextDelta,
    TokenLogprobs,
    Usage,
)
from junction.providers.registry import ProviderRouter
from junction.providers.retry import stream_with_retries

SYSTEM = (
    "You classify the input. Reply with only the label the question asks for, exactly as "
    "written, with no explanation."
)
TOP_LOGPROBS = 20
#: model calls one decision request makes at once
CONCURRENT_CALLS = 16


class UnusableAnswer(ApiError):
    """The model answered, but with none of the question's labels."""

    status_code = 502
    code = "bad_gateway"


@dataclass
class _Call:
    text: str = ""
    top: dict[str, float] | None = None
    blocked: bool = False


@dataclass
class _Tally:
    input: int = 0
    output: int = 0
    cached: int = 0
    calls: int = 0
    blocked: bool = False
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENT_CALLS))


def _prompt(question: NoulQuestion | ChoiceQuestion | ScoreQuestion) -> tuple[list[str], str]:
    """The labels of a question and the text that asks it."""
    text = str(question.instructions)
    if isinstance(question, NoulQuestion):
        criteria = question.criteria
        lines = [text, "", "Answer true or false."]
        if criteria and criteria.true_description:
            lines.append(f"true means: {criteria.true_description}")
        if criteria and criteria.false_description:
            lines.append(f"false means: {criteria.false_description}")
        return ["true", "false"], "\n".join(lines)
    if isinstance(question, ChoiceQuestion):
        options = "\n".join(f"- {key}: {desc}" for key, desc in question.criteria.items())
        labels = list(question.criteria)
        return labels, f"{text}\n\nOptions:\n{options}\n\nAnswer with exactly one option id."
    levels = "\n".join(f"- {i}: {desc}" for i, desc in enumerate(question.criteria))
    labels = [str(i) for i in range(len(question.criteria))]
    return labels, f"{text}\n\nLevels:\n{levels}\n\nAnswer with exactly one level number."


class DecisionService:
    def __init__(self, router: ProviderRouter, settings: Settings) -> None:
        self.router = router
        self.settings = settings

    async def decide(self, body: Any) -> dict[str, Any]:
        req, content = parse(body)
        provider, model = self.router.resolve(req.model)
        produced = provider.output_modalities(model)
        if "text" not in produced:
            raise BadRequest(
                f"model '{req.model}' cannot answer decisions: it produces "
                f"{', '.join(sorted(produced))}, not text"
            )
        provider.check(
            ModelRequest(model=model, steps=[{"type": "user_input", "content": content}])
        )
        tally = _Tally()
        names = list(req.questions)
        answers = await asyncio.gather(
            *(self._answer(provider, model, content, req.questions[n], tally) for n in names)
        )
        out: dict[str, Any] = {
            "usage": {
                "total_input_tokens": tally.input,
                "total_output_tokens": tally.output,
                "total_cached_tokens": tally.cached,
                "total_tokens": tally.input + tally.output,
            }
        }
        if tally.blocked:
            out["prompt_feedback"] = {
                "block_reason": "safety",
                "block_reason_message": "the model's content filter stopped the answer",
            }
            return out
        out["answers"] = dict(zip(names, answers, strict=True))
        return out

    async def _call(self, provider: Provider, request: ModelRequest, tally: _Tally) -> _Call:
        result = _Call()
        parts: list[str] = []
        async with tally.slots:
            await self._stream(provider, request, tally, result, parts)
        tally.calls += 1
        result.text = "".join(parts)
        return result

    async def _stream(
        self,
        provider: Provider,
        request: ModelRequest,
        tally: _Tally,
        result: _Call,
        parts: list[str],
    ) -> None:
        try:
            async for event in stream_with_retries(
                provider,
                request,
                attempts=self.settings.provider_max_attempts,
                base_delay=self.settings.provider_backoff_base,
                max_delay=self.settings.provider_backoff_max,
            ):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, TokenLogprobs):
                    result.top = event.top
                elif isinstance(event, Usage):
                    tally.input += event.input_tokens
                    tally.output += event.output_tokens
                    tally.cached += event.cached_tokens
                elif isinstance(event, Finish) and event.reason == "content_filter":
                    result.blocked = tally.blocked = True
        except ProviderRejected as exc:
            raise BadRequest(f"the model refused the decision request: {exc.message}") from exc
        except ProviderError as exc:
            raise Unavailable(f"the model could not be reached: {exc.message}") from exc

    async def _answer(
        self,
        provider: Provider,
        model: str,
        content: list[dict[str, Any]],
        question: NoulQuestion | ChoiceQuestion | ScoreQuestion,
        tally: _Tally,
    ) -> dict[str, Any]:
        labels, prompt = _prompt(question)
        steps = [{"type": "user_input", "content": [*content, {"type": "text", "text": prompt}]}]

        def request(temperature: float, logprobs: bool) -> ModelRequest:
            generation: dict[str, Any] = {"temperature": temperature, "max_output_tokens": 16}
            if logprobs:
                generation["logprobs"] = TOP_LOGPROBS
            return ModelRequest(
                model=model,
                steps=steps,
                system_instruction=SYSTEM,
                generation=generation,
                stream=False,
            )

        first = await self._call(provider, request(0.0, True), tally)
        probabilities = calibrate.from_logprobs(first.top, labels) if first.top else None
        answers = [calibrate.parse_answer(first.text, labels)]
        if probabilities is None and not first.blocked:
            more = max(0, self.settings.decision_samples - 1)
            calls = await asyncio.gather(
                *(self._call(provider, request(1.0, False), tally) for _ in range(more))
            )
            answers.extend(calibrate.parse_answer(c.text, labels) for c in calls)
            probabilities = calibrate.from_samples(answers, labels)
        if probabilities is None:
            if first.blocked:
                return {}
            raise UnusableAnswer(
                f"model '{provider.name}/{model}' answered none of the labels "
                f"({', '.join(labels[:10])}); its answer began: {first.text[:80]!r}"
            )
        return _shape(question, calibrate.smooth(probabilities))


def _shape(
    question: NoulQuestion | ChoiceQuestion | ScoreQuestion, p: dict[str, float]
) -> dict[str, Any]:
    rounded = {k: round(v, 4) for k, v in p.items()}
    if isinstance(question, NoulQuestion):
        noul = rounded["true"]
        return {"type": "noul", "noul": noul, "confidence": round(max(noul, 1 - noul), 4)}
    best = max(rounded, key=lambda k: rounded[k])
    if isinstance(question, ChoiceQuestion):
        return {
            "type": "choice",
            "choice": best,
            "confidence": rounded[best],
            "probabilities": rounded,
        }
    return {
        "type": "score",
        "score": round(sum(int(k) * v for k, v in p.items()), 4),
        "confidence": rounded[best],
        "probabilities": rounded,
        "legend": {str(i): c for i, c in enumerate(question.criteria) if c.strip()},
    }
