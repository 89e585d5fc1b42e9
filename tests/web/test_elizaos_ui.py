"""The real elizaOS web UI (npm ``@elizaos/client`` at the pinned version, fetched once into
``var/`` as ``make ui`` fetches it) served by a live elizabus, driven in Chromium as a user
would: the home page lists the agents, a DM chat with Eliza shows ELIZA's answer live. Over the
whole run no ``/api`` or ``/socket.io`` response is an error, and the page logs no error that
elizabus causes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from elizabus.web import ui
from tests.live import REPO, LiveServer, skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIMEOUT_MS = 20_000
# What the UI fetches from elsewhere (GitHub's releases, the plugin registry): this machine may
# not reach it, and the page then logs the failure, which is not elizabus's doing.
ELSEWHERE = re.compile(r"ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|Failed to fetch from")


@pytest.fixture(scope="session")
def ui_dir() -> Path:
    """The pinned UI, fetched from the npm registry the first time and kept in var/ after."""
    cache = Path(REPO) / "var" / "test-ui"
    if not (ui.ui_root(ui_dir=cache) / "dist" / "index.html").is_file():
        try:
            ui.fetch_ui(ui_dir=cache)
        except ui.UiFetchError as exc:
            skip_or_fail(f"the elizaOS UI could not be fetched: {exc}")
    return cache


@pytest.fixture
def live_server_env(ui_dir: Path) -> dict[str, str]:
    return {"ELIZABUS_UI_DIR": str(ui_dir)}


@pytest.fixture
def api_errors(page: Any) -> list[str]:
    """Every /api and /socket.io response that was an error, over the test."""
    errors: list[str] = []

    def note(response: Any) -> None:
        if re.search(r"/(api|socket\.io)/", response.url) and response.status >= 400:
            errors.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note)
    return errors


def own_errors(console_log: list[str]) -> list[str]:
    return [
        line
        for line in console_log
        if line.startswith(("error", "pageerror")) and not ELSEWHERE.search(line)
    ]


async def open_home(page: Any, url: str) -> None:
    from playwright.async_api import expect

    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{url}/")
    # A new user gets the UI's guided tour first.
    await page.get_by_role("button", name="Skip").click()
    await expect(page.get_by_text(f"v{settings.SPECTACULAR_SETTINGS['VERSION']}")).to_be_visible()


async def test_the_home_page_lists_the_agents_and_the_version(
    page: Any, chat_server: LiveServer, api_errors: list[str], console_log: list[str]
) -> None:
    from playwright.async_api import expect

    await open_home(page, chat_server.url)
    await expect(page.get_by_text("Eliza").first).to_be_visible()
    await expect(page.get_by_text("v0.0.0-loading")).to_have_count(0)
    assert api_errors == []
    assert own_errors(console_log) == []


async def test_a_dm_chat_with_eliza_shows_her_answer_live(
    page: Any, chat_server: LiveServer, api_errors: list[str], console_log: list[str]
) -> None:
    from playwright.async_api import expect

    await open_home(page, chat_server.url)
    await page.get_by_role("button", name="New Chat").first.click()
    await expect(page).to_have_url(re.compile(r"/chat/[0-9a-f-]{36}/[0-9a-f-]{36}$"))
    box = page.get_by_placeholder("Type your message here...")
    await box.fill("Men are all alike.")
    await box.press("Enter")
    await expect(page.get_by_text("In what way?")).to_be_visible()
    await expect(page.get_by_text("Connected")).to_be_visible()
    # The README's first screen.
    screenshots = Path(REPO) / "var" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(screenshots / "elizaos-ui-chat.png"))
    assert api_errors == []
    assert own_errors(console_log) == []
