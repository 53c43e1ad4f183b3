"""Schemathesis against ``/openapi.json``: every documented operation, with data
generated from the document (valid and invalid), on a real server over loopback with
a valid API key. No answer may be a 5xx (schemathesis' ``not_a_server_error``).

The server is this module's own (its own SQLite database and data folder): the
destructive operations (``DELETE /project/data`` and the like) reach nothing another
test uses. Examples are bounded and derandomized (a fixed seed per operation), with no
shrinking: a failure is reported as found, with the request that caused it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from tests.api.hardening_support import new_project
from tests.conftest import Junction, _start

#: examples per operation: valid data, then invalid data
EXAMPLES = int(os.environ.get("JUNCTION_SCHEMATHESIS_EXAMPLES", "3"))
MODES = ((GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, max(1, EXAMPLES - 1)))


@pytest.fixture(scope="module")
def own_server(fake_openai: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Junction]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    server = _start(f"sqlite:///{tmp / 'junction.db'}", fake_openai, "sqlite", tmp)
    yield server
    server.thread.stop()


def test_no_documented_operation_answers_a_server_error(own_server: Junction) -> None:
    key, _ = new_project(own_server, "schemathesis")
    schema = schemathesis.openapi.from_url(own_server.url + "/openapi.json")
    failures: list[str] = []
    session = requests.Session()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples in MODES:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call(
                    base_url=own_server.url,
                    session=session,
                    headers={"x-goog-api-key": key},
                    timeout=30,
                )
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except FailureGroup as exc:
                    failures.append(
                        f"{case.method} {case.formatted_path} query={case.query!r} "
                        f"body={case.body!r:.300} -> {response.status_code} "
                        f"{response.text[:300]} ({exc})"
                    )

            try:
                run()
            except Unsatisfiable:
                # nothing to make invalid (no parameters, no body): the valid run covers it
                assert mode is GenerationMode.NEGATIVE, operation.label
    session.close()
    assert operations > 50
    assert not failures, "\n".join(failures)
