"""Fixtures shared by the whole suite.

Real services only: PostgreSQL and Redis tests connect over the network. When one is not
reachable its tests skip with the reason, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from elizabus.bus.metrics import bus_metrics
from elizabus.conf import app_settings
from tests.live import skip_or_fail

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=1):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """Removes the write-ahead log an earlier run left beside the SQLite test database: Django
    deletes only the database file, and a stale ``-wal`` makes the new one fail to open."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        test_name = Path(str(database.get("TEST", {}).get("NAME") or ""))
        for suffix in ("-wal", "-shm"):
            test_name.with_name(test_name.name + suffix).unlink(missing_ok=True)


def require_service(name: str, url: str) -> str:
    """Returns ``url`` if the service answers; otherwise skips, or fails under CI."""
    if not _reachable(url):
        skip_or_fail(f"{name} is not reachable at {url}")
    return url


@pytest.fixture
def postgres_url() -> str:
    return require_service("PostgreSQL", POSTGRES_URL)


@pytest.fixture
def redis_url() -> str:
    return require_service("Redis", REDIS_URL)


@pytest.fixture(autouse=True)
def _fresh_app_settings(settings: Any) -> Iterator[None]:
    # Agents run only where a test starts them; a live server started by a test decides itself.
    settings.ELIZABUS = {**settings.ELIZABUS, "RUN_AGENTS_IN_PROCESS": False}
    # Admin logins hash passwords; the default hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    app_settings.reload()
    yield
    app_settings.reload()


@pytest.fixture(autouse=True)
def _default_rows(request: pytest.FixtureRequest) -> None:
    """The default server and central channel, which the data migration creates, for every test
    that uses the database: a transactional test's flush removes them for the tests after it."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if marker is None and not names & {"db", "transactional_db", "live_server"}:
        return
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        names & {"transactional_db", "live_server"}
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    from elizabus.models import CENTRAL_CHANNEL_ID, DEFAULT_SERVER_ID, Channel, MessageServer

    server, _ = MessageServer.objects.get_or_create(
        id=DEFAULT_SERVER_ID, defaults={"name": "Default Server", "source_type": "eliza_default"}
    )
    Channel.objects.get_or_create(
        id=CENTRAL_CHANNEL_ID,
        defaults={"server": server, "name": "Central", "type": "WORLD"},
    )


@pytest.fixture
def metrics() -> Iterator[object]:
    bus_metrics.reset()
    yield bus_metrics
