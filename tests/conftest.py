"""Fixtures shared by the whole suite.

Real services only: PostgreSQL and Redis tests connect over the network. When one is not
reachable its tests skip with the reason, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from django.db.models import Model

from elizabus.bus import dispatch
from elizabus.bus.events import EPHEMERAL_EVENT_TYPES, EVENT_TYPES, BusEvent
from elizabus.bus.metrics import bus_metrics
from elizabus.bus.models import OutboxEvent
from elizabus.bus.relay import relay
from elizabus.conf import app_settings
from elizabus.models import (
    Agent,
    AgentRun,
    Channel,
    Entity,
    Job,
    Memory,
    Message,
    MessageServer,
    Participant,
    ServerAgent,
    Session,
)
from tests import factories
from tests.live import skip_or_fail
from tests.private_services import (
    PrivatePostgres,
    PrivateRedis,
    PrivateService,
    ServiceUnavailable,
)

TEST_RESPONDERS = ("SilentResponder", "FailingResponder", "SlowResponder")
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


def _hung(kind: type[PrivateService]) -> Iterator[str]:
    """A private server that accepts connections and answers nothing (SIGSTOP): a hung host."""
    try:
        service = kind()
    except ServiceUnavailable as missing:
        skip_or_fail(str(missing))
        raise
    try:
        service.start()
        service.pause()
        yield service.url
    finally:
        service.cleanup()


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """The URL of a Redis that holds every connection and never answers."""
    yield from _hung(PrivateRedis)


@pytest.fixture
def hung_postgres() -> Iterator[str]:
    """The URL of a PostgreSQL that accepts connections and never answers."""
    yield from _hung(PrivatePostgres)


@pytest.fixture(autouse=True)
def _breakers_closed() -> Iterator[None]:
    """Every test starts with every dependency up; one a test took down comes back after it
    (its probe thread ends at its next round)."""
    from elizabus import breakers
    from elizabus.api.throttling import local_counts

    yield
    for breaker in breakers.BREAKERS:
        breaker.reset()
    local_counts.clear()


@pytest.fixture(autouse=True)
def _fresh_app_settings(settings: Any) -> Iterator[None]:
    # Agents run only where a test starts them; a live server started by a test decides itself.
    # The suite sends thousands of requests from one address; tests/api/test_throttling.py
    # and tests/api/test_auth.py set rates of their own.
    # The responders of tests/agents/helpers.py are registered as an operator would add one.
    settings.ELIZABUS = {
        **settings.ELIZABUS,
        "RUN_AGENTS_IN_PROCESS": False,
        "API_RATE": "",
        "AUTH_RATE": "",
        "UNAUTHORIZED_RATE": "",
        "CREATE_RATE": "",
        "RESPONDERS": [f"tests.agents.helpers.{name}" for name in TEST_RESPONDERS],
    }
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


@pytest.fixture(autouse=True)
def _relay_stopped(_default_rows: None) -> Iterator[None]:
    """The server's start-up starts the bus relay (consumer tests start it through the ASGI
    app): stop it after each test, before the test's database is flushed, so it never follows
    one test's events into the next."""
    yield
    relay.stop()


@pytest.fixture
def metrics() -> Iterator[object]:
    bus_metrics.reset()
    yield bus_metrics


# --- the bus and the rows: a recorder of every event, a small world, a snapshot of every row ---

RECORDER_LABEL = "tests.published"


@dataclass
class Published:
    """Every event delivered to this process's receivers during a test, in delivery order."""

    events: list[BusEvent] = field(default_factory=list)

    def receive(self, sender: type[BusEvent], event: BusEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def of(self, event_type: type[BusEvent]) -> list[BusEvent]:
        return [event for event in self.events if type(event) is event_type]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def published() -> Iterator[Published]:
    """Records every event of every type, stored and ephemeral, from its dispatch on."""
    recorder = Published()
    every_type = {**EVENT_TYPES, **EPHEMERAL_EVENT_TYPES}
    uids = {name: f"{RECORDER_LABEL}:{name}" for name in every_type}
    for name, event_type in every_type.items():
        dispatch.connect(
            event_type, recorder.receive, dispatch_uid=uids[name], label=RECORDER_LABEL
        )
    yield recorder
    for name, event_type in every_type.items():
        dispatch.disconnect(event_type, dispatch_uid=uids[name])


ConnectReceiver = Callable[..., None]


@pytest.fixture
def connect_receiver() -> Iterator[ConnectReceiver]:
    """``connect_receiver(event_type, receiver, label=...)``: connected now, disconnected after."""
    connected: list[tuple[type[BusEvent], str]] = []

    def connect(event_type: type[BusEvent], receiver: Callable[..., Any], *, label: str) -> None:
        uid = f"tests:{label}:{event_type.name}"
        dispatch.connect(event_type, receiver, dispatch_uid=uid, label=label)
        connected.append((event_type, uid))

    yield connect
    for event_type, uid in connected:
        dispatch.disconnect(event_type, dispatch_uid=uid)


@dataclass(frozen=True)
class World:
    """A server with one channel (Alice a participant, holding one message of hers), Bob known
    but in no channel, and a registered agent (so subscribed to the default server and seated in
    the central channel) also subscribed to the server.

    No event of its making is ever delivered: its on-commit callbacks are registered before any
    capture starts and are dropped with the test's transaction.
    """

    server: MessageServer
    channel: Channel
    message: Message
    alice: uuid.UUID
    bob: uuid.UUID
    agent: Agent


@pytest.fixture
def world(db: None) -> World:
    server = factories.make_server()
    alice = factories.make_user(name="Alice").id
    bob = factories.make_user(name="Bob").id
    channel = factories.make_channel(server_id=server.id, name="general", participant_ids=[alice])
    message = factories.make_message(channel_id=channel.id, author_id=alice, content="hello")
    agent = factories.make_agent(name="Eliza", server_ids=[server.id])
    return World(server=server, channel=channel, message=message, alice=alice, bob=bob, agent=agent)


STATE_MODELS: tuple[type[Model], ...] = (
    OutboxEvent,
    MessageServer,
    Entity,
    Channel,
    Participant,
    Message,
    Agent,
    ServerAgent,
    Memory,
    AgentRun,
    Session,
    Job,
)


def db_state() -> dict[str, list[dict[str, Any]]]:
    """Every domain row, as values, in a stable order: equal before and after a rollback."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values()) for model in STATE_MODELS
    }
