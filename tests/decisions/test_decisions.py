"""The Decisions API through the SDK: probabilities from token log-probabilities (the
OpenAI dialect, against the fake with scripted ``top_logprobs``) and from samples (a
provider without log-probabilities), answered concurrently over one shared input."""

from __future__ import annotations

import itertools
import math
from typing import Any

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr
from openai.types.chat import ChatCompletion

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

REVIEW = "The food was cold and the waiter ignored us for an hour."
QUESTIONS: dict[str, Any] = {
    "complaint": {
        "type": "noul",
        "instructions": "Is this review a complaint?",
        "criteria": {"true_description": "the reviewer is unhappy"},
    },
    "sentiment": {
        "type": "choice",
        "instructions": [{"type": "text", "text": "What is the sentiment?"}],
        "criteria": {"positive": "happy", "negative": "unhappy", "neutral": "neither"},
    },
    "stars": {
        "type": "score",
        "instructions": "How many stars would the reviewer give?",
        "criteria": ["terrible", "", "average"],
    },
}


def _logprob_replies(body: Any) -> Reply:
    prompt = body["messages"][-1]["content"]
    text = prompt if isinstance(prompt, str) else " ".join(p.get("text", "") for p in prompt)
    if "Answer true or false" in text:
        return Reply(text="true", logprobs={"true": math.log(0.8), "false": math.log(0.2)})
    if "option id" in text:
        top = {"neg": math.log(0.6), "pos": math.log(0.3), "neutral": math.log(0.1)}
        return Reply(text="negative", logprobs=top)
    top = {"0": math.log(0.7), "1": math.log(0.2), "2": math.log(0.05), "x": math.log(0.05)}
    return Reply(text="0", logprobs=top)


def test_probabilities_from_logprobs(client: genai.Client, openai_fake: FakeOpenAI) -> None:
    openai_fake.responder = _logprob_replies
    result = client.decisions.create(
        model="models/openai/gpt-4.1-mini", input=REVIEW, questions=QUESTIONS
    )
    answers = result.answers
    assert answers["complaint"].type == "noul"
    assert answers["complaint"].noul == pytest.approx(0.01 + 0.98 * 0.8)
    assert answers["complaint"].confidence == pytest.approx(0.01 + 0.98 * 0.8)
    sentiment = answers["sentiment"]
    assert sentiment.choice == "negative"
    assert sentiment.probabilities == pytest.approx(
        {"negative": 0.01 + 0.97 * 0.6, "positive": 0.01 + 0.97 * 0.3, "neutral": 0.01 + 0.97 * 0.1}
    )
    assert sentiment.confidence == pytest.approx(0.01 + 0.97 * 0.6)
    stars = answers["stars"]
    p = {"0": 0.7 / 0.95, "1": 0.2 / 0.95, "2": 0.05 / 0.95}  # "x" is no label
    smoothed = {k: 0.01 + 0.97 * v for k, v in p.items()}
    assert stars.probabilities == pytest.approx(smoothed, abs=1e-4)
    assert stars.score == pytest.approx(smoothed["1"] + 2 * smoothed["2"], abs=1e-3)
    assert stars.legend == {"0": "terrible", "2": "average"}
    assert result.usage.total_input_tokens == 33  # three calls of 11 tokens
    # one call per question, each asking for log-probabilities over the same input prefix
    bodies = [r.body for r in openai_fake.requests]
    assert len(bodies) == 3
    for body in bodies:
        assert body["model"] == "gpt-4.1-mini"
        assert body["logprobs"] is True and body["top_logprobs"] == 20
        assert body["temperature"] == 0.0 and body["stream"] is False
        assert body["max_completion_tokens"] == 16
        user = body["messages"][-1]["content"]
        assert body["messages"][0]["role"] == "system"
        first = user if isinstance(user, str) else user[0]["text"]
        assert first.startswith(REVIEW)


def test_fake_logprobs_are_valid_openai_types(openai_fake: FakeOpenAI) -> None:
    reply = Reply(text="true", logprobs={"true": -0.2, "false": -1.7})
    ChatCompletion.model_validate(openai_fake.completion(reply, "m", 1, logprobs=True))


