"""The chat page view: the page, its configuration, its headers and its static files."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import AsyncClient

from elizabus.conf import app_settings
from elizabus.web.views import THINKING_GRACE_SECONDS
from tests.live import skip_or_fail

STATIC = Path(__file__).resolve().parents[2] / "static" / "elizabus"
SCRIPTS = ("vendor/socket.io.min.js", "chat.js")


class PageParser(HTMLParser):
    """Collects what a strict Content-Security-Policy cares about."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.stylesheets: list[str] = []
        self.inline_handlers: list[str] = []
        self.style_attributes: list[str] = []
        self.ids: set[str] = set()
        self._in_script: dict[str, str | None] | None = None
        self.script_bodies: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        self.inline_handlers += [name for name, _ in attrs if name.startswith("on")]
        if "style" in attributes:
            self.style_attributes.append(tag)
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = attributes
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes["href"])
        if tag == "style":
            self.style_attributes.append("<style>")

    def handle_data(self, data: str) -> None:
        if self._in_script is not None and self._in_script.get("id"):
            self.script_bodies[self._in_script["id"]] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


@pytest.fixture
def static_client(settings) -> AsyncClient:
    """A client whose static middleware serves from the finders: ``collectstatic`` has not run
    in tests, and servestatic reads this setting when the middleware is built (first request).
    Async, as servestatic's responses are."""
    settings.SERVESTATIC_USE_FINDERS = True
    return AsyncClient()


def test_the_page_renders_with_its_scripts_and_configuration(client):
    response = client.get("/lite/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = parse(response.content.decode())
    sources = [script.get("src") for script in page.scripts if script.get("src")]
    assert [source.split("/static/elizabus/", 1)[-1] for source in sources] == list(SCRIPTS)
    assert all("defer" in script for script in page.scripts if script.get("src"))
    assert page.stylesheets == ["/static/elizabus/chat.css"]
    config = json.loads(page.script_bodies["chat-config"])
    assert config == {
        "apiBase": "/api",
        "socketPath": "/socket.io/",
        "defaultServerId": "00000000-0000-0000-0000-000000000000",
        "centralChannelId": "00000000-0000-0000-0000-000000000000",
        "authRequired": False,
        "thinkingTimeoutMs": (app_settings.AGENT_REPLY_TIMEOUT_SECONDS + THINKING_GRACE_SECONDS)
        * 1000,
    }
    # What chat.js looks up by id is in the page.
    script = (STATIC / "chat.js").read_text()
    for element_id in ("messages", "message-input", "send-button", "thinking", "channel-list"):
        assert element_id in page.ids and f'$("{element_id}")' in script


def test_the_page_runs_under_a_strict_policy(client):
    response = client.get("/lite/")

    page = parse(response.content.decode())
    # No inline script: every script is a static file or a JSON data block.
    for script in page.scripts:
        assert script.get("src") or script.get("type") == "application/json", script
    assert page.inline_handlers == []
    assert page.style_attributes == []
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "connect-src 'self' ws://testserver wss://testserver" in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_page_says_when_an_api_key_is_needed_but_never_which(client, settings):
    settings.ELIZA_SERVER_AUTH_TOKEN = "s3cret-token"

    response = client.get("/lite/")

    assert response.status_code == 200
    assert b"s3cret-token" not in response.content
    config = json.loads(parse(response.content.decode()).script_bodies["chat-config"])
    assert config["authRequired"] is True


def test_the_page_only_answers_reads(client):
    assert client.head("/").status_code == 200
    assert client.post("/").status_code == 405


def test_the_socket_client_is_the_official_one_at_its_pinned_version_with_its_licence():
    client = (STATIC / "vendor" / "socket.io.min.js").read_text()
    assert client.startswith("/*!\n * Socket.IO v4.8.1\n")
    assert "MIT" in (STATIC / "vendor" / "socket.io-client.LICENSE").read_text()


def test_user_content_never_reaches_the_page_as_html():
    script = (STATIC / "chat.js").read_text()
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert risky not in script


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("chat.js", "text/javascript"),
        ("vendor/socket.io.min.js", "text/javascript"),
        ("chat.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_static_files_are_served(static_client, name, content_type):
    response = await static_client.get(f"/static/elizabus/{name}")

    assert response.status_code == 200
    # nosniff makes the browser trust the type: it must be the right one.
    assert response["Content-Type"].startswith(content_type)
    assert response["X-Content-Type-Options"] == "nosniff"
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert body == (STATIC / name).read_bytes()


def test_the_scripts_parse():
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed")
    for name in SCRIPTS:
        checked = subprocess.run(
            [node, "--check", str(STATIC / name)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, checked.stderr
