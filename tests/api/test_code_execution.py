"""The code_execution tool end to end: the model's code runs in the real sandbox."""

from __future__ import annotations

import threading
import time

from google import genai

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from tests.conftest import Junction

CSV_CODE = (
    "import csv\n"
    "with open('report.csv', 'w', newline='') as f:\n"
    "    csv.writer(f).writerows([['n', 'square'], *[[i, i * i] for i in range(4)]])\n"
    "print('wrote', sum(1 for _ in open('report.csv')), 'lines')\n"
)


def test_model_code_runs_in_a_sandbox_and_files_are_downloadable(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": CSV_CODE, "language": "python"})]),
        Reply(text="The CSV is in report.csv."),
    )
    client = junction.client()
    done = client.interactions.create(
        model="openai/x", input="make a csv", tools=[{"type": "code_execution"}]
    )
    assert done.status == "completed", done.errors
    assert [s.type for s in done.steps] == [
        "user_input",
        "code_execution_call",
        "code_execution_result",
        "model_output",
    ]
    call, result = done.steps[1], done.steps[2]
    assert call.arguments.code == CSV_CODE and call.arguments.language == "python"
    assert result.call_id == call.id and not result.is_error
    assert "wrote 5 lines" in result.result
    assert done.environment_id and done.environment_id.startswith("env_")
    tool_message = openai_fake.requests[-1].body["messages"][-1]
    assert tool_message["role"] == "tool" and "wrote 5 lines" in tool_message["content"]
    csv = client.environments.files.download(environment=done.environment_id, path="report.csv")
    assert csv.decode().splitlines() == ["n,square", "0,0", "1,1", "2,4", "3,9"]
    assert done.usage.model_extra.get("tool_calls") == {"code_execution": 1}
    assert 0 < done.usage.model_extra["sandbox_seconds"] < 30


def test_failing_code_is_an_error_result_the_model_sees(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": "exit 3", "language": "bash"})]),
        Reply(text="It failed."),
    )
    env = envs.environments.create()
    done = junction.client().interactions.create(
        model="openai/x", input="x", tools=[{"type": "code_execution"}], environment=env.id
    )
    assert done.environment_id == env.id
    result = done.steps[2]
    assert result.is_error and "exit status 3" in result.result
    assert done.status == "completed"


def test_streamed_output_and_cancel_kills_the_code(
    envs: genai.Client, junction: Junction, openai_fake: FakeOpenAI
) -> None:
    code = "for i in $(seq 1 100); do echo tick $i; echo $i >> ticks.txt; sleep 0.2; done"
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("code_execution", {"code": code, "language": "bash"})])
    )
    client = junction.client()
    events: list[object] = []

    def consume() -> None:
        for event in client.interactions.create(
            model="openai/x", input="x", stream=True, tools=[{"type": "code_execution"}]
        ):
            events.append(event)

    reader = threading.Thread(target=consume)
    reader.start()
    deadline = time.monotonic() + 20
    while not any(
        getattr(getattr(e, "delta", None), "type", "") == "code_execution_result" for e in events
    ):
        assert time.monotonic() < deadline, "no live output"
        time.sleep(0.05)
    interaction_id = events[0].interaction.id
    started = time.monotonic()
    cancelled = client.interactions.cancel(interaction_id)
    assert time.monotonic() - started < 1.5
    assert cancelled.status == "cancelled"
    reader.join(10)
    env_id = client.interactions.get(interaction_id).environment_id
    assert env_id is not None
    ticks = [
        e.delta.result
        for e in events
        if getattr(getattr(e, "delta", None), "type", "") == "code_execution_result"
        and getattr(e.delta, "result", None)
    ]
    assert ticks and ticks[0].startswith("tick 1")
    # the process tree is gone: the file the loop appends to stops growing
    first = client.environments.files.download(environment=env_id, path="ticks.txt")
    time.sleep(1.0)
    assert client.environments.files.download(environment=env_id, path="ticks.txt") == first