def test_probabilities_from_samples_without_logprobs(
    client: genai.Client, openai_fake: FakeOpenAI
) -> None:
    answers = itertools.cycle(["true", "false", "True.", "true", "maybe"])
    openai_fake.responder = lambda body: Reply(text=next(answers))  # no logprobs
    result = client.decisions.create(
        model="openai/gpt-4.1-mini",
        input=REVIEW,
        questions={"complaint": QUESTIONS["complaint"]},
    )
    # 5 samples (decision_samples): true, false, true, true, and one that names no label
    assert len(openai_fake.requests) == 5
    temperatures = sorted(r.body["temperature"] for r in openai_fake.requests)
    assert temperatures == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert result.answers["complaint"].noul == pytest.approx(0.01 + 0.98 * 0.75)


def test_offline_model_answers_by_sampling(client: genai.Client) -> None:
    result = client.decisions.create(
        model="offline/echo",
        input="/reply negative\n" + REVIEW,
        questions={"sentiment": QUESTIONS["sentiment"]},
    )
    sentiment = result.answers["sentiment"]
    assert sentiment.choice == "negative"
    assert sentiment.probabilities["negative"] == pytest.approx(0.98)
    assert sentiment.probabilities["positive"] == pytest.approx(0.01)
    assert result.usage.total_input_tokens > 0


def test_an_answer_naming_no_label_is_a_502(junction: Junction) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/decisions",
        json={
            "model": "offline/echo",
            "input": "/reply negative\n" + REVIEW,
            "questions": {"complaint": QUESTIONS["complaint"]},
        },
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert "answered none of the labels (true, false)" in message


def test_offline_noul_is_clamped(client: genai.Client) -> None:
    result = client.decisions.create(
        model="offline/echo",
        input="/reply true\n" + REVIEW,
        questions={"complaint": QUESTIONS["complaint"]},
    )
    assert result.answers["complaint"].noul == pytest.approx(0.99)
    assert result.answers["complaint"].confidence == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "offline/echo", "input": "x"}, "questions"),
        ({"model": "offline/echo", "input": "x", "questions": {}}, "questions"),
        (
            {
                "model": "offline/echo",
                "input": "x",
                "questions": {"q": {"type": "choice", "instructions": "i", "criteria": {"a": "1"}}},
            },
            "questions.q.choice.criteria",
        ),
        (
            {
                "model": "offline/echo",
                "input": "x",
                "questions": {"q": {"type": "score", "instructions": "i", "criteria": ["a", ""]}},
            },
            "2 non-empty levels",
        ),
        (
            {"model": "offline/echo", "input": "x", "questions": {"q": {"type": "vote"}}},
            "questions.q",
        ),
        (
            {
                "model": "offline/echo",
                "input": "x",
                "questions": {"q": {"type": "noul", "instructions": ""}},
            },
            "instructions must not be empty",
        ),
        (
            {
                "model": "nope",
                "input": "x",
                "questions": {"q": {"type": "noul", "instructions": "i"}},
            },
            "unknown model 'nope'",
        ),
        (
            {
                "model": "openai/gpt-image-1",
                "input": "x",
                "questions": {"q": {"type": "noul", "instructions": "i"}},
            },
            "cannot answer decisions",
        ),
    ],
)
def test_bad_decision_requests(
    junction: Junction, openai_fake: FakeOpenAI, body: dict[str, Any], needle: str
) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/decisions",
        json=body,
        headers={"x-goog-api-key": junction.api_key},
    )
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]["message"]
    assert openai_fake.requests == []


def test_decisions_need_a_key(junction: Junction) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/decisions",
        json={"model": "offline/echo", "input": "x", "questions": {}},
    )
    assert response.status_code == 401


def test_sdk_raises_on_refusal(client: genai.Client) -> None:
    with pytest.raises(gerr.BadRequestError):
        client.decisions.create(model="offline/echo", input="x", questions={})
