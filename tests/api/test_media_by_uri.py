"""Image, audio and document input by ``uri``: fetched at create time through the SSRF-safe
fetcher and sent to the provider inline; refusals are 400s that write nothing."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2 as httpx
import pytest
from google import genai
from google.genai import _interactions_errors as gerr

from junction.testing.fake_anthropic import FakeAnthropic
from junction.testing.fake_gemini import FakeGemini
from junction.testing.fake_openai import FakeOpenAI
from tests.api.hardening_support import new_project, project_rows
from tests.api.provider_servers import serve_with_fakes
from tests.conftest import Junction

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40))
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
BIG = b"\0" * 4096
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(48))
#: path → (status, content type, body)
FILES: dict[str, tuple[int, str, bytes]] = {
    "/clip.wav": (200, "audio/wav", WAV),
    "/paper.pdf": (200, "application/pdf", PDF),
    "/page.html": (200, "text/html", b"<html>not audio</html>"),
    "/big.wav": (200, "audio/wav", BIG),
    "/clip.ogg": (200, "audio/ogg", b"OggS" + bytes(60)),
    "/photo.png": (200, "image/png", PNG),
    "/photo.bmp": (200, "image/bmp", b"BM" + bytes(40)),
}


class _Media(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, mime, body = FILES.get(self.path, (404, "text/plain", b"no such file"))
        self.send_response(status)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def media_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Media)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def allowing(
    request: pytest.FixtureRequest,
    fake_openai: FakeOpenAI,
    anthropic: FakeAnthropic,
    gemini: FakeGemini,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Junction]:
    """A server whose operator allows private addresses (the media server is on
    loopback), with a 4 kB cap per item."""
    tmp = tmp_path_factory.mktemp(f"media-uri-{request.param}")
    env = {"JUNCTION_URL_FETCH_ALLOW_PRIVATE": "1", "JUNCTION_MEDIA_URI_MAX_BYTES": "4000"}
    with serve_with_fakes(request, tmp, (fake_openai, anthropic, gemini), env) as junction:
        yield junction


@pytest.fixture
def client(allowing: Junction) -> genai.Client:
    return allowing.client()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_audio_by_uri_reaches_openai_inline(
    client: genai.Client, openai_fake: FakeOpenAI, media_url: str
) -> None:
    uri = f"{media_url}/clip.wav"
    interaction = client.interactions.create(
        model="openai/gpt-4o-mini",
        input=[{"type": "text", "text": "transcribe"}, {"type": "audio", "uri": uri}],
    )
    assert interaction.status == "completed"
    body = openai_fake.requests[-1].body
    user = body["messages"][-1]
    assert user["role"] == "user"
    assert user["content"] == [
        {"type": "text", "text": "transcribe"},
        {"type": "input_audio", "input_audio": {"data": _b64(WAV), "format": "wav"}},
    ]
    # the stored step keeps the uri, not the bytes
    stored = client.interactions.get(interaction.id)
    audio = stored.steps[0].content[1]
    assert audio.type == "audio" and audio.uri == uri
    assert getattr(audio, "data", None) is None


def test_pdf_by_uri_reaches_anthropic_as_a_base64_document(
    client: genai.Client, anthropic: FakeAnthropic, media_url: str
) -> None:
    anthropic.reset()
    uri = f"{media_url}/paper.pdf"
    interaction = client.interactions.create(
        model="anthropic/claude-sonnet-4-5",
        input=[{"type": "text", "text": "summarise"}, {"type": "document", "uri": uri}],
    )
    assert interaction.status == "completed"
    body = anthropic.requests[-1].body
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "summarise"},
                {
                    "type": "document",
                    "source": {
                        "type": "base64",
                        "media_type": "application/pdf",
                        "data": _b64(PDF),
                    },
                },
            ],
        }
    ]
    # a later turn sends the document again, inline, from the stored uri
    client.interactions.create(
        model="anthropic/claude-sonnet-4-5",
        previous_interaction_id=interaction.id,
        input="and the title?",
    )
    again = anthropic.requests[-1].body["messages"][0]["content"][1]
    assert again["source"]["data"] == _b64(PDF)


def test_pdf_by_uri_reaches_gemini_as_inline_data(
    client: genai.Client, gemini: FakeGemini, media_url: str
) -> None:
    gemini.reset()
    uri = f"{media_url}/paper.pdf"
    interaction = client.interactions.create(
        model="gemini/gemini-2.5-flash",
        input=[
            {"type": "text", "text": "summarise"},
            {"type": "document", "uri": uri, "mime_type": "application/pdf"},
        ],
    )
    assert interaction.status == "completed"
    contents = gemini.requests[-1].body["contents"]
    assert contents[0]["role"] == "user"
    parts = contents[0]["parts"]
    assert parts[0] == {"text": "summarise"}
    blob = parts[1]["inlineData"]
    assert blob["mime_type"] == "application/pdf"
    assert base64.urlsafe_b64decode(blob["data"]) == PDF
    assert "fileData" not in parts[1] and "file_data" not in parts[1]


def test_image_by_uri_reaches_every_dialect_inline(
    client: genai.Client,
    openai_fake: FakeOpenAI,
    anthropic: FakeAnthropic,
    gemini: FakeGemini,
    media_url: str,
) -> None:
    """Images by http(s) uri are fetched by Junction (the one outbound path), never
    handed to a provider as a URL to fetch itself."""
    uri = f"{media_url}/photo.png"
    input_ = [{"type": "text", "text": "describe"}, {"type": "image", "uri": uri}]
    first = client.interactions.create(model="openai/gpt-4o-mini", input=input_)
    part = openai_fake.requests[-1].body["messages"][-1]["content"][1]
    assert part == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + _b64(PNG)},
    }
    # a later turn sends the earlier image inline again, fetched from its stored uri
    client.interactions.create(
        model="openai/gpt-4o-mini", previous_interaction_id=first.id, input="and its colour?"
    )
    assert openai_fake.requests[-1].body["messages"][0]["content"][1] == part
    anthropic.reset()
    client.interactions.create(model="anthropic/claude-sonnet-4-5", input=input_)
    block = anthropic.requests[-1].body["messages"][0]["content"][1]
    assert block == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": _b64(PNG)},
    }
    gemini.reset()
    interaction = client.interactions.create(model="gemini/gemini-2.5-flash", input=input_)
    part = gemini.requests[-1].body["contents"][0]["parts"][1]
    assert part["inlineData"]["mime_type"] == "image/png"
    assert base64.urlsafe_b64decode(part["inlineData"]["data"]) == PNG
    assert "fileData" not in part and "file_data" not in part
    stored = client.interactions.get(interaction.id).steps[0].content[1]
    assert stored.type == "image" and stored.uri == uri
    assert getattr(stored, "data", None) is None


def test_image_refusals_are_400s_that_write_nothing(
    allowing: Junction, anthropic: FakeAnthropic, media_url: str
) -> None:
    key, project_id = new_project(allowing, "media-uri-images")
    client = allowing.client(key)
    before = project_rows(allowing, project_id)
    anthropic.reset()
    page = f"{media_url}/page.html"
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="openai/gpt-4o-mini", input=[{"type": "image", "uri": page}]
        )
    assert f"input: the image at uri '{page}' cannot be used" in str(info.value)
    assert "its MIME type is text/html, not image/*" in str(info.value)
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="anthropic/claude-sonnet-4-5",
            background=True,
            input=[{"type": "image", "uri": f"{media_url}/photo.bmp"}],
        )
    assert "Anthropic models do not accept image/bmp images" in str(info.value)
    assert project_rows(allowing, project_id) == before
    assert anthropic.requests == []


@pytest.mark.parametrize(
    ("path", "extra", "needle"),
    [
        ("/missing.wav", {}, "HTTP 404"),
        ("/big.wav", {}, "larger than the 4,000 bytes allowed"),
        ("/page.html", {}, "its MIME type is text/html, not audio/*"),
        ("/clip.wav", {"mime_type": "audio/mpeg"}, "serves audio/wav but the item's mime_type"),
    ],
)
def test_unusable_sources_are_400s_that_write_nothing(
    allowing: Junction,
    openai_fake: FakeOpenAI,
    media_url: str,
    path: str,
    extra: dict[str, str],
    needle: str,
) -> None:
    key, project_id = new_project(allowing, f"media-uri-{path.strip('/')}-{len(extra)}")
    client = allowing.client(key)
    before = project_rows(allowing, project_id)
    uri = f"{media_url}{path}"
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="openai/gpt-4o-mini",
            background=True,
            input=[{"type": "text", "text": "hi"}, {"type": "audio", "uri": uri, **extra}],
        )
    message = str(info.value)
    assert f"input: the audio at uri '{uri}' cannot be used" in message
    assert needle in message
    assert project_rows(allowing, project_id) == before
    assert openai_fake.requests == []


def test_a_provider_without_the_modality_is_a_400(client: genai.Client, media_url: str) -> None:
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(
            model="anthropic/claude-sonnet-4-5",
            input=[
                {"type": "text", "text": "hi"},
                {"type": "audio", "uri": f"{media_url}/clip.wav"},
            ],
        )
    assert "does not accept audio input" in str(info.value)


def test_an_audio_format_the_dialect_cannot_send_is_a_400(
    allowing: Junction, openai_fake: FakeOpenAI, media_url: str
) -> None:
    key, project_id = new_project(allowing, "media-uri-ogg")
    before = project_rows(allowing, project_id)
    with pytest.raises(gerr.BadRequestError) as info:
        allowing.client(key).interactions.create(
            model="openai/gpt-4o-mini",
            input=[
                {"type": "text", "text": "hi"},
                {"type": "audio", "uri": f"{media_url}/clip.ogg"},
            ],
        )
    assert "audio of type 'audio/ogg' is not supported by the OpenAI chat dialect" in str(
        info.value
    )
    assert project_rows(allowing, project_id) == before
    assert openai_fake.requests == []


def test_too_many_items_by_uri_is_a_400(client: genai.Client, media_url: str) -> None:
    items = [{"type": "audio", "uri": f"{media_url}/clip.wav?n={n}"} for n in range(17)]
    with pytest.raises(gerr.BadRequestError) as info:
        client.interactions.create(model="openai/gpt-4o-mini", input=items)
    assert "media_uri_max_items" in str(info.value)


@pytest.mark.parametrize(("kind", "path"), [("audio", "/clip.wav"), ("image", "/photo.png")])
def test_default_settings_refuse_loopback(
    junction: Junction, openai_fake: FakeOpenAI, media_url: str, kind: str, path: str
) -> None:
    """The shared server keeps the default: private addresses are not fetched."""
    key, project_id = new_project(junction, f"media-uri-loopback-{kind}")
    before = project_rows(junction, project_id)
    uri = f"{media_url}{path}"
    with pytest.raises(gerr.BadRequestError) as info:
        junction.client(key).interactions.create(
            model="openai/gpt-4o-mini",
            stream=False,
            input=[{"type": "text", "text": "hi"}, {"type": kind, "uri": uri}],
        )
    message = str(info.value)
    assert f"input: the {kind} at uri '{uri}' cannot be used" in message
    assert "not a public address (loopback)" in message
    assert project_rows(junction, project_id) == before
    assert openai_fake.requests == []


def test_junction_media_urls_of_the_project_are_read_from_the_store(
    junction: Junction, openai_fake: FakeOpenAI
) -> None:
    """A ``/{version}/media/{digest}`` URL of the caller's project is read from the media
    store (the default server refuses loopback, so it was not fetched over HTTP); another
    project's request for the same URL is an ordinary (refused) fetch."""
    key, _ = new_project(junction, "media-uri-own")
    spoken = httpx.post(
        f"{junction.url}/v1beta/interactions",
        json={
            "model": "offline/speech",
            "input": "hello there",
            "response_format": {"type": "audio", "mime_type": "audio/wav", "delivery": "uri"},
        },
        headers={"x-goog-api-key": key},
    ).json()
    item = spoken["steps"][-1]["content"][0]
    uri = item["uri"]
    assert uri.startswith(f"{junction.url}/v1beta/media/") and "data" not in item
    wav = httpx.get(uri, headers={"x-goog-api-key": key}).content
    assert wav.startswith(b"RIFF")
    junction.client(key).interactions.create(
        model="openai/gpt-4o-mini",
        input=[{"type": "text", "text": "what was said?"}, {"type": "audio", "uri": uri}],
    )
    part = openai_fake.requests[-1].body["messages"][-1]["content"][1]
    assert part == {"type": "input_audio", "input_audio": {"data": _b64(wav), "format": "wav"}}
    stranger, _ = new_project(junction, "media-uri-stranger")
    with pytest.raises(gerr.BadRequestError) as info:
        junction.client(stranger).interactions.create(
            model="openai/gpt-4o-mini",
            input=[{"type": "text", "text": "hi"}, {"type": "audio", "uri": uri}],
        )
    assert "not a public address (loopback)" in str(info.value)
