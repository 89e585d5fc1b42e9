"""Fixtures of the chat page tests: a live server (``manage.py serve``) with the demo ELIZA agent
running in it, and headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright.

Chromium or Playwright missing skips the browser tests with the reason, except under CI (``CI``
set), where it fails them, as :func:`tests.conftest.require_service` does for servers.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests.live import LiveServer, skip_or_fail

CHROMIUM = os.environ.get("ELIZABUS_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing that reaches out of the machine on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def eliza(transactional_db: None) -> str:
    """The demo ELIZA agent, registered in the test database before the server starts (the
    server's agents load at its first connection; the in-process bus does not cross processes).
    Returns its id."""
    from elizabus.management.commands.ensure_demo_agent import DEMO_AGENT_ID

    call_command("ensure_demo_agent", stdout=io.StringIO())
    return str(DEMO_AGENT_ID)


@pytest.fixture
def live_server_env() -> dict[str, str]:
    """Environment for the live server; a test parametrizes it (an API key, say)."""
    return {}


@pytest.fixture
def chat_server(
    eliza: str, tmp_path: Path, live_server_env: dict[str, str]
) -> Iterator[LiveServer]:
    """A live server with the in-process agents on, for one test (it stops before the test
    database is flushed)."""
    from django.db import connection

    server = LiveServer(
        tmp_path,
        {
            "DJANGO_SETTINGS_MODULE": "tests.web.live_settings",
            "ELIZABUS_LIVE_DB_NAME": str(connection.settings_dict["NAME"]),
            **live_server_env,
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chromium() -> str:
    """The Chromium executable, once Playwright is known to be importable too."""
    if shutil.which(CHROMIUM) is None:
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        skip_or_fail("Playwright is not installed (pip install -e '.[dev]')")
    return CHROMIUM


@pytest.fixture
def console_log() -> list[str]:
    """What the page logged and threw, for the assertions and failure messages of a test."""
    return []


@pytest.fixture
async def page(chromium: str, console_log: list[str]) -> AsyncIterator[Any]:
    """A page in a fresh browser (empty localStorage: a new user).

    Playwright's async API, so that its event loop runs only while the test does: Django refuses
    ORM calls from a thread with a running loop, and the database fixtures make them before and
    after each test.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1200, "height": 760})
            page = await context.new_page()
            page.on("console", lambda line: console_log.append(f"{line.type}: {line.text}"))
            page.on("pageerror", lambda error: console_log.append(f"pageerror: {error}"))
            yield page
        finally:
            await browser.close()
