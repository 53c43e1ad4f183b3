"""url_context: readable text from HTML, the SSRF-safe fetcher, and the tool in the run
loop through the official SDK."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from junction.testing.fake_openai import FakeOpenAI
from junction.testing.fakeserver import Reply
from junction.tools import htmltext
from junction.tools.fetch import UnsafeAddress, UrlFetcher, address_problem, numeric_host
from tests.conftest import Junction
from tests.tools.conftest import Site

#: the local site stands in for "the internet": its address is allowed, no other private one
LOCAL = ["127.0.0.1/32"]
URL_CONTEXT = {"type": "url_context"}


# -- readable text -------------------------------------------------------------------------


def test_html_to_readable_text() -> None:
    from tests.tools.conftest import ARTICLE

    page = htmltext.extract(ARTICLE)
    assert page.title == "Why cats sleep | Cat Facts"
    assert page.text.startswith("# Why cats sleep\n\nCats sleep twelve to sixteen hours")
    assert "## Energy" in page.text
    assert "Read the study." in page.text  # link text kept, inline
    assert "- Kittens sleep more\n- Old cats too" in page.text
    for chrome in ("secretScript", "color: red", "About us", "Popular posts", "Copyright"):
        assert chrome not in page.text


def test_html_structure_is_kept() -> None:
    html = """<body><div class="content">
    <h2>Setup</h2><p>Run <code>make</code> then:</p>
    <pre>line 1
    indented</pre>
    <table><tr><th>Name</th><th>Age</th></tr><tr><td><p>Ann</p></td><td>5</td></tr></table>
    <ol><li>first<ul><li>nested</li></ul></li><li>second</li></ol>
    <p hidden>invisible</p><div style="display: none">also invisible</div>
    <div aria-hidden="true">decor</div><div role="navigation">links</div>
    <form><label>Email</label><input name=e><button>Send</button></form>
    <p>A&amp;B &lt;tag&gt; caf&eacute;</p>
    </div></body>"""
    text = htmltext.extract(html).text
    assert "## Setup\n\nRun `make` then:" in text
    assert "```\nline 1\n    indented\n```" in text
    assert "| Name | Age |\n|---|---|\n| Ann | 5 |" in text
    assert "1. first\n  - nested\n1. second" in text
    assert "A&B <tag> café" in text
    assert "Email" in text and "Send" not in text
    for hidden in ("invisible", "decor", "links"):
        assert hidden not in text


def test_main_element_is_preferred_and_small_pages_come_whole() -> None:
    body = "<p>" + "Main content here. " * 20 + "</p>"
    page = htmltext.extract(f"<div>Site banner text</div><main>{body}</main><div>Other</div>")
    assert page.text.startswith("Main content here.") and "Site banner" not in page.text
    assert htmltext.extract("<p>just text</p>").text == "just text"
    assert htmltext.extract("<h1>Only a heading</h1>").title == "Only a heading"


def test_misjudged_chrome_falls_back_to_the_whole_page() -> None:
    # Everything sits in a wrapper whose class looks like a menu: rendering without the
    # chrome rules beats returning nothing.
    html = '<div class="menu-wrapper"><p>' + "Real article text. " * 30 + "</p></div>"
    assert htmltext.extract(html).text.startswith("Real article text.")


# -- address vetting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("fc00::1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("::ffff:127.0.0.1", "loopback 127.0.0.1 embedded in IPv6"),
        ("::ffff:10.0.0.1", "private 10.0.0.1 embedded in IPv6"),
        ("2002:a9fe:a9fe::", "link-local 169.254.169.254 embedded in IPv6"),
        ("64:ff9b::7f00:1", "loopback 127.0.0.1 embedded in IPv6"),
    ],
)
def test_non_public_addresses(address: str, kind: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1", "0"])
def test_legacy_numeric_hosts_are_refused(host: str) -> None:
    with pytest.raises(UnsafeAddress, match="numeric spelling"):
        numeric_host(host)


def test_names_are_not_numeric() -> None:
    assert numeric_host("example.com") is None
    assert numeric_host("beef.cafe") is None
    assert numeric_host("127.0.0.1.") == ipaddress.ip_address("127.0.0.1")


# -- the fetcher ---------------------------------------------------------------------------


@pytest.fixture
async def make_fetcher() -> AsyncIterator[Callable[..., UrlFetcher]]:
    made: list[UrlFetcher] = []

    def make(**options: Any) -> UrlFetcher:
        fetcher = UrlFetcher(**options)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        await fetcher.aclose()


class FakeDNS:
    """A resolver answering from a table, counting the lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"{host}: name not known")
        return self.table[host]


