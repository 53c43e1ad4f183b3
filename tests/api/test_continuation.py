"""Automatic continuation (REFERENCE 10.2), driven through the SDK's own hop and merge
logic: a synchronous request that outlives the limit ends its HTTP hop with
requires_continuation; the run goes on; every hop is a stored interaction."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction, _start

# The offline provider thinks, then sleeps (a slow model), then answers.
SLOW = "/think planning the answer\n/sleep 2.5\n/reply done at last"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def quick_cut(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    """A server that ends synchronous hops after 0.6 s."""
    tmp = tmp_path_factory.mktemp("cont-" + request.param)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'junction.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    server = _start(url, fake_openai, request.param, tmp, continuation_after_seconds=0.6)
    yield server
    server.thread.stop()


def test_the_sdk_continues_and_merges_the_hops(quick_cut: Junction) -> None:
    client = quick_cut.client()
    merged = client.interactions.create(model="offline/echo", input=SLOW)
    assert merged.status == "completed"
    assert merged.output_text == "done at last"
    assert [s.type for s in merged.steps] == ["user_input", "thought", "model_output"]
    hops = merged.continuation_ids
    assert hops is not None and len(hops) >= 2
    assert merged.id == hops[-1]
    # Every hop is a stored interaction; the first is the run itself.
    run = client.interactions.get(hops[0])
    assert run.status == "completed"
    assert [s.type for s in run.steps] == ["user_input", "thought", "model_output"]
    for earlier, later in itertools.pairwise(hops):
        hop = client.interactions.get(later)
        assert hop.previous_interaction_id == earlier
        assert not any(s.type == "user_input" for s in hop.steps)
    last = client.interactions.get(hops[-1])
    assert last.status == "completed"
    assert last.steps[-1].type == "model_output"
    # Usage is the run's, counted once.
    assert merged.usage is not None and run.usage is not None
    assert merged.usage.total_output_tokens == run.usage.total_output_tokens
    # The conversation goes on from the merged interaction (the last hop).
    nxt = client.interactions.create(
        model="offline/echo", input="/history", previous_interaction_id=merged.id
    )
    assert nxt.output_text == f"{SLOW} | /history"


def test_a_continuation_token_is_single_use_and_bound_to_its_hop(quick_cut: Junction) -> None:
    client = quick_cut.client()
    first = client.interactions.create(
        model="offline/echo", input=SLOW, automatic_continuation=False
    )
    assert first.status == "requires_continuation"
    token = first.continuation_token
    assert token
    with pytest.raises(gerr.BadRequestError, match="issued by interaction"):
        client.interactions.create(
            model="offline/echo", continuation_token=token, previous_interaction_id="v1_other"
        )
    with pytest.raises(gerr.BadRequestError, match="unknown continuation_token"):
        client.interactions.create(
            model="offline/echo", continuation_token="ct_forged", previous_interaction_id=first.id
        )
    second = client.interactions.create(
        model="offline/echo", continuation_token=token, previous_interaction_id=first.id
    )
    assert second.id != first.id
    with pytest.raises(gerr.BadRequestError, match="already used"):
        client.interactions.create(
            model="offline/echo", continuation_token=token, previous_interaction_id=first.id
        )
    # The run went on without the client: it finishes on its own.
    done = (
        client.interactions.create(
            model="offline/echo",
            continuation_token=second.continuation_token,
            previous_interaction_id=second.id,
        )
        if second.status == "requires_continuation"
        else second
    )
    while done.status == "requires_continuation":
        done = client.interactions.create(
            model="offline/echo",
            continuation_token=done.continuation_token,
            previous_interaction_id=done.id,
        )
    assert done.status == "completed"
    assert client.interactions.get(first.id).output_text == "done at last"


def test_streaming_hops_continue_on_the_same_iterator(quick_cut: Junction) -> None:
    client = quick_cut.client()
    events = list(client.interactions.create(model="offline/echo", input=SLOW, stream=True))
    created = [e for e in events if e.event_type == "interaction.created"]
    completed = [e for e in events if e.event_type == "interaction.completed"]
    assert len(created) >= 2 and len(completed) == len(created)
    assert [c.interaction.status for c in completed[:-1]] == ["requires_continuation"] * (
        len(completed) - 1
    )
    assert completed[-1].interaction.status == "completed"
    text = "".join(
        e.delta.text for e in events if e.event_type == "step.delta" and e.delta.type == "text"
    )
    assert text == "done at last"
    starts = [e.step.type for e in events if e.event_type == "step.start"]
    assert starts == ["thought", "model_output"]


def test_fast_background_and_unstored_requests_are_never_cut(quick_cut: Junction) -> None:
    client: genai.Client = quick_cut.client()
    fast = client.interactions.create(model="offline/echo", input="quick")
    assert fast.status == "completed" and fast.continuation_ids == [fast.id]
    unstored = client.interactions.create(model="offline/echo", input=SLOW, store=False)
    assert unstored.status == "completed" and unstored.output_text == "done at last"


def test_an_auth_token_holder_s_slow_turn_is_continued(quick_cut: Junction) -> None:
    client = quick_cut.client()
    root = client.interactions.create(model="offline/echo", input="root")
    token = client.interactions.auth_tokens.create(root.id).auth_token
    assert token is not None
    browser = quick_cut.client(api_key=token)
    merged = browser.interactions.create(
        model="offline/echo", input=SLOW, previous_interaction_id=root.id
    )
    assert merged.status == "completed" and merged.output_text == "done at last"
    assert merged.continuation_ids is not None and len(merged.continuation_ids) >= 2
    # ...but the token does not reach past its interaction
    with pytest.raises(gerr.PermissionDeniedError):
        browser.interactions.create(
            model="offline/echo", input="more", previous_interaction_id=merged.id
        )


def test_a_slow_provider_call_is_continued_and_called_once(
    quick_cut: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(Reply(text="a slow but complete answer", delay=2.0))
    client = quick_cut.client()
    merged = client.interactions.create(model="openai/x", input="take your time")
    assert merged.status == "completed"
    assert merged.output_text == "a slow but complete answer"
    assert merged.continuation_ids is not None and len(merged.continuation_ids) >= 2
    # The hops followed one run: the provider was asked once.
    assert len(openai_fake.requests) == 1


def test_sdk_releases_before_2_are_never_cut(quick_cut: Junction) -> None:
    """requires_continuation does not exist in the earlier schema: no hop for them."""
    reply = httpx.post(
        f"{quick_cut.url}/v1beta/interactions",
        json={"model": "offline/echo", "input": SLOW},
        headers={
            "x-goog-api-key": quick_cut.api_key,
            "x-goog-api-client": "google-genai-sdk/1.75.0 gl-python/3.11.7",
        },
        timeout=30,
    )
    body = reply.json()
    assert body["status"] == "completed" and "continuation_token" not in body
    assert body["outputs"][-1] == {"type": "text", "text": "done at last"}
