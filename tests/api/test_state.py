"""Server-side state: chains, branches, store=false, conflicts, projects and auth."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction


def test_previous_interaction_id_gives_the_model_the_whole_chain(client: genai.Client) -> None:
    first = client.interactions.create(model="offline/echo", input="one")
    second = client.interactions.create(
        model="offline/echo", input="two", previous_interaction_id=first.id
    )
    third = client.interactions.create(
        model="offline/echo", input="/history", previous_interaction_id=second.id
    )
    assert third.output_text == "one | two | /history"
    assert third.previous_interaction_id == second.id
    # each interaction's own steps are only its turn
    assert [s.type for s in client.interactions.get(second.id).steps] == [
        "user_input",
        "model_output",
    ]


def test_continuing_an_older_turn_branches_without_touching_the_other_branch(
    client: genai.Client,
) -> None:
    root = client.interactions.create(model="offline/echo", input="root")
    left = client.interactions.create(
        model="offline/echo", input="left", previous_interaction_id=root.id
    )
    right = client.interactions.create(
        model="offline/echo", input="right", previous_interaction_id=root.id
    )
    left_tail = client.interactions.create(
        model="offline/echo", input="/history", previous_interaction_id=left.id
    )
    right_tail = client.interactions.create(
        model="offline/echo", input="/history", previous_interaction_id=right.id
    )
    assert left_tail.output_text == "root | left | /history"
    assert right_tail.output_text == "root | right | /history"


def test_config_is_not_inherited_by_the_next_turn(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    tool = {
        "type": "function",
        "name": "lookup",
        "description": "look up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    first = client.interactions.create(
        model="openai/gpt-x",
        input="hi",
        system_instruction="be terse",
        tools=[tool],
        generation_config={"temperature": 0.2},
    )
    client.interactions.create(
        model="openai/gpt-x", input="again", previous_interaction_id=first.id
    )
    one, two = (r.body for r in openai_fake.requests[-2:])
    assert one["messages"][0] == {"role": "system", "content": "be terse"}
    assert one["tools"][0]["function"]["name"] == "lookup" and one["temperature"] == 0.2
    assert "tools" not in two and "temperature" not in two
    assert [m["role"] for m in two["messages"]] == ["user", "assistant", "user"]
    assert two["messages"][0]["content"] == "hi"


def test_store_false_is_not_retrievable_and_cannot_be_continued(client: genai.Client) -> None:
    ephemeral = client.interactions.create(model="offline/echo", input="secret", store=False)
    assert ephemeral.output_text == "secret"
    with pytest.raises(gerr.NotFoundError):
        client.interactions.get(ephemeral.id)
    with pytest.raises(gerr.NotFoundError):
        client.interactions.create(
            model="offline/echo", input="more", previous_interaction_id=ephemeral.id
        )


def test_store_false_with_previous_interaction_id_is_rejected(client: genai.Client) -> None:
    stored = client.interactions.create(model="offline/echo", input="x")
    with pytest.raises(gerr.BadRequestError, match="store=false"):
        client.interactions.create(
            model="offline/echo", input="y", store=False, previous_interaction_id=stored.id
        )


def test_unknown_previous_interaction_is_404(client: genai.Client) -> None:
    with pytest.raises(gerr.NotFoundError, match="v1_doesnotexist"):
        client.interactions.create(
            model="offline/echo", input="x", previous_interaction_id="v1_doesnotexist"
        )


def test_continuing_a_running_interaction_is_409(client: genai.Client) -> None:
    running = client.interactions.create(
        model="offline/echo", input="/sleep 3\n/reply late", background=True
    )
    assert running.status == "in_progress"
    with pytest.raises(gerr.ConflictError, match="still in_progress"):
        client.interactions.create(
            model="offline/echo", input="next", previous_interaction_id=running.id
        )
    client.interactions.cancel(running.id)


def test_other_projects_ids_are_404(junction: Junction) -> None:
    created = junction.cli("keys", "create", "--project", f"other-{junction.backend}")
    assert created.returncode == 0, created.stderr
    other_key = created.stdout.split()[1]
    mine = junction.client().interactions.create(model="offline/echo", input="private")
    other = junction.client(api_key=other_key)
    with pytest.raises(gerr.NotFoundError):
        other.interactions.get(mine.id)
    with pytest.raises(gerr.NotFoundError):
        other.interactions.create(model="offline/echo", input="x", previous_interaction_id=mine.id)
    with pytest.raises(gerr.NotFoundError):
        other.interactions.delete(mine.id)
    with pytest.raises(gerr.NotFoundError):
        other.interactions.cancel(mine.id)
    listed = httpx.get(
        f"{junction.url}/v1beta/interactions", headers={"x-goog-api-key": other_key}
    ).json()
    assert mine.id not in {i["id"] for i in listed["interactions"]}
    assert junction.client().interactions.get(mine.id).output_text == "private"


def test_missing_and_invalid_keys_are_401(junction: Junction) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/interactions", json={"model": "offline/echo", "input": "x"}
    )
    assert response.status_code == 401
    assert "x-goog-api-key" in response.json()["error"]["message"]
    with pytest.raises(gerr.AuthenticationError):
        junction.client(api_key="wrong").interactions.create(model="offline/echo", input="x")


def test_bearer_authorization_is_accepted(junction: Junction) -> None:
    response = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={"model": "offline/echo", "input": "bearer"},
        headers={"Authorization": f"Bearer {junction.api_key}"},
    )
    assert response.status_code == 200
    assert response.json()["steps"][-1]["content"][0]["text"] == "bearer"


def test_revoked_keys_stop_working(junction: Junction) -> None:
    project = f"revoke-{junction.backend}"
    key_id, key = junction.cli("keys", "create", "--project", project).stdout.split()
    assert (
        junction.client(api_key=key).interactions.create(model="offline/echo", input="x").status
        == "completed"
    )
    listing = junction.cli("keys", "list", "--project", project).stdout
    assert key_id in listing and key not in listing  # the secret is never shown again
    assert junction.cli("keys", "revoke", key_id, "--project", project).returncode == 0
    time.sleep(5.2)  # the key cache's time-to-live
    with pytest.raises(gerr.AuthenticationError):
        junction.client(api_key=key).interactions.create(model="offline/echo", input="x")


def test_listing_pages_through_the_project(junction: Junction) -> None:
    project = f"paging-{junction.backend}"
    key = junction.cli("keys", "create", "--project", project).stdout.split()[1]
    client = junction.client(api_key=key)
    made = [client.interactions.create(model="offline/echo", input=f"n{i}").id for i in range(5)]
    seen: list[str] = []
    token = None
    while True:
        params = {"page_size": 2, **({"page_token": token} if token else {})}
        page = httpx.get(
            f"{junction.url}/v1beta/interactions", params=params, headers={"x-goog-api-key": key}
        ).json()
        assert len(page["interactions"]) <= 2
        seen += [i["id"] for i in page["interactions"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == list(reversed(made))


def test_delete_removes_the_interaction(client: genai.Client) -> None:
    created = client.interactions.create(model="offline/echo", input="bye")
    client.interactions.delete(created.id)
    with pytest.raises(gerr.NotFoundError):
        client.interactions.get(created.id)
    with pytest.raises(gerr.NotFoundError):
        client.interactions.delete(created.id)


def test_cancel_stops_a_running_interaction_and_keeps_it(client: genai.Client) -> None:
    running = client.interactions.create(
        model="offline/echo", input="/sleep 10\n/reply never", background=True
    )
    started = time.monotonic()
    cancelled = client.interactions.cancel(running.id)
    assert time.monotonic() - started < 2
    assert cancelled.status == "cancelled"
    assert client.interactions.get(running.id).status == "cancelled"


def test_cancel_of_a_finished_interaction_is_400(client: genai.Client) -> None:
    done = client.interactions.create(model="offline/echo", input="x")
    with pytest.raises(gerr.BadRequestError, match="already completed"):
        client.interactions.cancel(done.id)


def test_delete_of_a_running_interaction_cancels_it_first(client: genai.Client) -> None:
    running = client.interactions.create(model="offline/echo", input="/sleep 10", background=True)
    client.interactions.delete(running.id)
    with pytest.raises(gerr.NotFoundError):
        client.interactions.get(running.id)


def test_aliases_and_configured_providers_route(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    client = junction.client()
    assert (
        client.interactions.create(model="gemini-3.5-flash", input="aliased").output_text
        == "aliased"
    )
    openai_fake.enqueue(Reply(text="from vllm"))
    out = client.interactions.create(model="house-model", input="x")
    assert out.output_text == "from vllm"
    assert out.model == "house-model"
    assert openai_fake.requests[-1].body["model"] == "qwen3"
    assert "authorization" not in {k.lower() for k in openai_fake.requests[-1].headers}


def test_idempotency_key_makes_retried_creates_one_run(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    key = f"idem-{time.monotonic_ns()}"
    headers = {"x-goog-api-key": junction.api_key, "Idempotency-Key": key}
    body = {"model": "openai/gpt-x", "input": "charge the card once"}
    openai_fake.enqueue(Reply(text="done", delay=0.3))

    def post() -> httpx.Response:
        return httpx.post(
            f"{junction.url}/v1beta/interactions", json=body, headers=headers, timeout=10
        )

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: post(), range(3)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    again = post().json()
    assert again["id"] == responses[0].json()["id"] and again["status"] == "completed"
    assert len(openai_fake.requests) == 1


def test_idempotency_key_through_the_sdk(junction: Junction) -> None:
    client = junction.client()
    headers = {"Idempotency-Key": f"sdk-{time.monotonic_ns()}"}
    first = client.interactions.create(model="offline/echo", input="x", extra_headers=headers)
    second = client.interactions.create(model="offline/echo", input="x", extra_headers=headers)
    assert first.id == second.id