async def test_fetch_html(site: Site, make_fetcher: Callable[..., UrlFetcher]) -> None:
    result = await make_fetcher(allow_networks=LOCAL).fetch(site.url + "/article")
    item = result.item()
    assert item["status"] == "success" and item["url"] == site.url + "/article"
    assert item["title"] == "Why cats sleep | Cat Facts"
    assert item["content_type"] == "text/html"
    assert "crepuscular hunters" in item["text"] and "secretScript" not in item["text"]
    assert "error" not in item and "truncated" not in item


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/plain", "line one\n  indented line two\n"),
        ("/data.json", '{"answer": 42, "items": ["a", "b"]}'),
        ("/latin1", "Café crème"),
        ("/untyped-text", "just some words\n"),
    ],
)
async def test_fetch_text_types(
    site: Site, make_fetcher: Callable[..., UrlFetcher], path: str, expected: str
) -> None:
    result = await make_fetcher(allow_networks=LOCAL).fetch(site.url + path)
    assert (result.status, result.text) == ("success", expected)


async def test_binary_content_is_unsupported(
    site: Site, make_fetcher: Callable[..., UrlFetcher]
) -> None:
    fetcher = make_fetcher(allow_networks=LOCAL)
    pdf = await fetcher.fetch(site.url + "/doc.pdf")
    assert pdf.status == "error" and pdf.text is None
    assert pdf.error is not None and "unsupported content type application/pdf" in pdf.error
    untyped = await fetcher.fetch(site.url + "/untyped-binary")
    assert untyped.status == "error" and "unsupported content type" in (untyped.error or "")


async def test_size_limit(site: Site, make_fetcher: Callable[..., UrlFetcher]) -> None:
    fetcher = make_fetcher(allow_networks=LOCAL, max_bytes=1024 * 1024, max_chars=10**7)
    result = await fetcher.fetch(site.url + "/big")  # 2 MB streamed
    assert result.status == "success" and result.truncated
    assert result.text is not None
    body, note = result.text.split("\n\n[truncated: ")
    assert len(body) == 1024 * 1024
    assert note == "only the first 1 MB of the page were read]"


async def test_text_is_cut_with_a_note(site: Site, make_fetcher: Callable[..., UrlFetcher]) -> None:
    result = await make_fetcher(allow_networks=LOCAL).fetch(site.url + "/long-text")
    assert result.text is not None and result.truncated
    assert result.text.endswith("[truncated: showing the first 20,000 of 50,000 characters]")
    assert len(result.text) < 20_100


async def test_timeout(site: Site, make_fetcher: Callable[..., UrlFetcher]) -> None:
    result = await make_fetcher(allow_networks=LOCAL, timeout=0.3).fetch(site.url + "/slow")
    assert (result.status, result.error) == ("error", "timed out after 0.3 s")


async def test_http_errors_and_paywalls(
    site: Site, make_fetcher: Callable[..., UrlFetcher]
) -> None:
    fetcher = make_fetcher(allow_networks=LOCAL)
    missing = await fetcher.fetch(site.url + "/status/404")
    assert (missing.status, missing.error) == ("error", "HTTP 404 Not Found")
    assert (await fetcher.fetch(site.url + "/status/402")).status == "paywall"
    marked = await fetcher.fetch(site.url + "/paywalled")
    assert marked.status == "paywall" and marked.text == "The first paragraph is free to read."


