"""The web console in a real browser (headless Chromium) against a real Junction server on
SQLite and PostgreSQL: sign-in, the filtered and paged interaction list, an interaction's
timeline, the live view of a running one, cancel, the environment file browser (browse,
download, upload), agents, credentials and the usage chart. Each page's screenshot is
written under the test's temporary directory."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import httpx2 as httpx
from google import genai
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.conftest import Junction
from tests.console.conftest import Console


def api(junction: Junction, method: str, path: str, **kwargs: object) -> httpx.Response:
    response = httpx.request(
        method,
        f"{junction.url}/v1beta/{path}",
        headers={"x-goog-api-key": junction.api_key},
        timeout=30,
        **kwargs,  # type: ignore[arg-type]
    )
    assert response.status_code < 400, response.text
    return response


def create(junction: Junction, body: dict[str, object]) -> dict[str, object]:
    return api(junction, "POST", "interactions", json=body).json()  # type: ignore[no-any-return]


def signed_in(console: Console) -> None:
    console.sign_in()
    console.wait_for("#interactions-results table, #interactions-results .empty")


def test_sign_in_keeps_the_key_in_session_storage_and_out_of_urls(console: Console) -> None:
    page = httpx.get(console.base)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "<script>" not in page.text  # no inline script: the module is a separate file
    console.sign_in("not-a-key")
    console.wait(lambda d: "not accepted" in d.find_element(By.ID, "signin-error").text)
    assert console.driver.execute_script("return sessionStorage.length") == 0
    console.screenshot("signin")
    console.sign_in()
    console.wait_for("#interactions-results table, #interactions-results .empty")
    key = console.junction.api_key
    stored = console.driver.execute_script("return sessionStorage.getItem('junction.apiKey')")
    assert stored == key
    assert key not in console.driver.current_url
    assert key not in console.driver.page_source  # never rendered
    console.driver.find_element(By.ID, "signout").click()
    console.wait_for("#signin:not([hidden])")
    assert console.driver.execute_script("return sessionStorage.length") == 0
    assert console.csp_violations() == []


def test_interaction_list_filters_and_pages(console: Console, junction: Junction) -> None:
    model = f"offline/list-{secrets.token_hex(3)}"
    made = [create(junction, {"model": model, "input": f"question {n}"})["id"] for n in range(27)]
    made += [
        create(junction, {"model": model, "input": f'/call lookup {{"n": {n}}}'})["id"]
        for n in range(3)
    ]
    signed_in(console)
    console.go(f"#/interactions?model={model}")
    console.wait(lambda d: len(console.all("#interactions-results tbody tr")) == 25)
    first = [r.get_attribute("data-id") for r in console.all("#interactions-results tbody tr")]
    assert first == list(reversed(made))[:25]  # newest first
    console.screenshot("interactions")
    console.driver.find_element(By.ID, "page-next").click()
    console.wait(lambda d: len(console.all("#interactions-results tbody tr")) == 5)
    second = [r.get_attribute("data-id") for r in console.all("#interactions-results tbody tr")]
    assert second == list(reversed(made))[25:]
    assert console.driver.find_element(By.ID, "page-next").get_attribute("disabled") is not None
    console.driver.find_element(By.ID, "page-prev").click()
    console.wait(lambda d: len(console.all("#interactions-results tbody tr")) == 25)

    Select(console.driver.find_element(By.ID, "filter-status")).select_by_value("requires_action")
    console.driver.find_element(By.ID, "apply-filters").click()
    console.wait(lambda d: len(console.all("#interactions-results tbody tr")) == 3)
    rows = console.all("#interactions-results tbody tr")
    assert {r.get_attribute("data-id") for r in rows} == set(made[27:])
    assert {r.find_element(By.CSS_SELECTOR, ".badge").text for r in rows} == {"requires_action"}
    assert "status=requires_action" in console.driver.current_url

    # a time range that ends before these were made shows none of them
    console.go(f"#/interactions?model={model}&before=2020-01-01T00:00:00Z")
    console.wait_for("#interactions-results .empty")
    assert console.csp_violations() == []


def test_a_finished_interaction_shows_its_steps_as_text(
    console: Console, junction: Junction
) -> None:
    hostile = '<img src=x id=injected onerror="document.title=1">'
    first = create(
        junction,
        {
            "model": "offline/echo",
            "input": f"{hostile}\n/think Look up the weather\n"
            '/call get_weather {"city": "Paris"}',
        },
    )
    call = first["steps"][-1]  # type: ignore[index]
    second = create(
        junction,
        {
            "model": "offline/echo",
            "previous_interaction_id": first["id"],
            "input": [
                {"type": "function_result", "call_id": call["id"], "name": "get_weather",
                 "result": "sunny, 21 C"},
            ],
        },
    )  # fmt: skip
    signed_in(console)
    console.go(f"#/interactions/{first['id']}")
    console.wait_for("#timeline")
    types = [s.get_attribute("data-type") for s in console.all("#timeline > li")]
    assert types == ["user_input", "thought", "function_call"]
    timeline = console.text_of("#timeline")
    assert hostile in timeline  # shown as text …
    assert console.all("#injected") == []  # … never turned into markup
    assert "Look up the weather" in timeline
    assert '"city": "Paris"' in console.text_of("#timeline li[data-type=function_call]")
    assert "requires_action" in console.text_of(".header")
    assert console.text_of("#usage")  # token counts shown
    console.go(f"#/interactions/{second['id']}")
    console.wait(lambda d: "sunny, 21 C" in console.text_of("#timeline"))
    assert "get_weather returned" in console.text_of("#timeline li[data-type=model_output]")
    assert first["id"] in console.text_of("#facts")  # link to the previous turn
    console.screenshot("interaction")
    assert console.csp_violations() == []


def test_a_failed_interaction_shows_its_errors(console: Console, junction: Junction) -> None:
    failed = create(junction, {"model": "offline/echo", "input": "/error 400"})
    assert failed["status"] == "failed"
    signed_in(console)
    console.go(f"#/interactions/{failed['id']}")
    errors = console.wait_for("#errors")
    assert "offline answered HTTP 400" in errors.text
    assert "failed" in console.text_of(".header")
    assert console.all("#cancel") == []


def test_the_live_view_follows_a_running_interaction(console: Console, junction: Junction) -> None:
    signed_in(console)
    running = create(
        junction,
        {
            "model": "offline/echo",
            "background": True,
            "input": "/think Planning the answer\n/sleep 10\n/reply All done here",
        },
    )
    console.go(f"#/interactions/{running['id']}")
    console.wait_for("#live")
    # the thought arrives over the stream while the run is still going
    console.wait(lambda d: "Planning the answer" in console.text_of("#live-steps"))
    assert api(junction, "GET", f"interactions/{running['id']}").json()["status"] == "in_progress"
    console.screenshot("live")
    console.wait(lambda d: "completed" in console.text_of(".header"), timeout=60)
    console.wait(lambda d: "All done here" in console.text_of("#timeline"))
    assert console.all("#live") == []
    assert console.all("#cancel") == []
    assert console.csp_violations() == []


def test_cancel_a_running_interaction(console: Console, junction: Junction) -> None:
    signed_in(console)
    running = create(
        junction, {"model": "offline/echo", "background": True, "input": "/sleep 60\n/reply no"}
    )
    console.go(f"#/interactions/{running['id']}")
    console.wait_for("#cancel").click()
    console.wait(lambda d: "cancelled" in console.text_of(".header"), timeout=30)
    assert api(junction, "GET", f"interactions/{running['id']}").json()["status"] == "cancelled"
    assert console.all("#cancel") == []


def test_environment_file_browser_downloads_and_uploads(
    console: Console, junction: Junction, envs: genai.Client, tmp_path: Path
) -> None:
    env = api(
        junction,
        "POST",
        "environments",
        json={
            "network": "disabled",
            "sources": [
                {"type": "inline", "target": "notes/readme.md", "content": "# Notes\nhello"},
                {"type": "inline", "target": "data.csv", "content": "a,b\n1,2\n"},
            ],
        },
    ).json()
    try:
        signed_in(console)
        console.go("#/environments")
        console.wait_for(f"tr[data-id='{env['id']}'] a").click()
        console.wait_for("tr[data-path='notes']")
        assert console.all("tr[data-path='data.csv']")
        console.screenshot("environment")
        console.driver.find_element(By.CSS_SELECTOR, "tr[data-path='notes'] a.dir").click()
        console.wait_for("tr[data-path='notes/readme.md'] button.download").click()
        target = console.downloads / "readme.md"
        console.wait(lambda d: target.exists() and target.read_text() == "# Notes\nhello")

        upload = tmp_path / "report.txt"
        upload.write_text("uploaded from the console\n")
        console.driver.find_element(By.ID, "upload-file").send_keys(str(upload))
        console.driver.find_element(By.CSS_SELECTOR, "#upload-form button").click()
        console.wait_for("tr[data-path='notes/report.txt']")
        got = api(junction, "GET", f"environments/{env['id']}/files/notes/report.txt?alt=media")
        assert got.text == "uploaded from the console\n"
        assert console.csp_violations() == []
    finally:
        api(junction, "DELETE", f"environments/{env['id']}")


def test_agents_and_credentials_pages_show_no_secrets(console: Console, junction: Junction) -> None:
    agent_id = f"console-agent-{secrets.token_hex(3)}"
    api(junction, "POST", "agents", json={"id": agent_id, "description": "Summarises reports"})
    cred_id = f"console-cred-{secrets.token_hex(3)}"
    secret = "SECRET-" + secrets.token_hex(8)
    api(
        junction,
        "POST",
        "credentials",
        json={"type": "bearer_token", "id": cred_id, "token": secret},
    )
    signed_in(console)
    console.go("#/agents")
    console.wait(lambda d: agent_id in console.text_of("main"))
    assert "Summarises reports" in console.text_of("main")
    console.screenshot("agents")
    console.go("#/credentials")
    console.wait(lambda d: cred_id in console.text_of("main"))
    assert "bearer_token" in console.text_of("main")
    assert secret not in console.driver.page_source
    console.screenshot("credentials")


def test_usage_chart_draws_tokens_per_day_and_model(console: Console, junction: Junction) -> None:
    model = f"offline/chart-{secrets.token_hex(3)}"
    made = [create(junction, {"model": model, "input": "x " * (n * 40 + 1)}) for n in range(3)]
    tokens = sum(int(m["usage"]["total_tokens"]) for m in made)  # type: ignore[index]
    assert tokens > 0
    signed_in(console)
    console.go("#/usage")
    bar = console.wait_for(f"#usage-chart rect.point[data-series='{model}']")
    assert bar.get_attribute("data-day") == time.strftime("%Y-%m-%d", time.gmtime())
    assert float(bar.get_attribute("data-value") or 0) == tokens
    assert float(bar.get_attribute("height") or 0) > 0
    assert model in console.text_of(".legend")
    console.screenshot("usage")
    assert console.csp_violations() == []
