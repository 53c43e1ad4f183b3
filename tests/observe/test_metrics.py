"""/metrics: the operator token, route templates (never raw paths), runs, tokens, cost,
provider errors and retries, queue depth; 404 without a token; a separate port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from junction.config import load_settings
from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.testing.server import JunctionThread
from tests.conftest import API_KEY, Junction
from tests.observe.conftest import METRICS_TOKEN, Observed

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str, token: str | None = METRICS_TOKEN) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        v for (n, lbls), v in samples.items() if n == name and labels.items() <= dict(lbls).items()
    )


def test_metrics_need_the_operator_token(observed: Observed) -> None:
    url = f"{observed.url}/metrics"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "JUNCTION_METRICS_TOKEN" in wrong.json()["error"]["message"]
    # an API key is not the metrics token
    as_key = httpx.get(url, headers={"authorization": f"Bearer {observed.api_key}"})
    assert as_key.status_code == 401


def test_runs_tokens_cost_and_http_routes_are_counted(
    observed: Observed, openai_fake: FakeOpenAI
) -> None:
    url = f"{observed.url}/metrics"
    before = scrape(url)
    client = observed.client(api_key=observed.new_key()[1])
    openai_fake.replies.append(Reply(input_tokens=100, output_tokens=20))
    done = client.interactions.create(model="openai/priced", input="count me")
    client.interactions.get(done.id)
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    runs = dict(status="completed", provider="openai", model="openai/priced", agent="")
    assert delta("junction_runs_total", **runs) == 1
    assert delta("junction_tokens_total", model="openai/priced", type="input") == 100
    assert delta("junction_tokens_total", model="openai/priced", type="output") == 20
    assert delta("junction_cost_total", model="openai/priced", currency="USD") == pytest.approx(
        (100 * 2.0 + 20 * 10.0) / 1e6
    )
    assert delta("junction_model_call_duration_seconds_count", model="openai/priced") == 1
    # latency by route template and status, never by raw path
    created = dict(method="POST", route="/{version}/interactions", status="200")
    assert delta("junction_http_request_duration_seconds_count", **created) == 1
    fetched = dict(method="GET", route="/{version}/interactions/{interaction_id}", status="200")
    assert delta("junction_http_request_duration_seconds_count", **fetched) == 1
    assert not any(done.id in str(labels) for (_, labels) in after)
    assert ("junction_queue_depth", ()) in after
    assert ("junction_sandboxes_live", ()) in after
    assert value(after, "junction_runs_active") == 0


def test_provider_errors_and_retries_are_counted(
    observed: Observed, openai_fake: FakeOpenAI
) -> None:
    url = f"{observed.url}/metrics"
    before = scrape(url)
    openai_fake.replies.extend([Reply(status=503), Reply(text="fine")])
    done = observed.client(api_key=observed.new_key()[1]).interactions.create(
        model="openai/priced", input="retry me"
    )
    assert done.status == "completed"
    openai_fake.replies.append(Reply(status=400))
    failed = observed.client(api_key=observed.new_key()[1]).interactions.create(
        model="openai/priced", input="fail me"
    )
    assert failed.status == "failed"
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("junction_provider_errors_total", provider="openai", status="503") == 1
    assert delta("junction_provider_errors_total", provider="openai", status="400") == 1
    assert delta("junction_provider_retries_total", provider="openai") == 1
    assert delta("junction_runs_total", status="failed", model="openai/priced") == 1


def test_without_a_token_or_port_metrics_are_not_served(junction: Junction) -> None:
    response = httpx.get(f"{junction.url}/metrics")
    assert response.status_code == 404
    with_key = httpx.get(
        f"{junction.url}/metrics", headers={"authorization": f"Bearer {junction.api_key}"}
    )
    assert with_key.status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def metrics_port_server(
    fake_openai: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[JunctionThread, int]]:
    tmp = tmp_path_factory.mktemp("metrics-port")
    port = _free_port()
    settings = load_settings(
        env={
            "JUNCTION_API_KEY": API_KEY,
            "OPENAI_BASE_URL": fake_openai.url + "/v1",
            "OPENAI_API_KEY": "sk-fake",
            "JUNCTION_METRICS_PORT": str(port),
        },
        overrides={
            "database_url": f"sqlite:///{tmp / 'j.db'}",
            "data_dir": tmp,
            "access_log": False,
        },
    )
    thread = JunctionThread(settings).start()
    yield thread, port
    thread.stop()


def test_metrics_on_their_own_port(
    metrics_port_server: tuple[JunctionThread, int], openai_fake: FakeOpenAI
) -> None:
    thread, port = metrics_port_server
    assert httpx.get(f"{thread.url}/metrics").status_code == 404  # not on the API port
    headers = {"x-goog-api-key": API_KEY}
    body = {"model": "openai/x", "input": "hi"}
    response = httpx.post(f"{thread.url}/v1beta/interactions", json=body, headers=headers)
    assert response.status_code == 200
    samples = scrape(f"http://127.0.0.1:{port}/metrics", token=None)
    assert value(samples, "junction_runs_total", status="completed", model="openai/x") == 1


def test_model_label_values_are_capped_then_read_other(
    observed: Observed, openai_fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from junction.observe import metrics as metrics_module

    url = f"{observed.url}/metrics"
    client = observed.client(api_key=observed.new_key()[1])
    assert client.interactions.create(model="openai/priced", input="seen").status == "completed"
    before = scrape(url)
    models = {
        dict(labels)["model"]
        for (name, labels) in before
        if name == "junction_runs_total" and dict(labels).get("model")
    }
    assert "openai/priced" in models and "other" not in models
    # two more distinct values fit under the cap; any after them read "other"
    monkeypatch.setattr(metrics_module, "MAX_LABEL_VALUES", len(models) + 2)
    fresh = [f"openai/label-{i}-{observed.backend}" for i in range(4)]
    for model in fresh:
        assert client.interactions.create(model=model, input="label me").status == "completed"
    # a model labelled before the cap was reached keeps its own label
    assert client.interactions.create(model="openai/priced", input="again").status == "completed"
    after = scrape(url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("junction_runs_total", model=fresh[0]) == 1
    assert delta("junction_runs_total", model=fresh[1]) == 1
    assert delta("junction_runs_total", model="other") == 2
    assert delta("junction_model_call_duration_seconds_count", model="other") == 2
    assert not any(m in str(labels) for (_, labels) in after for m in fresh[2:])
    assert delta("junction_runs_total", model="openai/priced") == 1


def test_labelled_children_are_remembered_per_metric_and_values() -> None:
    from junction.observe.metrics import Metrics

    metrics = Metrics()
    ok = metrics.child(metrics.http_duration, "GET", "/x", "200")
    assert metrics.child(metrics.http_duration, "GET", "/x", "200") is ok
    assert metrics.child(metrics.http_duration, "GET", "/x", "404") is not ok
    runs = metrics.child(metrics.runs, "completed", "openai", "m", "")
    runs.inc()
    metrics.child(metrics.runs, "completed", "openai", "m", "").inc()
    ok.observe(0.01)
    text = metrics.exposition().decode()
    assert 'junction_runs_total{agent="",model="m",provider="openai",status="completed"} 2.0' in (
        text
    )
    assert 'route="/x",status="200"} 1.0' in text


def test_unknown_http_methods_share_one_label(observed: Observed) -> None:
    """A client cannot grow the method label's values: methods outside the known set
    (here WebDAV's, which the HTTP parser accepts) are counted as ``_OTHER``."""
    url = f"{observed.url}/metrics"
    before = scrape(url)
    host, port = observed.url.removeprefix("http://").rsplit(":", 1)
    for method in ("PROPFIND", "MKCOL", "LOCK"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"{method} /v1beta/interactions HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 4")
    after = scrape(url)
    labelled = {dict(lbls).get("method") for (n, lbls) in after if n.startswith("junction_http")}
    assert not labelled & {"PROPFIND", "MKCOL", "LOCK"}
    name = "junction_http_request_duration_seconds_count"
    assert value(after, name, method="_OTHER") - value(before, name, method="_OTHER") == 3