async def test_redirects_are_followed_and_rechecked(
    site: Site, make_fetcher: Callable[..., UrlFetcher]
) -> None:
    fetcher = make_fetcher(allow_networks=LOCAL)
    port = site.port
    ok = await fetcher.fetch(f"{site.url}/redirect?to=/article")
    assert ok.status == "success" and ok.final_url == f"{site.url}/article"
    assert ok.item()["final_url"] == f"{site.url}/article"
    for target, reason in [
        (f"http://127.0.0.2:{port}/article", "127.0.0.2 is not a public address (loopback)"),
        ("http://169.254.169.254/latest/meta-data/", "(link-local)"),
        (f"http://[::1]:{port}/article", "::1 is not a public address (loopback)"),
        ("http://2130706433/", "numeric spelling of 127.0.0.1"),
        ("file:///etc/passwd", "only http and https"),
    ]:
        result = await fetcher.fetch(f"{site.url}/redirect?to={target}")
        assert result.status == "unsafe", target
        assert reason in (result.error or ""), (target, result.error)
    looping = await fetcher.fetch(site.url + "/loop")
    assert (looping.status, looping.error) == ("error", "more than 5 redirects")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/article", "127.0.0.1 is not a public address (loopback)"),
        ("http://[::1]:{port}/article", "::1 is not a public address (loopback)"),
        ("http://[::ffff:127.0.0.1]:{port}/", "loopback 127.0.0.1 embedded in IPv6"),
        ("http://2130706433:{port}/", "'2130706433' is a numeric spelling of 127.0.0.1"),
        ("http://127.1:{port}/", "numeric spelling of 127.0.0.1"),
        ("http://localhost:{port}/article", "localhost resolves to"),
        ("http://0.0.0.0:{port}/", "0.0.0.0 is not a public address (unspecified)"),
        ("http://169.254.169.254/latest/meta-data/", "(link-local)"),
        ("http://10.0.0.1/", "(private)"),
        ("ftp://example.com/file", "only http and https URLs are fetched"),
        ("file:///etc/passwd", "only http and https URLs are fetched"),
        ("http://user:secret@example.com/", "credentials"),
    ],
)
async def test_unsafe_urls_are_refused(
    site: Site, make_fetcher: Callable[..., UrlFetcher], url: str, reason: str
) -> None:
    site.reset()
    result = await make_fetcher().fetch(url.format(port=site.port))
    assert result.status == "unsafe"
    assert reason in (result.error or "")
    assert result.text is None
    assert site.requests == []


async def test_names_resolving_to_private_addresses_are_refused(
    site: Site, make_fetcher: Callable[..., UrlFetcher]
) -> None:
    dns = FakeDNS(
        {
            "localtest.me": ["127.0.0.1"],
            "mixed.example": ["93.184.216.34", "10.0.0.7"],
            "v6.example": ["2606:4700::1", "fd00::5"],
        }
    )
    fetcher = make_fetcher(lookup=dns)
    local = await fetcher.fetch(f"http://localtest.me:{site.port}/article")
    assert local.status == "unsafe"
    assert (
        local.error
        == "localtest.me resolves to 127.0.0.1, which is not a public address (loopback)"
    )
    mixed = await fetcher.fetch("http://mixed.example/")  # any bad address is enough
    assert mixed.status == "unsafe" and "10.0.0.7" in (mixed.error or "")
    v6 = await fetcher.fetch("https://v6.example/")
    assert v6.status == "unsafe" and "fd00::5" in (v6.error or "")
    unknown = await fetcher.fetch("http://nowhere.example/")
    assert unknown.status == "error" and "could not be resolved" in (unknown.error or "")


async def test_the_connection_uses_the_vetted_address(
    site: Site, make_fetcher: Callable[..., UrlFetcher]
) -> None:
    """The name is resolved once, by the vetting resolver, and the connection goes to the
    address it returned (``docs.internal`` exists in no real DNS)."""
    dns = FakeDNS({"docs.internal": ["127.0.0.1"]})
    fetcher = make_fetcher(lookup=dns, allow_networks=LOCAL)
    result = await fetcher.fetch(f"http://docs.internal:{site.port}/article")
    assert result.status == "success" and "crepuscular" in (result.text or "")
    assert dns.lookups == ["docs.internal"]


async def test_allow_private_lets_everything_through(
    site: Site, make_fetcher: Callable[..., UrlFetcher]
) -> None:
    fetcher = make_fetcher(allow_private=True)
    assert (await fetcher.fetch(f"http://localhost:{site.port}/plain")).status == "success"
    assert (await fetcher.fetch(f"{site.url}/redirect?to=/plain")).status == "success"


async def test_bad_input_is_an_error_not_a_crash(make_fetcher: Callable[..., UrlFetcher]) -> None:
    fetcher = make_fetcher()
    for url in ("not a url", "/relative/path", "http://", "http://exa mple.com/"):
        result = await fetcher.fetch(url)
        assert result.status in ("error", "unsafe"), url
        assert result.error


# -- the tool in a run ---------------------------------------------------------------------


def _tool_messages(fake: FakeOpenAI) -> list[dict[str, Any]]:
    messages = fake.requests[-1].body["messages"]
    return [m for m in messages if m["role"] == "tool"]


