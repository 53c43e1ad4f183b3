"""Durability across real processes: workers dying mid-run, restarts, cancel from
another API process, and many background runs completed exactly once."""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from junction.testing.fakeserver import Reply
from tests.cluster.conftest import Cluster, Proc


def _claimed_by(procs: list[Proc], interaction_id: str, timeout: float = 15) -> Proc:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if f"claimed {interaction_id}" in proc.log.read_text():
                return proc
        time.sleep(0.05)
    raise AssertionError(f"no worker claimed {interaction_id}")


def _wait_requests(cluster: Cluster, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(cluster.fake.requests) < count:
        assert time.monotonic() < deadline, f"fake saw {len(cluster.fake.requests)} requests"
        time.sleep(0.02)


def test_killed_worker_run_is_taken_over_without_repeating_steps(cluster: Cluster) -> None:
    api = cluster.api()
    workers = [cluster.worker(), cluster.worker()]
    words = " ".join(f"w{i}" for i in range(40))
    cluster.fake.enqueue(
        Reply(text=words, thought="first I think", chunk_delay=0.1),
        Reply(text="resumed answer"),
    )
    client = cluster.client(api)
    created = client.interactions.create(model="openai/slow", input="go", background=True)
    assert created.status in {"queued", "in_progress"}
    owner = _claimed_by(workers, created.id)
    _wait_requests(cluster, 1)
    time.sleep(1.0)  # the thought step has ended and been written; text is streaming
    owner.kill9()
    final = cluster.wait_status(client, created.id, {"completed", "failed"}, timeout=30)
    assert final.status == "completed", final.errors
    assert len(cluster.fake.requests) == 2  # the in-flight call was retried once
    assert [s.type for s in final.steps] == ["user_input", "thought", "model_output"]
    assert final.steps[1].summary[0].text == "first I think"  # kept, not redone
    assert final.output_text == "resumed answer"
    survivor = next(w for w in workers if w is not owner)
    assert f"claimed {created.id} (attempt 2)" in survivor.log.read_text()


def test_restart_resumes_interrupted_runs(cluster: Cluster) -> None:
    server = cluster.api(workers=4)
    cluster.fake.enqueue(
        Reply(text="a b c d e f g h i j", chunk_delay=0.3), Reply(text="after restart")
    )
    client = cluster.client(server)
    created = client.interactions.create(model="openai/slow", input="go", background=True)
    assert created.status == "in_progress"
    _wait_requests(cluster, 1)
    server.kill9()
    restarted = cluster.api(workers=4)  # same host: it sees the dead owner at once
    started = time.monotonic()
    final = cluster.wait_status(cluster.client(restarted), created.id, {"completed", "failed"})
    assert final.status == "completed", final.errors
    assert final.output_text == "after restart"
    assert time.monotonic() - started < 1.5  # did not wait for the lease to lapse
    assert "will be resumed" in restarted.log.read_text()


def test_cancel_from_another_api_process(cluster: Cluster) -> None:
    runner = cluster.api(workers=4)
    other = cluster.api()
    cluster.fake.enqueue(Reply(text=" ".join(["slow"] * 100), chunk_delay=0.1))
    created = cluster.client(runner).interactions.create(
        model="openai/slow", input="go", background=True
    )
    _wait_requests(cluster, 1)
    time.sleep(0.5)
    started = time.monotonic()
    cancelled = cluster.client(other).interactions.cancel(created.id)
    elapsed = time.monotonic() - started
    assert cancelled.status == "cancelled"
    assert elapsed < 1.0, elapsed
    partial = cluster.client(runner).interactions.get(created.id)
    assert partial.status == "cancelled"
    assert partial.output_text.startswith("slow")  # partial output kept
    assert partial.usage is not None


def test_cancel_of_a_queued_interaction(cluster: Cluster) -> None:
    api = cluster.api()  # no workers anywhere: it stays queued
    client = cluster.client(api)
    created = client.interactions.create(model="openai/x", input="never", background=True)
    assert created.status == "queued"
    assert client.interactions.cancel(created.id).status == "cancelled"
    events = list(client.interactions.get(created.id, stream=True))
    assert events[-1].event_type == "interaction.completed"
    assert events[-1].interaction.status == "cancelled"


def test_stream_from_an_api_process_while_a_worker_runs(cluster: Cluster) -> None:
    api = cluster.api()
    cluster.worker()
    text = " ".join(f"t{i}" for i in range(20))
    cluster.fake.enqueue(Reply(text=text, chunk_delay=0.05))
    client = cluster.client(api)
    created = client.interactions.create(model="openai/x", input="go", background=True)
    events = list(client.interactions.get(created.id, stream=True))
    ids = [int(e.event_id) for e in events]
    assert ids == sorted(set(ids))
    streamed = "".join(e.delta.text for e in events if e.event_type == "step.delta")
    assert streamed == text == client.interactions.get(created.id).output_text
    assert events[-1].event_type == "interaction.completed"


@pytest.mark.parametrize("cluster", ["postgres"], indirect=True)  # scale-out is on PostgreSQL
def test_two_api_and_two_worker_processes_complete_everything_once(cluster: Cluster) -> None:
    apis = [cluster.api(), cluster.api()]
    cluster.worker(16)
    cluster.worker(16)
    clients = [cluster.client(a) for a in apis]

    def create(i: int) -> str:
        return (
            clients[i % 2]
            .interactions.create(model="openai/x", input=f"job-{i}", background=True)
            .id
        )

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(200)))
    deadline = time.monotonic() + 60
    pending = set(ids)
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} not completed"
        for interaction_id in list(pending):
            if clients[0].interactions.get(interaction_id).status == "completed":
                pending.discard(interaction_id)
        time.sleep(0.2)
    calls = collections.Counter(r.body["messages"][-1]["content"] for r in cluster.fake.requests)
    assert all(calls[f"job-{i}"] == 1 for i in range(200)), calls.most_common(3)
    assert len(cluster.fake.requests) == 200


def test_a_run_whose_worker_keeps_dying_fails_after_max_attempts(cluster: Cluster) -> None:
    api = cluster.api()
    client = cluster.client(api)
    cluster.fake.default = Reply(text=" ".join(["never"] * 200), chunk_delay=0.1)
    created = client.interactions.create(model="openai/slow", input="go", background=True)
    for attempt in (1, 2, 3):
        worker = cluster.worker()
        assert _claimed_by([worker], created.id) is worker
        _wait_requests(cluster, attempt)
        worker.kill9()
    last = cluster.worker()
    final = cluster.wait_status(client, created.id, {"failed", "completed"}, timeout=30)
    assert final.status == "failed"
    assert final.errors[0].code == "gave_up"
    assert "3 times" in final.errors[0].message
    assert len(cluster.fake.requests) == 3
    assert f"claimed {created.id} (attempt 4)" in last.log.read_text()