def test_url_context_reads_a_page(
    tools_junction: Junction, openai_fake: FakeOpenAI, site: Site
) -> None:
    url = site.url + "/article"
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("url_context", {"urls": [url]})]),
        Reply(text="They are crepuscular hunters."),
    )
    client = tools_junction.client()
    done = client.interactions.create(
        model="openai/x", input=f"Why do cats sleep? See {url}", tools=[URL_CONTEXT]
    )
    assert done.status == "completed"
    assert done.output_text == "They are crepuscular hunters."
    assert [s.type for s in done.steps] == [
        "user_input",
        "url_context_call",
        "url_context_result",
        "model_output",
    ]
    call, result = done.steps[1], done.steps[2]
    assert call.arguments.urls == [url]
    assert result.call_id == call.id and not result.is_error
    item = result.result[0]
    assert (item.url, item.status) == (url, "success")
    assert item.title == "Why cats sleep | Cat Facts"  # extra keys survive the SDK
    assert "crepuscular hunters" in item.text

    # The model was offered the function and read the page in the tool message.
    first = openai_fake.requests[0].body
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert offered["url_context"]["parameters"]["properties"]["urls"]["maxItems"] == 20
    (message,) = _tool_messages(openai_fake)
    assert message["tool_call_id"] == call.id
    seen = json.loads(message["content"])
    assert seen[0]["status"] == "success"
    assert "Cats sleep twelve to sixteen hours a day" in seen[0]["text"]
    assert "secretScript" not in message["content"]

    again = client.interactions.get(done.id)
    assert again.steps[2].result[0].text == item.text


def test_url_context_with_several_urls(
    tools_junction: Junction, openai_fake: FakeOpenAI, site: Site
) -> None:
    urls = [site.url + "/article", site.url + "/doc.pdf", site.url + "/status/404"]
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("url_context", {"urls": urls})]), Reply(text="ok")
    )
    done = tools_junction.client().interactions.create(
        model="openai/x", input="read these", tools=[URL_CONTEXT]
    )
    result = done.steps[2].result
    assert [(r.url, r.status) for r in result] == [
        (urls[0], "success"),
        (urls[1], "error"),
        (urls[2], "error"),
    ]
    assert "unsupported content type" in result[1].error
    assert not done.steps[2].is_error  # one page was read


def test_url_context_streams_typed_steps(
    tools_junction: Junction, openai_fake: FakeOpenAI, site: Site
) -> None:
    url = site.url + "/plain"
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("url_context", {"urls": [url]})]), Reply(text="done")
    )
    events = list(
        tools_junction.client().interactions.create(
            model="openai/x", input="read", tools=[URL_CONTEXT], stream=True
        )
    )
    starts = [e for e in events if e.event_type == "step.start"]
    assert [e.step.type for e in starts] == [
        "url_context_call",
        "url_context_result",
        "model_output",
    ]
    deltas = {e.delta.type: e.delta for e in events if e.event_type == "step.delta"}
    assert deltas["url_context_call"].arguments.urls == [url]
    assert deltas["url_context_result"].result[0].status == "success"
    assert deltas["url_context_result"].result[0].text == "line one\n  indented line two\n"
    assert events[-1].event_type == "interaction.completed"
    assert events[-1].interaction.status == "completed"


def test_private_addresses_are_refused_in_a_run(
    junction: Junction, openai_fake: FakeOpenAI, site: Site
) -> None:
    """The default configuration: the model asks for a loopback URL, the page is not
    fetched, and the model reads why."""
    url = site.url + "/article"
    site.reset()
    openai_fake.enqueue(
        Reply(text="", tool_calls=[("url_context", {"urls": [url, "http://169.254.169.254/"]})]),
        Reply(text="I cannot open that address."),
    )
    done = junction.client().interactions.create(
        model="openai/x", input=f"read {url}", tools=[URL_CONTEXT]
    )
    assert done.status == "completed"
    assert [s.type for s in done.steps] == [
        "user_input",
        "url_context_call",
        "url_context_result",
        "model_output",
    ]
    result = done.steps[2]
    assert result.is_error
    assert [(r.url, r.status) for r in result.result] == [
        (url, "unsafe"),
        ("http://169.254.169.254/", "unsafe"),
    ]
    assert site.requests == []
    (message,) = _tool_messages(openai_fake)
    seen = json.loads(message["content"])
    assert seen[0]["status"] == "unsafe"
    assert "127.0.0.1 is not a public address (loopback)" in seen[0]["error"]
